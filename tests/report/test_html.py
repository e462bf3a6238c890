"""Escaping, highlighting and the self-contained page (csaudit/report/html.py)."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
import pytest

from csaudit.report.html import (
    csp,
    esc,
    figure,
    highlight,
    highlight_terms,
    merge_spans,
    page,
    table,
    write_assets,
)

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


def test_page_loads_plotly_by_relative_path_and_has_no_inline_script() -> None:
    figs = "".join(figure(go.Figure(go.Bar(x=[SCRIPT], y=[1]))) for _ in range(3))
    html = page("t <x>", figs, assets="../assets/")
    head, body = html.split("</head>")
    assert '<script src="../assets/plotly.min.js"></script>' in head and "../assets/csaudit.js" in head
    assert len(html) < 20_000  # no library inside the page
    assert "cdn.plot.ly" not in html and "http" not in body
    assert "<title>t &lt;x&gt;</title>" in html
    policy = csp()
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "connect-src 'none'" in policy
    # figures are JSON data (never executed) drawn by csaudit.js: no executable inline script at all
    scripts = re.findall(r"<script([^>]*)>", body)
    assert len(scripts) == 3 and all('type="application/json"' in s for s in scripts)
    assert SCRIPT not in body  # < is escaped in the JSON
    assert "style=" not in body


def test_write_assets_once_per_folder(tmp_path) -> None:
    d = write_assets(tmp_path)
    assert {p.name for p in d.iterdir()} == {"plotly.min.js", "csaudit.js", "csaudit.css"}
    assert (d / "plotly.min.js").stat().st_size > 1_000_000
    assert "'unsafe-inline'" not in (d / "csaudit.js").read_text(encoding="utf-8")
