"""The audit workbook (``audit.xlsx``) for Excel/WPS: scorecard, hits with evidence, unreplied
customers, lost inquiries and the definitions of every column.

Written with openpyxl as a real xlsx (UTF-8 XML inside, so Chinese is intact in Excel and WPS).
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
HIT_COLUMNS = ("ts", "agent", "conversation_id", "message_id", "rule", "category", "severity", "side", "term",
               "start", "end", "text", "suggestion")
NAME_COLUMNS = ("agent", "customer")
"""Name columns masked like text (a customer nickname may be a phone number)."""
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL = 32767

SHEET_NOTES = {
    "scorecard": "One row per agent for the audited period (Audit.agents), sorted by rank.",
    "hits": "One row per rule hit (Audit.hits): lexicon hits (rule lexicon:<category>) and QC hits (rule qc:<name>), "
            "with the message text and the offsets [start, end) of the term in it.",
    "unreplied": "Customers whose last round got no valid reply (Audit.unreplied).",
    "lost_inquiries": "Inquiries (询单) with no order within the conversion window (Audit.lost_inquiries).",
    "reviews": "Per rule: reviewed precision 正确 ÷ (正确 + 误报) of its current version with the 95% Wilson interval, "
               "reviews, reviewers' agreement (Cohen's kappa), unreliable by the reviews, and whether this audit's "
               "QA scores counted it (csaudit.review.views.rule_table; README \"Review and calibration\").",
}

SHEET_TABLES = {"scorecard": "agents", "hits": "hits", "unreplied": "unreplied", "lost_inquiries": "lost_inquiries"}
"""The table contract (csaudit.model.contracts) behind each data sheet."""


def definitions(agents: pd.DataFrame, tz: str, meta: dict[str, Any],
                sheets: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """The definitions sheet (``item, dtype, unit, definition``): one row per sheet, the time zone,
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
    return pd.DataFrame(rows, columns=DEFINITION_COLUMNS)


DEFINITION_COLUMNS = ["item", "dtype", "unit", "definition"]


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


def _write_sheet(wb: Any, name: str, df: pd.DataFrame) -> None:
    """One sheet in write-only mode (fast): bold header, frozen first row, widths from the content."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(name)
    plain = _plain(df)
    for i, col in enumerate(df.columns, start=1):
        sample = [len(str(v)) for v in plain[col].head(200) if v is not None] if len(plain) else []
        width = max([len(str(col)), *[min(n, 60) for n in sample]])
        ws.column_dimensions[get_column_letter(i)].width = min(max(8, width * 1.6), 80)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for col in df.columns:
        c = WriteOnlyCell(ws, value=str(col))
        c.font = bold
        header.append(c)
    ws.append(header)
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
        ws.append(row)


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
) -> Path:
    """Write ``audit.xlsx`` with the sheets :data:`SHEETS`; one row per table row (plus a header).
    ``reviews``: the per-rule review figures (:func:`csaudit.review.views.rule_table`), empty when None.
    ``extra`` sheets (ready frames, e.g. :func:`csaudit.report.shop_sheets.shop_sheets`) follow them."""
    from openpyxl import Workbook

    meta = meta or {}
    path = Path(path)
    hit_cols = [c for c in HIT_COLUMNS if c in hits.columns]
    frames = {
        "scorecard": excel_frame(agents, tz, mask, NAME_COLUMNS),
        "hits": excel_frame(hits[hit_cols] if len(hits.columns) else hits, tz, mask, ("text", "term", *NAME_COLUMNS)),
        "unreplied": excel_frame(unreplied, tz, mask, ("text", *NAME_COLUMNS)),
        "lost_inquiries": excel_frame(lost_inquiries, tz, mask, ("text", *NAME_COLUMNS)),
        "reviews": _reviews_frame(reviews),
    }
    frames["definitions"] = definitions(agents, tz, meta, {k: frames[k] for k in ("hits", "unreplied", "lost_inquiries")})
    wb = Workbook(write_only=True)
    if extra:
        from csaudit.report.shop_sheets import shop_notes

        notes = pd.DataFrame(shop_notes(extra), columns=DEFINITION_COLUMNS)
        frames["definitions"] = pd.concat([frames["definitions"], notes], ignore_index=True)
    for name in SHEETS:
        _write_sheet(wb, name, frames[name])
    for name, df in (extra or {}).items():
        _write_sheet(wb, name, df)
        frames[name] = df
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    log.info("workbook %s: %s", path, ", ".join(f"{k} {len(v)} rows" for k, v in frames.items()))
    return path


def _reviews_frame(reviews: pd.DataFrame | None) -> pd.DataFrame:
    from csaudit.review.views import RULE_COLUMNS

    return reviews if reviews is not None else pd.DataFrame(columns=list(RULE_COLUMNS))


def write_audit_workbook(audit_dir: str | Path, path: str | Path, mask: bool = True) -> Path:
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
    )
