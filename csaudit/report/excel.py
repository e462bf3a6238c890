"""The audit workbook (``audit.xlsx``) for Excel/WPS: scorecard, hits with evidence, unreplied
customers, lost inquiries and the definitions of every column.

Written with openpyxl as a real xlsx (UTF-8 XML inside, so Chinese is intact in Excel and WPS).
Headers and sheet names are in the report language (Chinese by default, :mod:`.labels`); every
sheet puts the agent first (scorecard: agent, rank, red-line conversations, the QA scores, then the
rest), freezes the header row and the agent column, has an autofilter and widths from its content,
and numbers carry Excel number formats from the same display rule as the pages (:func:`fmt.kind`:
rates as percent, seconds, money, counts). The hits sheet holds the findings a QA lead coaches on —
negative phrases and QC findings (:func:`views.negative_hits`); politeness terms stay as counts in
the scorecard — and stops with a note before Excel's row limit (:data:`EXCEL_MAX_ROWS`).
Timestamps are written as local wall-clock times (Excel has no time zones; the zone is named in
the definitions sheet). Chat text is untrusted: strings are always stored as text cells (a message
starting with ``=`` never becomes a formula), control characters that xlsx cannot hold are
removed, and text is masked unless ``mask=False``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.report.cells import is_formula_like
from csaudit.report.mask import mask_series

log = logging.getLogger(__name__)

SHEETS = ("scorecard", "hits", "unreplied", "lost_inquiries", "reviews", "definitions")
"""Sheet keys, in order; the names shown are :func:`sheet_names` (``sheet_<key>`` labels)."""
HIT_COLUMNS = ("agent", "ts", "conversation_id", "message_id", "rule", "category", "severity", "side", "term",
               "start", "end", "text", "suggestion")
SCORECARD_FIRST = ("agent", "rank", "critical_conversations", "qa_score", "qa_score_critical_free", "score_responsiveness",
                   "score_politeness", "score_compliance", "score_sentiment", "score_conversion", "csat_mean")
"""The scorecard's first columns (who, rank, red lines, scores); the others follow in audit order."""
EXCEL_MAX_ROWS = 1_048_576
"""Excel's (and WPS's) rows per sheet; a longer sheet is cut with a note in its last row."""
NUMBER_FORMATS = {"rate": "0.0%", "seconds": "0.0", "money": "¥#,##0.00", "score": "0.0", "sentiment": "0.00",
                  "count": "#,##0", "ratio": "0.00"}
"""Excel number format per display kind (:func:`csaudit.report.fmt.kind`); seconds say so in the header."""
NAME_COLUMNS = ("agent", "customer")
"""Name columns masked like text (a customer nickname may be a phone number)."""
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL = 32767

SHEET_NOTES = {
    "scorecard": "One row per agent for the audited period (Audit.agents), sorted by rank.",
    "hits": "One row per finding a QA lead coaches on (Audit.hits without the politeness terms, which are counts in "
            "the scorecard): negative phrases (rule lexicon:<category>) and QC findings (rule qc:<name>), with the "
            "message text and the offsets [start, end) of the term in it.",
    "unreplied": "Customers whose last round got no valid reply (Audit.unreplied).",
    "lost_inquiries": "Inquiries (询单) with no order within the conversion window (Audit.lost_inquiries).",
    "reviews": "Per rule: reviewed precision 正确 ÷ (正确 + 误报) of its current version with the 95% Wilson interval, "
               "reviews, reviewers' agreement (Cohen's kappa), unreliable by the reviews, and whether this audit's "
               "QA scores counted it (csaudit.review.views.rule_table; README \"Review and calibration\").",
}

SHEET_TABLES = {"scorecard": "agents", "hits": "hits", "unreplied": "unreplied", "lost_inquiries": "lost_inquiries"}
"""The table contract (csaudit.model.contracts) behind each data sheet."""


