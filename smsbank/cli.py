"""The `smsbank` command: serve, migrate, keys, customers, demo.

Each command reads the same settings as the server (environment + `.env` in the
working directory) and works from any directory once installed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click

from smsbank.core.settings import Settings, SettingsError, served_host
from smsbank.texts.i18n import DEFAULT_LANGUAGE, LANGUAGES

T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def run_with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` with the database connected, for one-shot commands."""
    from smsbank.core.db import close_db, init_db

    async def runner() -> T:
        await init_db(settings)
        try:
            return await work()
        finally:
            await close_db()

    return asyncio.run(runner())


@click.group()
def main() -> None:
    """SMS Bank: banking by text message, withdrawals approved by code and selfie."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default SMSBANK_HOST).")
@click.option("--port", type=int, default=None, help="Port (default SMSBANK_PORT).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the bank with hypercorn (Ctrl-C stops it)."""
    from hypercorn.config import Config
    from hypercorn.run import run

    from smsbank.core.logs import configure_logging

    # The workers are fresh processes that read their settings from the environment:
    # the address chosen here must reach them, or their links would name another port.
    if host is not None:
        os.environ["SMSBANK_HOST"] = host
    if port is not None:
        os.environ["SMSBANK_PORT"] = str(port)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    ensure_port_free(settings.host, settings.port)
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.workers = max(1, workers)
    config.application_path = "smsbank.app:serve_app()"
    config.accesslog = None
    config.graceful_timeout = 10
    click.echo(
        f"SMS Bank serving on http://{served_host(settings.host)}:{settings.port} with "
        f"{config.workers} worker(s); Ctrl-C stops it"
    )
    with metrics_dir_for_workers():
        status = run(config)
    sys.exit(status)


