"""HTML building blocks: escaping, highlighting, tables, figures, the page shell, nbconvert.

Security model: every string that comes from a chat export (message text, customer and agent
names, order ids) is untrusted. It is masked (:mod:`csaudit.report.mask`) and then passed through
:func:`esc` before it reaches any HTML; highlights are inserted *between* escaped pieces, never
into raw text. Plotly figure data is embedded as JSON by plotly itself (which escapes ``<``), and
labels shown by plotly are escaped too (plotly interprets a small HTML subset in labels).

Self-contained pages: the notebooks emit figures without plotly.js; :func:`page` puts plotly.js
(from the installed plotly package) once into the ``<head>`` of each page, so a page opens offline
and carries the 4–5 MB library once, however many charts it has.
"""

from __future__ import annotations

import html as _html
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import pandas as pd

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


class Html:
    """A fragment of HTML that notebooks display as rich output (``_repr_html_``)."""

    def __init__(self, markup: str = ""):
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup

    def __add__(self, other: Html | str) -> Html:
        return Html(self.markup + str(other))

    def __bool__(self) -> bool:
        return bool(self.markup)


def esc(value: Any) -> str:
    """HTML-escape any value for text or attribute context (missing → empty string)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return _html.escape(str(value), quote=True)


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping union of ``(start, end)`` character spans."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def highlight(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` HTML-escaped with each ``[start, end)`` span wrapped in ``<mark>``.

    Offsets index ``text`` (masking is length-preserving, so offsets of the original text are valid
    for the masked one). A span outside the text means the audit is inconsistent: ``ValueError``.
    """
    text = "" if text is None else str(text)
    spans = [(int(s), int(e)) for s, e in spans]
    for s, e in spans:
        if not 0 <= s < e <= len(text):
            raise ValueError(f"hit offsets [{s}, {e}) outside a message of {len(text)} characters: {text[:40]!r}")
    parts: list[str] = []
    pos = 0
    for s, e in merge_spans(spans):
        parts.append(esc(text[pos:s]))
        parts.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    parts.append(esc(text[pos:]))
    return "".join(parts).replace("\n", "<br>")


def highlight_terms(text: str, terms: Iterable[str]) -> str:
    """``text`` escaped with every occurrence of each (non-empty) term marked (used in transcripts)."""
    text = "" if text is None else str(text)
    spans = []
    for t in {t for t in terms if isinstance(t, str) and t}:
        i = text.find(t)
        while i >= 0:
            spans.append((i, i + len(t)))
            i = text.find(t, i + len(t))
    return highlight(text, spans)


def _css_name(column: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]+", "_", str(column)).strip("_") or "col"


def table(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    headers: dict[str, str] | None = None,
    raw: Iterable[str] = (),
    css: str = "csa-table",
    attrs: dict[str, dict[str, str]] | None = None,
) -> str:
    """An HTML table. Every cell is escaped except the columns named in ``raw`` (already-safe HTML
    built by this module). ``attrs`` maps a column to per-value attributes (``{col: {"data-x": col2}}``)."""
    columns = list(columns if columns is not None else df.columns)
    headers = headers or {}
    raw = set(raw)
    head = "".join(f"<th>{esc(headers.get(c, c))}</th>" for c in columns)
    rows = []
    for rec in df[columns].itertuples(index=False, name=None) if len(df) else []:
        cells = []
        for c, v in zip(columns, rec, strict=True):
            content = (v if isinstance(v, str) else "") if c in raw else esc(v)
            cells.append(f'<td class="c-{_css_name(c)}">{content}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return f'<p class="csa-empty">{esc("(none)")}</p>'
    return f'<table class="{esc(css)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def figure(fig: Any, height: int = 380) -> str:
    """A plotly figure as a ``<div>`` + script WITHOUT plotly.js (the page provides it once)."""
    if fig.layout.height is None:
        fig.update_layout(height=height)
    fig.update_layout(margin={"l": 50, "r": 20, "t": 50, "b": 50}, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG)


def label(value: Any) -> str:
    """A string for a plotly label: escaped, because plotly renders a subset of HTML in labels."""
    return esc(value)


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


CSS = """
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --good:#1a7f37; --bad:#cf222e; --accent:#0969da; }
body { font-family: -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
       color: var(--fg); max-width: 1180px; margin: 0 auto; padding: 24px; line-height: 1.5; }
h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
.csa-meta { color: var(--muted); font-size: .9em; }
.csa-table { border-collapse: collapse; width: 100%; font-size: .9em; margin: 8px 0 16px; }
.csa-table th, .csa-table td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; text-align: left; }
.csa-table th { background: #f6f8fa; }
.csa-table td.c-text, .csa-table td.c-message { white-space: normal; word-break: break-word; min-width: 18em; }
mark { background: #ffe08a; padding: 0 1px; border-radius: 2px; }
.csa-kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px; }
.csa-kpi { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.csa-kpi .k-label { color: var(--muted); font-size: .85em; } .csa-kpi .k-value { font-size: 1.5em; font-weight: 600; }
.csa-kpi .k-cmp { font-size: .8em; color: var(--muted); }
.good { color: var(--good); } .bad { color: var(--bad); }
.csa-note { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
.csa-fail { background: #ffebe9; border: 1px solid var(--bad); border-radius: 6px; padding: 8px 12px; }
.csa-coach li { margin-bottom: 8px; }
.csa-transcript { border: 1px solid var(--line); border-radius: 8px; padding: 8px; margin: 8px 0 20px; }
.csa-turn { margin: 4px 0; padding: 4px 8px; border-radius: 6px; max-width: 85%; word-break: break-word; }
.csa-turn .t-who { color: var(--muted); font-size: .8em; }
.role-customer { background: #f6f8fa; } .role-agent { background: #ddf4ff; margin-left: auto; }
.role-auto_reply, .role-bot { background: #eef; margin-left: auto; } .role-system { color: var(--muted); font-size: .85em; }
.csa-empty { color: var(--muted); }
.jp-OutputPrompt, .jp-InputPrompt { display: none; }
"""

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
"""Content-Security-Policy of every page: nothing is loaded from anywhere, no requests are made."""


def page(title: str, body: str, plotly: bool = True, lang: str = "zh-CN") -> str:
    """A complete, self-contained HTML document (plotly.js inlined once when ``plotly``)."""
    js = f'<script type="text/javascript">{plotly_js()}</script>' if plotly else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{esc(lang)}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{js}</head>\n<body>\n{body}\n</body></html>\n"
    )


@lru_cache(maxsize=1)
def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True, exclude_markdown=True)


def notebook_body(nb: Any) -> str:
    """The outputs of an executed notebook as HTML: no code cells, prompts or markdown (nbconvert's
    ``basic`` template, so no CDN scripts or external styles; :func:`page` adds what is needed)."""
    body, _ = _exporter().from_notebook_node(nb)
    return body


def notebook_page(nb: Any, title: str) -> str:
    """An executed notebook as a self-contained page (see :func:`page`)."""
    return page(title, notebook_body(nb))