def definitions(agents: pd.DataFrame, tz: str, meta: dict[str, Any],
                sheets: dict[str, pd.DataFrame] | None = None, lang: str = "zh") -> pd.DataFrame:
    """The definitions sheet (``item, name, dtype, unit, definition``; ``name`` = a scorecard column's
    header in the workbook's language): one row per sheet, the time zone,
    preset and period, then one row per column of every data sheet from the declared contracts
    (:mod:`csaudit.model.contracts`): scorecard columns by name, the others as ``sheet.column``.
    A column without a declaration is listed as such (and logged), never silently left out."""
    rows = [("sheet " + k, "", "", v) for k, v in SHEET_NOTES.items()]
    rows.append(("timestamps", "", tz, f"local wall-clock time in {tz}"))
    rows.append(("preset", "", str(meta.get("preset_version", "")), f"preset {meta.get('preset', '?')}"))
    rows.append(("period", "", "", f"{meta.get('period_start') or '—'} .. {meta.get('period_end') or '—'}"))
    frames = {"scorecard": agents, **(sheets or {})}
    for sheet, table in SHEET_TABLES.items():
        if sheet in frames:
            rows.extend(column_definitions(sheet, table, frames[sheet].columns, prefix=sheet != "scorecard"))
    from csaudit.report.labels import labels

    lab = labels(lang)
    out = pd.DataFrame(rows, columns=DEFINITION_COLUMNS)
    out.insert(1, "name", [lab.column(i) if i in agents.columns else "" for i in out["item"]])
    return out


DEFINITION_COLUMNS = ["item", "dtype", "unit", "definition"]
"""Columns of the definitions sheet's rows before the ``name`` (header shown in the workbook) is added."""


def column_definitions(sheet: str, table: str, columns: Any, prefix: bool = True) -> list[tuple[str, str, str, str]]:
    """Rows ``(item, dtype, unit, definition)`` of the definitions sheet for the ``columns`` of a
    sheet holding table ``table``, from its declared contract; ``item`` is ``sheet.column`` (just
    the column without ``prefix``). An undeclared column is listed as ``(not declared)`` and logged."""
    from csaudit.model.contracts import contract, plain

    spec = contract(table)
    rows = []
    for col in columns:
        item = f"{sheet}.{col}" if prefix else str(col)
        decl = spec.column(str(col))
        if decl is None:
            log.warning("definitions: column %s of sheet %s is not declared in csaudit.model.contracts", col, sheet)
            rows.append((item, "", "", "(not declared)"))
        else:
            rows.append((item, decl.dtype, decl.unit, plain(decl.definition)))
    return rows


