"""The house plan of the code: no import circle anywhere, and no web framework in the
domain.

The import graph is read from the source (every `import`, at module level, inside a
function or under `TYPE_CHECKING`: a circle hidden behind any of them is still a
circle to whoever reads or changes the code).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("smsbank", "webhooks", "capture_page")
# The web layer: the only modules of `smsbank` that may import Quart. Everything else
# is domain code, called by the web layer and by the CLI alike.
WEB_LAYER = ("smsbank.app", "smsbank.http", "smsbank.devphone", "smsbank.api")
WEB_FRAMEWORKS = ("quart", "quart_schema")


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of `packages` under `root`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name `module` imports (`from a import b` gives `a` and `a.b`)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name resolves to its longest known
    module prefix; a package's import of its own parent is no edge)."""

    def owner(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in found.items():
        targets = {owner(name) for name in imported_names(module, path)}
        graph[module] = {
            target
            for target in targets
            if target is not None and target != module and not module.startswith(target + ".")
        }
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle
    (strongly connected components of more than one module, or one importing itself)."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                lowest[module] = min(lowest[module], lowest[target])
            elif target in on_stack:
                lowest[module] = min(lowest[module], index[target])
        if lowest[module] == index[module]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.get(module, ()):
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = import_graph(modules(PROJECT, PACKAGES))
    assert len(graph) > 50  # the walk really read the project
    assert import_cycles(graph) == []


def test_the_domain_does_not_import_the_web_framework() -> None:
    found = modules(PROJECT, ("smsbank",))
    offenders = {
        module: sorted(
            name for name in imported_names(module, path) if name.split(".")[0] in WEB_FRAMEWORKS
        )
        for module, path in found.items()
        if not any(module == web or module.startswith(web + ".") for web in WEB_LAYER)
    }
    assert {module: names for module, names in offenders.items() if names} == {}
    # The web layer itself is where Quart is: the check reads the imports it claims to.
    assert any(
        name.startswith("quart") for name in imported_names("smsbank.app", found["smsbank.app"])
    )


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ({"a.py": "from pkg import b\n", "b.py": "import pkg.a\n"}, [["pkg.a", "pkg.b"]]),
        (
            {
                "a.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.b import X\n",
                "b.py": "def f():\n    from . import c\n",
                "c.py": "from .a import Y\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
        ({"a.py": "from pkg import b\n", "b.py": "import os\n"}, []),
    ],
    ids=["direct", "round-three-hidden", "none"],
)
def test_the_check_finds_a_circle_however_it_is_written(
    tmp_path: Path, sources: dict[str, str], expected: list[list[str]]
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in sources.items():
        (package / name).write_text(source)
    assert import_cycles(import_graph(modules(tmp_path, ("pkg",)))) == expected


# A write to the conversation row: through the ORM or in SQL.
CONVERSATION_WRITE = re.compile(
    r"Conversation\s*\.\s*(create|filter|get_or_create|update_or_create|bulk_create|bulk_update)\b"
    r"|\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+conversation\b"
)
# `filter(...)` is a write only when it ends in an update or delete.
CONVERSATION_CHAIN = re.compile(r"Conversation\s*\.\s*filter\([^)]*\)\s*\.\s*(update|delete)\(")


def conversation_writes(source: str) -> list[str]:
    found = [m.group(0) for m in CONVERSATION_WRITE.finditer(source) if "filter" not in m.group(0)]
    return found + [m.group(0) for m in CONVERSATION_CHAIN.finditer(source)]


def test_the_conversation_row_has_one_writer() -> None:
    writers = {
        module: writes
        for module, path in modules(PROJECT, PACKAGES).items()
        if (writes := conversation_writes(path.read_text()))
    }
    assert set(writers) == {"smsbank.sms.conversation_row"}


def test_the_writer_check_sees_a_write() -> None:
    assert conversation_writes("await Conversation.filter(id=1).update(state=s)")
    assert conversation_writes("await Conversation.create(customer_id=1)")
    assert conversation_writes('sql = "UPDATE conversation SET state = ?"')
    assert not conversation_writes("await Conversation.get_or_none(customer_id=1)")
    assert not conversation_writes("await Conversation.filter(customer_id=1).first()")
