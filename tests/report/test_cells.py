"""CSV formula injection (csaudit/report/cells.py): every CSV we write, and the workbook's cells."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from csaudit.cli import main
from csaudit.report.cells import FORMULA_CHARS, defuse, defuse_frame, is_formula_like, write_csv
from csaudit.report.excel import write_workbook

EVIL = '=HYPERLINK("http://x","y")'

# a sender with a colon is an agent, so a hostile "shop:account" name lands in the scorecard
CHAT = f"""\
buyer1 2026-11-10 10:00:00
在吗
{EVIL}:a 2026-11-10 10:00:20
亲，您好
-buyer2 2026-11-10 11:00:00
+1 有货吗
云栖家居:阿青 2026-11-10 11:00:30
@所有人 有的哦
"""


def csv_cells(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return [cell for row in csv.reader(f) for cell in row]


def assert_no_formula(cells: list[str]) -> None:
    bad = [c for c in cells if c.startswith(FORMULA_CHARS)]
    assert not bad, bad


@pytest.mark.parametrize("value", ["=1+1", "+86 138", "-_-", "@SUM(A1)", "\tx", "\rx", EVIL])
def test_defuse_prefixes_every_formula_start(value: str) -> None:
    assert is_formula_like(value)
    assert defuse(pd.Series([value, "ok"], dtype="str")).tolist() == ["'" + value, "ok"]


def test_defuse_frame_keeps_numbers_missing_and_the_caller_frame() -> None:
    df = pd.DataFrame({"a": pd.Series([EVIL, None, "好"], dtype="str"), "n": [-1, 2, 3],
                       "o": pd.Series(["-x", 5, None], dtype=object), "c": pd.Categorical(["=a", "b", "=a"])})
    before = df.copy()
    out = defuse_frame(df)
    pd.testing.assert_frame_equal(df, before)
    assert out["a"].iloc[0] == "'" + EVIL and pd.isna(out["a"].iloc[1]) and out["a"].iloc[2] == "好"
    assert out["n"].tolist() == [-1, 2, 3] and out["n"].dtype == "int64"
    assert out["o"].iloc[0] == "'-x" and out["o"].iloc[1] == 5
    assert out["c"].tolist() == ["'=a", "b", "'=a"] and isinstance(out["c"].dtype, pd.CategoricalDtype)


def test_write_csv_round_trip(tmp_path: Path) -> None:
    p = write_csv(pd.DataFrame({"agent": [EVIL, "云栖家居:阿青"], "x": [1.5, -2.0]}), tmp_path / "a.csv")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel/WPS keep Chinese intact
    back = pd.read_csv(p, encoding="utf-8-sig")
    assert back["agent"].tolist() == ["'" + EVIL, "云栖家居:阿青"] and back["x"].tolist() == [1.5, -2.0]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    p = tmp_path / "chat.txt"
    p.write_text(CHAT, encoding="utf-8")
    return p


def test_agents_csv_of_csaudit_audit_never_holds_a_formula(export: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    assert main(["audit", str(export), "-o", str(out)]) == 0
    capsys.readouterr()
    agents = pd.read_parquet(out / "agents.parquet")["agent"].tolist()
    assert f"{EVIL}:a" in agents  # the hostile name really is an agent
    cells = csv_cells(out / "agents.csv")
    assert "'" + f"{EVIL}:a" in cells
    assert_no_formula(cells)


def test_ingest_csv_outputs_never_hold_a_formula(export: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("=cmd|' /C calc'!A0\n@SUM(1)\n", encoding="utf-8")
    msgs, rej = tmp_path / "m.csv", tmp_path / "r.csv"
    main(["ingest", str(export), str(bad), "-o", str(msgs), "--rejects", str(rej)])
    capsys.readouterr()
    cells = csv_cells(msgs)
    assert "'+1 有货吗" in cells and "'@所有人 有的哦" in cells and "'-buyer2" in cells
    assert_no_formula(cells)
    rcells = csv_cells(rej)
    assert any("calc" in c for c in rcells)
    assert_no_formula(rcells)


def test_workbook_writes_chat_cells_as_text_never_formulas(tmp_path: Path) -> None:
    agents = pd.DataFrame({"agent": [EVIL, "+1", "@x"], "rank": [1, 2, 3]})
    hits = pd.DataFrame({"agent": [EVIL], "text": ["=1+1"], "term": ["=1"], "start": [0], "end": [2]})
    empty = pd.DataFrame()
    path = write_workbook(tmp_path / "a.xlsx", agents, hits, empty, empty)
    with zipfile.ZipFile(path) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")]
    assert sheets and not any("<f>" in x or "<f " in x for x in sheets)
    assert any(EVIL.replace('"', "&quot;") in x or EVIL in x for x in sheets)
    import openpyxl

    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert {c.data_type for c in cells} == {"s"}
    assert EVIL in {c.value for c in cells}