def excel_frame(df: pd.DataFrame, tz: str, mask: bool = True, text_columns: tuple[str, ...] = ("text",)) -> pd.DataFrame:
    """A copy ready for a sheet: local naive timestamps, masked text, plain object values."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[col] = s.dt.tz_convert(tz).dt.tz_localize(None)
    if mask:
        for col in text_columns:
            if col in out.columns:
                out[col] = mask_series(out[col])
    return out


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns of plain Python values (None for missing) that openpyxl writes as they are."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            vals = [None if pd.isna(v) else v.to_pydatetime() for v in s]
        elif pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.BooleanDtype):
            vals = [None if pd.isna(v) else bool(v) for v in s]
        elif pd.api.types.is_numeric_dtype(s):
            arr = s.astype("float64").to_numpy(na_value=np.nan)
            ints = pd.api.types.is_integer_dtype(s)
            vals = [None if np.isnan(v) else (int(v) if ints else float(v)) for v in arr]
        else:
            txt = s.astype("str").str.replace(_ILLEGAL, "", regex=True).str.slice(0, _MAX_CELL)
            vals = [None if pd.isna(o) else t for o, t in zip(s, txt, strict=True)]
        out[col] = vals
    return pd.DataFrame(out, columns=df.columns, dtype=object) if len(df) else pd.DataFrame(columns=df.columns)


def sheet_names(lang: str = "zh") -> dict[str, str]:
    """``{sheet key: shown name}`` in the report language."""
    from csaudit.report.labels import labels

    return {k: labels(lang).ui(f"sheet_{k}") for k in SHEETS}


def _text_width(v: Any) -> float:
    s = str(v)
    return sum(2.0 if ord(ch) > 0x2E80 else 1.0 for ch in s)  # CJK characters are two columns wide


def _header(col: str, lang: str) -> str:
    from csaudit.report.fmt import kind
    from csaudit.report.labels import labels

    lab = labels(lang)
    name = lab.column(col)
    return f"{name} ({lab.unit('seconds')})" if kind(col) == "seconds" and col not in ("ts",) else name


def _write_sheet(wb: Any, name: str, df: pd.DataFrame, lang: str = "zh", note: str = "") -> None:
    """One sheet in write-only mode (fast): bold header in the report language, header row and (when
    it comes first) the agent column frozen, autofilter, number formats, widths from the content,
    and ``note`` as a last row (e.g. why rows were left out)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from csaudit.report.fmt import kind

    ws = wb.create_sheet(name)
    plain = _plain(df)
    headers = [_header(str(c), lang) for c in df.columns]
    for i, col in enumerate(df.columns, start=1):
        sample = [_text_width(v) for v in plain[col].head(200) if v is not None] if len(plain) else []
        width = max([_text_width(headers[i - 1]) + 2, *[min(n, 60) for n in sample]])
        ws.column_dimensions[get_column_letter(i)].width = min(max(8, width * 1.1), 70)
    ws.freeze_panes = "B2" if len(df.columns) and df.columns[0] == "agent" else "A2"
    if len(df.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(len(df), 1) + 1}"
    bold = Font(bold=True)
    header = []
    for h in headers:
        c = WriteOnlyCell(ws, value=h)
        c.font = bold
        header.append(c)
    ws.append(header)
    formats = [None if pd.api.types.is_bool_dtype(df[c]) or not pd.api.types.is_numeric_dtype(df[c])
               else NUMBER_FORMATS.get(kind(str(c))) for c in df.columns]
    for rec in plain.itertuples(index=False, name=None):
        row = list(rec)
        for j, v in enumerate(row):
            if is_formula_like(v):  # chat text is never a formula: an explicit text cell
                c = WriteOnlyCell(ws, value=v)
                c.data_type = "s"
                row[j] = c
            elif hasattr(v, "hour") and hasattr(v, "year"):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd hh:mm:ss"
                row[j] = c
            elif formats[j] is not None and isinstance(v, (int, float)):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = formats[j]
                row[j] = c
        ws.append(row)
    if note:
        ws.append([note])


def scorecard_frame(agents: pd.DataFrame) -> pd.DataFrame:
    """The scorecard with :data:`SCORECARD_FIRST` first (a new frame)."""
    first = [c for c in SCORECARD_FIRST if c in agents.columns]
    return agents[first + [c for c in agents.columns if c not in first]]


def _agent_first(df: pd.DataFrame) -> pd.DataFrame:
    if "agent" in df.columns and len(df.columns) and df.columns[0] != "agent":
        return df[["agent", *[c for c in df.columns if c != "agent"]]]
    return df


def capped_rows(df: pd.DataFrame, lang: str = "zh", limit: int = EXCEL_MAX_ROWS) -> tuple[pd.DataFrame, str]:
    """``df`` cut to fit a sheet (header + rows + a note row ≤ ``limit``) and the note, if cut."""
    room = limit - 2
    if len(df) <= room:
        return df, ""
    from csaudit.report.labels import labels

    log.warning("workbook: %d rows do not fit a sheet; the first %d are written", len(df), room)
    return df.head(room), labels(lang).ui("list_capped", cap=f"{room:,}", n=f"{len(df):,}")


