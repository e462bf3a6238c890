"""Escaping, highlighting and the self-contained page (csaudit/report/html.py)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from csaudit.report.html import esc, figure, highlight, highlight_terms, merge_spans, page, table

SCRIPT = "<script>alert(1)</script>"


def test_highlight_escapes_and_marks() -> None:
    text = f"{SCRIPT}我不能保证"
    out = highlight(text, [(len(SCRIPT), len(SCRIPT) + 3)])
    assert "<script>" not in out
    assert out == "&lt;script&gt;alert(1)&lt;/script&gt;<mark>我不能</mark>保证"


def test_highlight_merges_overlaps_and_keeps_newlines() -> None:
    assert merge_spans([(5, 7), (0, 2), (1, 3)]) == [(0, 3), (5, 7)]
    assert highlight("ab\ncd", [(0, 1)]) == "<mark>a</mark>b<br>cd"
    assert highlight_terms("你自己看<b>你自己看", ["你自己看"]).count("<mark>") == 2


@pytest.mark.parametrize("span", [(-1, 2), (3, 2), (0, 99)])
def test_highlight_rejects_offsets_outside_the_text(span: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="outside"):
        highlight("短消息", [span])


def test_table_escapes_everything_but_raw_columns() -> None:
    df = pd.DataFrame({"a": [SCRIPT], "b": ["<mark>ok</mark>"], "c": [None]})
    out = table(df, raw=["b"])
    assert SCRIPT not in out and esc(SCRIPT) in out and "<mark>ok</mark>" in out
    assert "(none)" in table(df.head(0))


def test_page_bundles_plotly_once_and_loads_nothing() -> None:
    figs = "".join(figure(go.Figure(go.Bar(x=[SCRIPT], y=[1]))) for _ in range(3))
    html = page("t <x>", figs)
    assert html.count("<script type=\"text/javascript\">") == 1  # plotly.js once
    assert "plotly.js v" in html or "Plotly" in html
    assert "cdn.plot.ly" not in html.split("</head>")[1]
    assert "<title>t &lt;x&gt;</title>" in html
    assert "connect-src 'none'".replace("'", "&#x27;") in html
    assert SCRIPT not in html.split("</head>")[1]  # plotly escapes < in its JSON
