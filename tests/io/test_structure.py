"""The io package's structure (DESIGN §2): one Reader interface, a registry, shared helpers in
csaudit.io.common, and no import cycle between its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import csaudit.io as io_pkg
from csaudit.io import registry
from csaudit.io.base import Parsed, RawFile, ReadContext, Reader

IO_DIR = Path(io_pkg.__file__).parent


def _imports(path: Path) -> set[str]:
    """``csaudit.io`` modules that ``path`` imports anywhere (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("csaudit.io"):
            if node.module == "csaudit.io":
                found |= {f"csaudit.io.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("csaudit.io.")}
    return found


def test_no_import_cycles_between_io_modules():
    graph = {f"csaudit.io.{p.stem}": _imports(p) for p in IO_DIR.glob("*.py") if p.stem != "__init__"}
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(mod: str, path: list[str]) -> None:
        seen[mod] = 1
        for dep in sorted(graph.get(mod, ())):
            assert seen.get(dep) != 1, f"import cycle: {' -> '.join([*path, mod, dep])}"
            if dep not in seen:
                visit(dep, [*path, mod])
        seen[mod] = 2

    for mod in sorted(graph):
        if mod not in seen:
            visit(mod, [])
    assert "csaudit.io.table" not in graph["csaudit.io.orders"]  # the orders <-> table cycle is gone
    assert "csaudit.io.chats" not in graph["csaudit.io.detect"]  # and chats <-> detect


def test_every_registered_reader_satisfies_the_interface_and_returns_parsed():
    regs = registry.readers()
    assert list(regs) == ["qianniu-text", "qianniu-web", "qianniu-json", "wecom-kf", "table"]
    raw = RawFile("x.txt", "jojo 2026-11-09 10:00:00\n在吗\n".encode())
    for name, mod in regs.items():
        assert isinstance(mod, Reader) and mod.NAME == name
        out = mod.parse(raw, ReadContext()) if name == "qianniu-text" else None
        if out is not None:
            assert isinstance(out, Parsed) and out.messages["text"].tolist() == ["在吗"]
        if hasattr(mod, "parse_arrow"):
            fast = mod.parse_arrow(raw, ReadContext())
            assert isinstance(fast, Parsed)  # one output type, Arrow tables inside
            assert fast.to_pandas().messages.columns.tolist() == list(mod.parse(raw, ReadContext()).messages.columns)


def test_shared_helpers_live_in_common_not_in_the_table_reader():
    from csaudit.io import common, table

    for name in ("CHAT_HEADERS", "ORDER_HEADERS", "read_grid", "parse_times", "records_frame", "match_headers"):
        assert hasattr(common, name)
    assert "def read_grid" not in Path(table.__file__).read_text(encoding="utf-8")
    assert "def parse_times" not in Path(table.__file__).read_text(encoding="utf-8")
