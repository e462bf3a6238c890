"""Spreadsheet-safe cells: chat-derived text never becomes a formula in Excel/WPS.

Every name and message in our tables comes from a chat export, i.e. from strangers: an agent or
customer name such as ``=HYPERLINK("http://x","y")`` (any sender with a colon becomes an agent)
would run as a formula when a CSV we wrote is opened in Excel or WPS. So every CSV we write goes
through :func:`write_csv`: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` (the OWASP "CSV injection" advice; spreadsheets show the rest as text).
Numeric, boolean and date columns are untouched. The workbook (:mod:`csaudit.report.excel`) needs
no prefix: it stores every string as a text cell, never as a formula (:func:`is_formula_like` marks
the ones openpyxl would otherwise turn into formulas).

>>> defuse(pd.Series(["=1+1", "+86", "-_-", "@x", "\\tx", "ok", None], dtype="str")).tolist()
["'=1+1", "'+86", "'-_-", "'@x", "'\\tx", 'ok', nan]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is evaluated (or offered as a formula) by Excel/WPS."""

_FORMULA_RE = r"^[=+\-@\t\r]"


def is_formula_like(value: object) -> bool:
    """True for a string that a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_CHARS)


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, (pd.StringDtype, pd.CategoricalDtype)) or s.dtype == "str"


def defuse(s: pd.Series) -> pd.Series:
    """A text Series with ``'`` in front of every value starting with a formula character
    (vectorised; missing stays missing; non-text Series are returned as they are)."""
    if not _is_text(s) or not len(s):
        return s.copy()
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype != object and cats.dtype != "str":
            return s.copy()
        new = defuse(pd.Series(cats.astype("str")))
        if new.duplicated().any():  # 'x and x both present: fall back to plain text
            return defuse(s.astype("str"))
        return s.cat.rename_categories(list(new))
    txt = s if s.dtype == "str" else s.astype("str")
    risky = txt.str.contains(_FORMULA_RE, regex=True).fillna(False).astype(bool)
    out = s.copy()
    if risky.any():
        if s.dtype == object:
            out[risky] = ("'" + txt[risky]).astype(object)
        else:
            out[risky] = "'" + txt[risky]
    return out


def defuse_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text column passed through :func:`defuse`."""
    out = df.copy()
    for col in out.columns:
        if _is_text(out[col]):
            out[col] = defuse(out[col])
    return out


def write_csv(df: pd.DataFrame, path: str | Path, bom: bool = True) -> Path:
    """Write ``df`` as CSV with every text cell defused; UTF-8 with BOM by default (Excel/WPS
    then open Chinese intact). The one way csaudit writes CSV files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    defuse_frame(df).to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8")
    return path
