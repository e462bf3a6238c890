"""The audit workbook (csaudit/report/excel.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd

from csaudit.report.data import read_table
from csaudit.report.excel import SHEETS, capped_rows, sheet_names, write_audit_workbook

from .conftest import A1, PHONE, SCRIPT


def test_workbook_sheets_rows_and_text(tiny_audit: Path, tmp_path: Path) -> None:
    hits = read_table(tiny_audit, "hits")
    # a message that looks like a formula must stay text
    d = tmp_path / "audit"
    shutil.copytree(tiny_audit, d)
    hits.loc[len(hits)] = hits.iloc[0]
    hits.loc[len(hits) - 1, "text"] = '=HYPERLINK("http://x","y")'
    hits.loc[len(hits) - 1, "start"] = pd.NA
    hits.loc[len(hits) - 1, "end"] = pd.NA
    hits.to_parquet(d / "hits.parquet", index=False)

    path = write_audit_workbook(d, tmp_path / "audit.xlsx")
    wb = openpyxl.load_workbook(path)
    names = sheet_names("zh")
    assert wb.sheetnames[:6] == [names[k] for k in SHEETS] == ["客服评分", "问题明细", "未回复顾客", "流失询单", "规则复核", "定义"]
    sc, hs = wb["客服评分"], wb["问题明细"]
    assert sc.max_row == 1 + 3
    # politeness hits (greeting) stay counts in the scorecard: 5 hits − 1 greeting
    assert hs.max_row == 1 + len(hits) - 1
    assert "问候语" not in {c.value for c in hs["F"]}
    head = [c.value for c in sc[1]]
    assert head[:5] == ["客服", "排名", "质检得分", "质检得分(不计红线)", "响应得分"]  # who, rank, scores first
    assert "平均响应(平响) (秒)" in head and "负面用语" in head  # negative_hits, in Chinese
    assert sc.freeze_panes == "B2" and sc.auto_filter.ref.startswith("A1:")
    score = {r[0].value: r for r in sc.iter_rows(min_row=2)}
    assert A1 in score  # Chinese intact
    col = {h: i for i, h in enumerate(head)}
    reply = score[A1][col["回复率"]]
    assert reply.value == 1.0 and reply.number_format == "0.0%"
    assert score[A1][col["平均响应(平响) (秒)"]].number_format == "0.0"
    hit_head = [c.value for c in hs[1]]
    assert hit_head[0] == "客服" and "消息内容" in hit_head
    text_col = hit_head.index("消息内容")
    texts = [r[text_col].value for r in hs.iter_rows(min_row=2)]
    assert '=HYPERLINK("http://x","y")' in texts
    formula_cell = next(r[text_col] for r in hs.iter_rows(min_row=2) if r[text_col].value == '=HYPERLINK("http://x","y")')
    assert formula_cell.data_type == "s"
    un = [c.value for c in wb["未回复顾客"][2]]
    assert un[0] == A1  # agent first
    assert any(isinstance(v, str) and "138****5678" in v for v in un) and PHONE not in str(un)
    lost = [c.value for c in wb["流失询单"][2]]
    assert any(isinstance(v, str) and SCRIPT in v for v in lost)  # text cells hold the text as is
    defs = {r[0].value: r[1].value for r in wb["定义"].iter_rows(min_row=2)}
    assert {"qa_score", "reply_rate", "timestamps"} <= set(defs) and defs["qa_score"] == "质检得分"
    # timestamps are local wall-clock times
    start = next(v for v in un if hasattr(v, "hour"))
    assert (start.hour, start.minute) == (12, 0)


def test_workbook_in_english_and_unmasked(tiny_audit: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_audit_workbook(tiny_audit, tmp_path / "a.xlsx", mask=False, lang="en"))
    assert wb.sheetnames == list(SHEETS)
    assert any(PHONE in str(c.value) for c in wb["unreplied"][2])
    assert [c.value for c in wb["scorecard"][1]][:3] == ["agent", "rank", "QA score"]


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
    assert list(d.columns) == ["item", "name", "dtype", "unit", "definition"]
    assert rows["reply_rate"].definition == plain(AGENTS.column("reply_rate").definition)
    assert rows["reply_rate"].definition.startswith("回复率") and rows["reply_rate"].unit == "0–1"
    assert "rate_thresholds_s" in rows["within_45s_rate"].definition
    assert rows["shipping_hits"].unit == "count"
    assert rows["hits.start"].dtype == "Int64" and "offset" in rows["hits.start"].definition
    assert rows["mystery"].definition == "(not declared)" and "mystery" in caplog.text
    assert "`" not in "".join(d["definition"])  # plain text in Excel


def test_a_sheet_that_would_pass_excels_row_limit_is_cut_with_a_note() -> None:
    df = pd.DataFrame({"a": range(20)})
    cut, note = capped_rows(df, "zh", limit=12)
    assert len(cut) == 10 and "20" in note and "10" in note
    same, none = capped_rows(df, "zh", limit=100)
    assert len(same) == 20 and none == ""
