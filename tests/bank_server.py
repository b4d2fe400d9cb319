"""Starting the bank for a test that talks to it over HTTP: the one helper.

Two ways to run it, one way to wait for it:

- `ServerThread`: `create_app(settings)` served by hypercorn in a thread of the test's
  process, with its own event loop (browser tests; a warmed face engine handed in).
- `BankProcess`: `smsbank serve` (or any command) in a process group of its own, as it
  is deployed; `kill()` takes the whole bank down at once, as an out-of-memory killer
  would, and `start()` serves again on the same database. `live_server` wraps it for
  a test that needs a served bank for its duration.
- `wait_until_up`: polls a URL until it answers 200, failing at once when the server
  died; async, so a fake Twilio served by the test's own loop keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config

from smsbank.app import create_app
from smsbank.components import Services
from smsbank.core.settings import Settings
from smsbank.faces.service import FaceService
from tests.fake_twilio import free_port

SMSBANK = [sys.executable, "-m", "smsbank"]
START_TIMEOUT_SECONDS = 90.0


def _answers(url: str, tls: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=tls) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def wait_until_up(
    url: str,
    *,
    died: Callable[[], BaseException | None] = lambda: None,
    within: float = START_TIMEOUT_SECONDS,
    ca: Path | None = None,
) -> None:
    """Wait until `url` answers 200; `died()` names why the server cannot come up
    (raised at once), `ca` the authority of an https server's certificate."""
    tls = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        failure = died()
        if failure is not None:
            raise failure
        if await asyncio.to_thread(_answers, url, tls):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {within}s")


def wait_until_up_blocking(url: str, **options: object) -> None:
    """`wait_until_up` for a test without an event loop of its own."""
    asyncio.run(wait_until_up(url, **options))  # type: ignore[arg-type]


class ServerThread(threading.Thread):
    """`create_app(settings)` served by hypercorn in this thread's own event loop;
    `faces` hands in an already warmed face engine (the session's shared one).

    The test prepares the database before the server starts and from then on talks to
    the bank only over HTTP, so the two event loops never share a database connection.
    """

    def __init__(self, settings: Settings, faces: FaceService | None = None) -> None:
        super().__init__(name="hypercorn-test-server", daemon=True)
        self.settings = settings
        self.faces = faces
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # re-raised in the test by stop() or wait_until_up
            self.failure = exc

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        config = Config()
        config.bind = [f"127.0.0.1:{self.settings.port}"]
        config.accesslog = None
        config.graceful_timeout = 5
        services = (
            Services(settings=self.settings, face=self.faces) if self.faces is not None else None
        )
        app = create_app(self.settings, services=services)
        await serve(app, config, shutdown_trigger=self.stopping.wait)

    async def wait_until_up(self, base: str) -> None:
        await wait_until_up(base + "/healthz", died=lambda: self.failure, within=30.0)

    def stop(self) -> None:
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=30)
        assert not self.is_alive(), "the test server did not stop"
        if self.failure is not None:
            raise self.failure


class BankProcess:
    """One bank deployment: the same environment for every start, a new process each time.

    `command` is what serves (by default `smsbank serve`), started with `{port}` filled
    in; `ready_path` what must answer 200 before a start returns (`/readyz`: the face
    engine is warm too; `/healthz`: the app answers).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        *,
        workers: int = 1,
        ready_path: str = "/readyz",
        command: Sequence[str] | None = None,
        scheme: str = "http",
        ca: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        # `environ`: what `env` is laid over (this process's environment by default).
        self.environ = dict(os.environ if environ is None else environ)
        self.env = dict(env)
        self.workdir = workdir
        self.command = list(command or [*SMSBANK, "serve", "--workers", str(workers)])
        self.ready_path = ready_path
        self.scheme = scheme
        self.ca = ca
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    def migrate(self) -> None:
        """`smsbank migrate` on the bank's database, before it first serves."""
        env = {**self.environ, **self.env}
        subprocess.run([*SMSBANK, "migrate"], env=env, cwd=self.workdir, check=True, timeout=120)

    async def start(self, port: int | None = None) -> str:
        """Serve (on `port`, else a fresh one) and wait until ready; returns the base URL."""
        assert self.process is None, "already running"
        port = port or free_port()
        self.process = self._spawn(port)
        self.base = f"{self.scheme}://127.0.0.1:{port}"
        await wait_until_up(self.base + self.ready_path, died=self._died, ca=self.ca)
        return self.base

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        self.starts += 1
        env = {**self.environ, **self.env, "SMSBANK_HOST": "127.0.0.1", "SMSBANK_PORT": str(port)}
        command = [part.replace("{port}", str(port)) for part in self.command]
        with (self.workdir / f"server-{self.starts}.log").open("wb") as log:
            return subprocess.Popen(
                command,
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for kill()
            )

    def _died(self) -> BaseException | None:
        if self.process is not None and self.process.poll() is None:
            return None
        return AssertionError(f"the bank exited at start:\n{self.log_text()}")

    async def kill(self) -> None:
        """SIGKILL the whole process group, and wait until the leader is gone."""
        process, self.process = self.process, None
        assert process is not None, "not running"
        os.killpg(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
        assert process.returncode == -signal.SIGKILL
        # The group's other members were killed by the same signal; give the reaper a
        # moment so none of them is still listed (a killed process runs no more code).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """End a bank that is still running at the end of a test (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:]
            for path in sorted(self.workdir.glob("server-*.log"))
        )


@contextmanager
def live_server(env: dict[str, str], workdir: Path, workers: int = 1) -> Iterator[str]:
    """Migrate, then serve `smsbank serve` with these settings; yields the base URL."""
    bank = BankProcess(
        {"SMSBANK_LOG_LEVEL": "WARNING", **env}, workdir, workers=workers, ready_path="/healthz"
    )
    bank.migrate()
    try:
        yield asyncio.run(bank.start())
    finally:
        bank.stop()


@asynccontextmanager
async def serving(settings: Settings, faces: FaceService | None = None) -> AsyncIterator[str]:
    """The bank served by a `ServerThread` for the block; yields its base URL."""
    server = ServerThread(settings, faces)
    server.start()
    try:
        await server.wait_until_up(settings.base_url)
        yield settings.base_url
    finally:
        server.stop()