def write_workbook(
    path: str | Path,
    agents: pd.DataFrame,
    hits: pd.DataFrame,
    unreplied: pd.DataFrame,
    lost_inquiries: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    tz: str = "Asia/Shanghai",
    mask: bool = True,
    reviews: pd.DataFrame | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
    lang: str = "zh",
) -> Path:
    """Write ``audit.xlsx`` with the sheets :data:`SHEETS`; one row per table row (plus a header).
    ``reviews``: the per-rule review figures (:func:`csaudit.review.views.rule_table`), empty when None.
    ``extra`` sheets (ready frames, e.g. :func:`csaudit.report.shop_sheets.shop_sheets`) follow them."""
    from openpyxl import Workbook

    from csaudit.report.views import negative_hits

    meta = meta or {}
    path = Path(path)
    if len(hits.columns) and "rule" in hits.columns:
        hits = negative_hits(hits, meta.get("config") or {})
        hits = hits.sort_values(["agent", "ts"], kind="stable") if len(hits) else hits
    hit_cols = [c for c in HIT_COLUMNS if c in hits.columns]
    hits, hits_note = capped_rows(hits[hit_cols] if len(hits.columns) else hits, lang)
    frames = {
        "scorecard": excel_frame(scorecard_frame(agents), tz, mask, NAME_COLUMNS),
        "hits": excel_frame(hits, tz, mask, ("text", "term", *NAME_COLUMNS)),
        "unreplied": excel_frame(_agent_first(unreplied), tz, mask, ("text", *NAME_COLUMNS)),
        "lost_inquiries": excel_frame(_agent_first(lost_inquiries), tz, mask, ("text", *NAME_COLUMNS)),
        "reviews": _reviews_frame(reviews),
    }
    frames["definitions"] = definitions(agents, tz, meta, {k: frames[k] for k in ("hits", "unreplied", "lost_inquiries")},
                                        lang=lang)
    if extra:
        from csaudit.report.shop_sheets import shop_notes

        notes_df = pd.DataFrame(shop_notes(extra), columns=DEFINITION_COLUMNS)
        frames["definitions"] = pd.concat([frames["definitions"], notes_df], ignore_index=True)
    notes = {"hits": hits_note}
    names = sheet_names(lang)
    wb = Workbook(write_only=True)
    for key in SHEETS:
        _write_sheet(wb, names[key], frames[key], lang, notes.get(key, ""))
    for name, df in (extra or {}).items():
        _write_sheet(wb, name, df, lang)
        frames[name] = df
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    log.info("workbook %s: %s", path, ", ".join(f"{k} {len(v)} rows" for k, v in frames.items()))
    return path


def _reviews_frame(reviews: pd.DataFrame | None) -> pd.DataFrame:
    from csaudit.review.views import RULE_COLUMNS

    return reviews if reviews is not None else pd.DataFrame(columns=list(RULE_COLUMNS))


def write_audit_workbook(audit_dir: str | Path, path: str | Path, mask: bool = True, lang: str = "zh") -> Path:
    """:func:`write_workbook` from a saved audit folder."""
    from csaudit.report import data as rdata
    from csaudit.report.shop_sheets import shop_sheets
    from csaudit.review import views as review_views

    meta = rdata.read_meta(audit_dir)
    tz = ((meta.get("config") or {}).get("latency") or {}).get("timezone", "Asia/Shanghai")
    reviews, _ = review_views.read(audit_dir)
    return write_workbook(
        path,
        rdata.read_table(audit_dir, "agents"),
        rdata.read_table(audit_dir, "hits"),
        rdata.read_table(audit_dir, "unreplied"),
        rdata.read_table(audit_dir, "lost_inquiries"),
        meta=meta,
        tz=tz,
        mask=mask,
        reviews=review_views.rule_table(reviews, meta),
        extra=shop_sheets(audit_dir, tz, mask),
        lang=lang,
    )
