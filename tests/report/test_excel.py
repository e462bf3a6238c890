"""The audit workbook (csaudit/report/excel.py)."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from csaudit.report.data import read_table
from csaudit.report.excel import SHEETS, write_audit_workbook

from .conftest import PHONE, SCRIPT


def test_workbook_sheets_rows_and_text(tiny_audit: Path, tmp_path: Path) -> None:
    hits = read_table(tiny_audit, "hits")
    # a message that looks like a formula must stay text
    import pandas as pd

    d = tmp_path / "audit"
    import shutil

    shutil.copytree(tiny_audit, d)
    hits.loc[len(hits)] = hits.iloc[0]
    hits.loc[len(hits) - 1, "text"] = '=HYPERLINK("http://x","y")'
    hits.loc[len(hits) - 1, "start"] = pd.NA
    hits.loc[len(hits) - 1, "end"] = pd.NA
    hits.to_parquet(d / "hits.parquet", index=False)

    path = write_audit_workbook(d, tmp_path / "audit.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    assert wb["scorecard"].max_row == 1 + 3
    assert wb["hits"].max_row == 1 + len(hits)
    assert wb["unreplied"].max_row == 2 and wb["lost_inquiries"].max_row == 2
    score = {r[0].value: r for r in wb["scorecard"].iter_rows(min_row=2)}
    assert "云栖家居:阿青" in score  # Chinese intact
    texts = [c.value for c in wb["hits"]["L"][1:]]  # column L = text
    assert '=HYPERLINK("http://x","y")' in texts
    formula_cell = next(c for c in wb["hits"]["L"] if c.value == '=HYPERLINK("http://x","y")')
    assert formula_cell.data_type == "s"
    un = [c.value for c in wb["unreplied"][2]]
    assert any(isinstance(v, str) and "138****5678" in v for v in un) and PHONE not in str(un)
    lost = [c.value for c in wb["lost_inquiries"][2]]
    assert any(isinstance(v, str) and SCRIPT in v for v in lost)  # text cells hold the text as is
    defs = {r[0].value for r in wb["definitions"].iter_rows(min_row=2)}
    assert {"qa_score", "reply_rate", "timestamps"} <= defs
    # timestamps are local wall-clock times
    start = wb["unreplied"]["D"][1].value
    assert (start.hour, start.minute) == (12, 0)


def test_workbook_unmasked(tiny_audit: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_audit_workbook(tiny_audit, tmp_path / "a.xlsx", mask=False))
    assert any(PHONE in str(c.value) for c in wb["unreplied"][2])


def test_definitions_come_from_the_declared_contracts(caplog) -> None:
    """Not from README.md (a wheel has none): every column of every data sheet, patterns included."""
    import pandas as pd

    from csaudit.model.contracts import AGENTS, plain
    from csaudit.report.excel import definitions

    agents = pd.DataFrame(columns=["agent", "reply_rate", "within_45s_rate", "shipping_hits", "mystery"])
    hits = pd.DataFrame(columns=["term", "start"])
    with caplog.at_level("WARNING", logger="csaudit.report.excel"):
        d = definitions(agents, "Asia/Shanghai", {"preset": "taobao"}, {"hits": hits})
    rows = {r.item: r for r in d.itertuples(index=False)}
    assert list(d.columns) == ["item", "dtype", "unit", "definition"]
    assert rows["reply_rate"].definition == plain(AGENTS.column("reply_rate").definition)
    assert rows["reply_rate"].definition.startswith("回复率") and rows["reply_rate"].unit == "0–1"
    assert "rate_thresholds_s" in rows["within_45s_rate"].definition
    assert rows["shipping_hits"].unit == "count"
    assert rows["hits.start"].dtype == "Int64" and "offset" in rows["hits.start"].definition
    assert rows["mystery"].definition == "(not declared)" and "mystery" in caplog.text
    assert "`" not in "".join(d["definition"])  # plain text in Excel