@contextmanager
def metrics_dir_for_workers() -> Iterator[Path]:
    """Where the serving workers keep their metrics, empty as they start (GET /metrics).

    prometheus_client's multiprocess mode: each worker writes its own file there and a
    scrape adds them all up. It is `PROMETHEUS_MULTIPROC_DIR` when the operator chose
    one (a previous run's files removed: they would add old counts to the new), else a
    temporary directory this command owns and removes when the server stops. Exported
    before any worker starts: each must import prometheus_client with it set.
    """
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="smsbank-metrics-") as owned:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = owned
        try:
            yield Path(owned)
        finally:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def ensure_port_free(host: str, port: int) -> None:
    """Refuse in one line, naming the setting, when another program holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will bind: a port left in TIME_WAIT by a stopped bank is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = (
                "is already in use"
                if exc.errno == errno.EADDRINUSE
                else f"cannot be used ({exc.strerror})"
            )
            raise click.ClickException(
                f"port {port} on {host} {reason}: set SMSBANK_PORT to another port "
                f"(make run PORT=5001, or smsbank serve --port 5001)"
            ) from None


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    from smsbank.core.db import apply_migrations, database_label

    settings = load_settings()
    applied = asyncio.run(apply_migrations(settings))
    label = database_label(settings.database_url)
    if applied:
        click.echo(f"applied {len(applied)} migration(s) to {label}: {', '.join(applied)}")
    else:
        click.echo(f"{label} is up to date")


@main.command()
def check() -> None:
    """Before go-live: settings, database, face model, public URL and Twilio, one line
    each (PASS / WARN / FAIL and what to do); exits 1 when anything failed."""
    from smsbank.ops.preflight import FAIL, Finding, run_checks

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        click.echo(Finding(FAIL, "settings", f"{exc}").line())
        sys.exit(1)

    def report(finding: Finding) -> None:
        click.echo(finding.line())

    findings = asyncio.run(run_checks(settings, report))
    failed = sum(finding.verdict == FAIL for finding in findings)
    if failed:
        click.echo(f"{failed} check(s) failed: not ready for customers")
        sys.exit(1)
    click.echo(
        "ready: every check passed"
        + (" (see the warnings)" if any(finding.verdict != "PASS" for finding in findings) else "")
    )


@main.command()
@click.option("--name", default="update", show_default=True)
def makemigrations(name: str) -> None:
    """(Developers) write migrations for model changes, for SQLite and PostgreSQL."""
    from smsbank.core.db import write_model_changes

    # Offline: neither URL is connected to; they only pick the SQL dialect.
    for url in ("sqlite://:memory:", "postgres://offline@127.0.0.1:1/offline"):
        created = asyncio.run(write_model_changes(url, name=name))
        family = url.split(":", 1)[0]
        click.echo(f"{family}: wrote {created}" if created else f"{family}: no model changes")


@main.command("extract-messages")
def extract_messages() -> None:
    """(Developers) update smsbank/texts/locale: the .pot from the code, and every .po from it."""
    from smsbank.texts.catalog_tools import write_catalogs

    for path in write_catalogs():
        click.echo(f"wrote {path}")


@main.command("create-api-key")
@click.argument("name")
def create_api_key_command(name: str) -> None:
    """Create a staff API key; it is printed once and never shown again."""
    from smsbank.api.apikeys import create_api_key

    settings = load_settings()
    _, key = run_with_db(settings, lambda: create_api_key(name))
    click.echo(key)


@main.command("add-customer")
@click.option("--name", required=True)
@click.option("--phone", required=True)
@click.option("--photo", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--deposit", default=None, help="Opening deposit, e.g. 100.00")
@click.option(
    "--language",
    type=click.Choice(LANGUAGES, case_sensitive=False),
    default=DEFAULT_LANGUAGE.value,
    show_default=True,
    help="What the bank writes and says to the customer in.",
)
def add_customer(
    name: str, phone: str, photo: str | None, deposit: str | None, language: str
) -> None:
    """Open an account (optionally enrolling a face photo and an opening deposit)."""
    from smsbank.core.customers import create_customer, customer_json
    from smsbank.core.errors import BankError
    from smsbank.core.money import InvalidAmount, parse_amount
    from smsbank.core.phones import InvalidPhone, normalize_phone

    settings = load_settings()
    try:
        e164 = normalize_phone(phone, settings.default_region)
        amount: Decimal | None = parse_amount(deposit) if deposit is not None else None
    except (InvalidPhone, InvalidAmount) as exc:
        raise click.ClickException(str(exc)) from exc
    photo_bytes = None
    if photo is not None:
        with open(photo, "rb") as handle:
            photo_bytes = handle.read()

    async def work() -> dict[str, Any]:
        if photo_bytes is not None:
            # All or nothing: a photo without a usable face opens no account.
            customer = await _create_with_photo(settings, name, e164, photo_bytes, amount, language)
        else:
            customer = await create_customer(
                name,
                e164,
                currency=settings.currency,
                initial_deposit=amount,
                language=language,
                actor="cli",
            )
        return customer_json(customer)

    try:
        result = run_with_db(settings, work)
    except BankError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"customer {result['id']}: {result['name']} {result['phone']} "
        f"account {result['account_number']} balance {result['balance']} "
        f"face enrolled: {'yes' if result['face_enrolled'] else 'no'} "
        f"language: {result['language']}"
    )


async def _create_with_photo(
    settings: Settings,
    name: str,
    phone: str,
    photo: bytes,
    deposit: Decimal | None,
    language: str,
) -> Any:
    """Open an account with an enrolled face (the face engine runs in this process)."""
    from smsbank.faces.enrolment import create_customer_with_photo

    return await create_customer_with_photo(
        settings,
        name=name,
        phone=phone,
        photo=photo,
        initial_deposit=deposit,
        actor="cli",
        language=language,
    )


@main.command("import-customers")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--photos",
    "photos_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder the CSV's photo file names are relative to (default: the CSV's folder).",
)
def import_customers(csv_file: str, photos_dir: str | None) -> None:
    """Open accounts from a CSV with columns name, phone[, deposit][, photo][, language].

    Each row stands alone: a bad row is reported and skipped, the others are imported.
    Exits with status 1 when any row failed.
    """
    from tqdm import tqdm

    from smsbank.faces.importer import ImportRow, import_rows, read_rows

    settings = load_settings()
    try:
        rows = read_rows(csv_file, photos_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    with tqdm(total=len(rows), unit="customer", desc="importing") as progress:

        def advance(row: ImportRow, error: str | None) -> None:
            if error is not None:
                tqdm.write(f"line {row.line}: {error}", file=sys.stderr)
            progress.update(1)

        summary = run_with_db(settings, lambda: import_rows(settings, rows, advance))
    click.echo(f"imported {summary.imported} customer(s); {summary.failed} row(s) failed")
    if summary.failed:
        sys.exit(1)


@main.command()
def demo() -> None:
    """Create a demo customer if the database is empty and print where to start."""
    from smsbank.ops.demo import ensure_demo

    settings = load_settings()
    lines = run_with_db(settings, lambda: ensure_demo(settings))
    for line in lines:
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
