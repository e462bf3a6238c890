"""HTML building blocks: escaping, highlighting, tables, figures, the page shell, nbconvert.

Security model: every string that comes from a chat export (message text, customer and agent
names, order ids) is untrusted. It is masked (:mod:`csaudit.report.mask`) and then passed through
:func:`esc` before it reaches any HTML; highlights are inserted *between* escaped pieces, never
into raw text. Plotly figure data is embedded as JSON by plotly itself (which escapes ``<``), and
labels shown by plotly are escaped too (plotly interprets a small HTML subset in labels).

Light, offline pages: plotly.js (from the installed plotly package), our small script
(``assets/csaudit.js``: figures, table filter/sort, contents bar) and the stylesheet are written ONCE
per report folder by :func:`write_assets` and loaded by relative path (``assets/…`` from
``index.html``, ``../assets/…`` from ``agents/*.html``), so pages open from disk without a network
and carry no library. A figure is a ``<div>`` plus its JSON in a ``<script type="application/json">``
(data, never executed); ``csaudit.js`` draws it. So no page has an inline script or style, and the
Content-Security-Policy (:func:`csp`) allows scripts and styles from the report folder only — no
``'unsafe-inline'``; the one hash it lists is that of the empty ``<style>`` element plotly.js
creates to insert its rules through the CSSOM.
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import math
import re
import shutil
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
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


WIDE_COLUMNS = frozenset({"text", "message"})
"""Columns of chat text: their cells get a class (``c-text``/``c-message``) that lets them wrap wide."""

FILTER_MIN_ROWS = 15
"""Tables with at least this many rows get a filter box (``csaudit.js``); every table sorts by a click on a header."""


def table(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    headers: dict[str, str] | None = None,
    raw: Iterable[str] = (),
    css: str = "csa-table",
    attrs: dict[str, dict[str, str]] | None = None,
    empty: str = "(none)",
    table_id: str = "",
) -> str:
    """An HTML table. Every cell is escaped except the columns named in ``raw`` (already-safe HTML
    built by this module). ``attrs`` maps a column to per-value attributes (``{col: {"data-x": col2}}``).
    Long tables (:data:`FILTER_MIN_ROWS`) are marked ``data-filter`` for the filter box."""
    columns = list(columns if columns is not None else df.columns)
    headers = headers or {}
    raw = set(raw)
    head = "".join(f"<th>{esc(headers.get(c, c))}</th>" for c in columns)
    rows = []
    for rec in df[columns].itertuples(index=False, name=None) if len(df) else []:
        cells = []
        for c, v in zip(columns, rec, strict=True):
            content = (v if isinstance(v, str) else "") if c in raw else esc(v)
            cells.append(f'<td class="c-{_css_name(c)}">{content}</td>' if c in WIDE_COLUMNS else f"<td>{content}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return f'<p class="csa-empty">{esc(empty)}</p>'
    flt = ' data-filter="1"' if len(rows) >= FILTER_MIN_ROWS else ""
    tid = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<table class="{esc(css)}"{tid}{flt}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


_JSON_ESC = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def figure(fig: Any, height: int = 380) -> str:
    """A plotly figure as an empty ``<div>`` plus its JSON (``<script type="application/json">``, which
    the browser never executes); ``assets/csaudit.js`` draws it with the folder's plotly.js."""
    if fig.layout.height is None:
        fig.update_layout(height=height)
    fig.update_layout(margin={"l": 50, "r": 20, "t": 50, "b": 50}, plot_bgcolor="#fff", paper_bgcolor="#fff",
                      font={"family": "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif"})
    fig.update_xaxes(gridcolor="#eaeef2", zerolinecolor="#d0d7de")
    fig.update_yaxes(gridcolor="#eaeef2", zerolinecolor="#d0d7de")
    spec = json.loads(fig.to_json())
    spec.pop("config", None)
    spec.get("layout", {}).pop("template", None)  # plotly's default template is ≈ 7 kB per figure
    payload = json.dumps({"data": spec.get("data", []), "layout": spec.get("layout", {}), "config": PLOTLY_CONFIG},
                         ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESC)
    fid = "fig-" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]
    return (f'<div class="plotly-graph-div csa-fig" id="{fid}"></div>'
            f'<script type="application/json" class="csa-fig-data" data-for="{fid}">{payload}</script>')


def label(value: Any) -> str:
    """A string for a plotly label: escaped, because plotly renders a subset of HTML in labels."""
    return esc(value)


ASSETS_DIR = Path(__file__).resolve().parent / "assets"
PLOTLY_FILE = "plotly.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_assets(out: str | Path) -> Path:
    """Write ``out/assets/`` (plotly.min.js, csaudit.js, csaudit.css) once for a report folder."""
    d = Path(out) / "assets"
    d.mkdir(parents=True, exist_ok=True)
    target = d / PLOTLY_FILE
    js = plotly_js().encode("utf-8")
    if not target.exists() or target.stat().st_size != len(js):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(js)
        tmp.replace(target)
    for name in ("csaudit.js", "csaudit.css"):
        shutil.copyfile(ASSETS_DIR / name, d / name)
    return d


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _plotly_needs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What plotly.js does inline at run time, read from the installed bundle:

    * the ids of the ``<style>`` elements it injects unless an element with that id exists (the
      map-tile stylesheet; no report draws maps), so :func:`page` provides an empty ``<template>``
      with each id and nothing is injected;
    * the style attribute values it sets as attributes (its image-rendering feature test), which
      the CSP allows by hash (``'unsafe-hashes'`` + ``sha256``; still no ``'unsafe-inline'``).
    """
    js = plotly_js()
    ids = tuple(dict.fromkeys(re.findall(r'getElementById\("([0-9a-f]{32,64})"\)\)\{var \w+=document\.createElement\("style"\)', js)))
    styles: list[str] = []
    m = re.search(r"CSS_DECLARATIONS=(\[\[.*?\]\])", js)
    if m:
        try:
            styles.append("".join(": ".join(d) + "; " for d in json.loads(m.group(1))))
        except ValueError:
            pass
    return ids, tuple(styles)


def csp() -> str:
    """Content-Security-Policy of every page: scripts and styles only from the report folder (no
    ``'unsafe-inline'``, no ``'unsafe-eval'``), nothing loaded from anywhere else, no requests made.
    Hashes: the empty ``<style>`` plotly.js fills through the CSSOM, and its feature-test style value."""
    _, styles = _plotly_needs()
    hashes = " ".join([_sha256(""), *(_sha256(x) for x in styles)])
    return ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-hashes' " + hashes + "; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'none'; base-uri 'none'; form-action 'none'")


def page(title: str, body: str, plotly: bool = True, lang: str = "zh", assets: str = "assets/") -> str:
    """A complete HTML document that loads plotly.js, csaudit.js and the stylesheet from ``assets``
    (a relative path to the folder written by :func:`write_assets`)."""
    a = esc(assets)
    js = f'<script src="{a}{PLOTLY_FILE}"></script>' if plotly else ""
    if plotly:
        js = "".join(f'<template id="{esc(i)}"></template>' for i in _plotly_needs()[0]) + js
    html_lang = "zh-CN" if lang == "zh" else lang
    return (
        f'<!DOCTYPE html>\n<html lang="{esc(html_lang)}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp())}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="stylesheet" href="{a}csaudit.css">{js}'
        f'<script src="{a}csaudit.js" defer></script></head>\n<body>\n{body}\n</body></html>\n'
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


def notebook_page(nb: Any, title: str, assets: str = "assets/") -> str:
    """An executed notebook as a page (see :func:`page`)."""
    return page(title, notebook_body(nb), assets=assets)
