"""Declared schemas of every table (DESIGN §3). Column names are API.

Each table is validated at the boundary with pandera (``lazy=True``): every failure is collected
into one table instead of stopping at the first. ``empty(name)`` gives a correctly typed empty
frame, so functions never have to special-case "no rows".
"""

from __future__ import annotations

import logging

import pandas as pd

from csaudit.arrays import one_chunk

log = logging.getLogger(__name__)

TZ_DEFAULT = "Asia/Shanghai"
ROLES = ("customer", "agent", "auto_reply", "bot", "system")
ROLE_DTYPE = pd.CategoricalDtype(list(ROLES))
SIDES = ("agent", "customer")

STR = "str"
CAT = "category"
"""A text column with few distinct values (the same coaching text on ≈ 1M hits): stored as a
pandas categorical, ≈ 100 MB less per 1M hits than ``str``; reads like text (``==``, ``isin``, ``.str``)."""


def ts_dtype(tz: str = TZ_DEFAULT) -> pd.DatetimeTZDtype:
    """Timestamps are tz-aware, nanosecond resolution, in the shop's timezone."""
    return pd.DatetimeTZDtype("ns", tz)


# column -> (dtype, nullable)
MESSAGES: dict[str, tuple[object, bool]] = {
    "message_id": (STR, False),
    "conversation_id": (STR, False),
    "shop": (STR, False),
    "customer": (STR, False),
    "sender": (STR, False),
    "agent": (STR, True),
    "role": (ROLE_DTYPE, False),
    "ts": ("ts", True),
    "text": (STR, False),
    "source": (STR, False),
    "line": ("int64", False),
}

REJECTS: dict[str, tuple[object, bool]] = {
    "source": (STR, False),
    "line": ("int64", False),
    "raw": (STR, False),
    "reason": (STR, False),
}

SOURCES: dict[str, tuple[object, bool]] = {
    "source": (STR, False),
    "format": (STR, False),
    "encoding": (STR, True),
    "messages": ("int64", False),
    "rejects": ("int64", False),
    "duplicates": ("int64", False),
    "rejects_omitted": ("int64", False),
    "unknown_agent": ("int64", False),
    "damaged_lines": ("int64", False),
    "note": (STR, True),
}
"""One row per input file (``read_chats(...).sources``): ``rejects`` counts every reject of the file,
``rejects_omitted`` those beyond ``[io] max_rejects_per_file`` (counted, not kept in ``rejects``);
``unknown_agent`` the agent-side rows kept under the placeholder account (``[io] unknown_agent``);
``damaged_lines`` the lines that needed a fallback decoding (or could not be decoded); ``note`` what
the reader guessed or why the file was skipped."""

ORDERS: dict[str, tuple[object, bool]] = {
    "order_id": (STR, False),
    "shop": (STR, False),
    "customer": (STR, False),
    "created": ("ts", False),
    "paid": ("ts", True),
    "amount": ("float64", False),
    "refund": ("float64", False),
}

TURNS: dict[str, tuple[object, bool]] = {
    "conversation_id": (STR, False),
    "turn": ("int64", False),
    "role": (ROLE_DTYPE, False),
    "agent": (STR, True),
    "start": ("ts", True),
    "end": ("ts", True),
    "n_messages": ("int64", False),
    "text": (STR, False),
}

ROUNDS: dict[str, tuple[object, bool]] = {
    "conversation_id": (STR, False),
    "customer": (STR, False),
    "agent": (STR, True),
    "round": ("int64", False),
    "start": ("ts", True),
    "reply": ("ts", True),
    "response_s": ("float64", True),
    "capped_s": ("float64", True),
    "answered": ("bool", False),
    "in_hours": ("bool", False),
    "slow": ("bool", False),
}

HITS: dict[str, tuple[object, bool]] = {
    "message_id": (STR, True),
    "conversation_id": (STR, False),
    "agent": (STR, True),
    "ts": ("ts", True),
    "rule": (STR, False),
    "category": (STR, False),
    "severity": (STR, False),
    "side": (STR, False),
    "term": (STR, True),
    "start": ("Int64", True),
    "end": ("Int64", True),
    "text": (STR, True),
    "suggestion": (CAT, True),
}

TABLES: dict[str, dict[str, tuple[object, bool]]] = {
    "messages": MESSAGES,
    "rejects": REJECTS,
    "sources": SOURCES,
    "orders": ORDERS,
    "turns": TURNS,
    "rounds": ROUNDS,
    "hits": HITS,
}


def _dtype(spec: object, tz: str) -> object:
    return ts_dtype(tz) if spec == "ts" else spec


def empty(name: str, tz: str = TZ_DEFAULT) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of table ``name``."""
    spec = TABLES[name]
    return pd.DataFrame({c: pd.Series([], dtype=_dtype(d, tz)) for c, (d, _) in spec.items()})


def conform(df: pd.DataFrame, name: str, tz: str = TZ_DEFAULT, rechunk: bool = False) -> pd.DataFrame:
    """Columns of table ``name`` in declared order and dtype (extra columns kept after them). With
    ``rechunk``, text columns in one Arrow chunk (a table read from parquet may come in many, which
    makes ``take`` slow); otherwise chunks stay (a concatenation of parts is not copied)."""
    spec = TABLES[name]
    out = {}
    for col, (d, _) in spec.items():
        dt = _dtype(d, tz)
        s = df[col] if col in df.columns else pd.Series(pd.NA, index=df.index)
        if isinstance(dt, pd.DatetimeTZDtype):
            s = pd.to_datetime(s)
            s = s.dt.tz_localize(tz) if s.dt.tz is None else s.dt.tz_convert(tz)
            s = s.dt.as_unit("ns")
        elif isinstance(d, str) and d == CAT:  # (a CategoricalDtype also compares equal to "category")
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(STR).astype(CAT)
        elif str(s.dtype) != str(dt):
            s = s.astype(dt)
        out[col] = one_chunk(s) if rechunk else s
    extra = [c for c in df.columns if c not in spec]
    res = pd.DataFrame(out, index=df.index, copy=False)  # copy-on-write: the caller's frame stays untouched
    for c in extra:
        res[c] = df[c]
    return res


def concat(frames: list[pd.DataFrame], name: str, tz: str = TZ_DEFAULT) -> pd.DataFrame:
    """``pd.concat(frames, ignore_index=True)`` conformed to table ``name``, keeping its categorical
    columns categorical (pandas turns categoricals with different categories into objects: one
    Python string per row)."""
    frames = [conform(f, name, tz) for f in frames if len(f)]
    if not frames:
        return empty(name, tz)
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    from pandas.api.types import union_categoricals

    def text_categories(s: pd.Series) -> pd.Categorical:
        cats = s.cat.categories
        return s.array if cats.dtype == STR else s.cat.set_categories(pd.Index(cats, dtype=STR)).array

    cats = {c: union_categoricals([text_categories(f[c]) for f in frames]) for c, (d, _) in TABLES[name].items()
            if isinstance(d, str) and d == CAT}
    plain = [f.drop(columns=list(cats)) for f in frames]
    out = pd.concat(plain, ignore_index=True)
    for c, values in cats.items():
        out[c] = values
    return conform(out, name, tz)


def schema(name: str, tz: str = TZ_DEFAULT):
    """The pandera ``DataFrameSchema`` of table ``name`` (imported lazily: pandera is slow to load)."""
    import pandera.pandas as pa

    cols = {}
    for col, (d, nullable) in TABLES[name].items():
        checks = []
        if col == "line":
            checks.append(pa.Check.ge(1, error="line numbers are 1-based"))
        if col == "role":
            checks.append(pa.Check.isin(list(ROLES)))
        cols[col] = pa.Column(_dtype(d, tz), nullable=nullable, checks=checks)
    return pa.DataFrameSchema(cols, strict=False, ordered=False)


def failures(df: pd.DataFrame, name: str, tz: str = TZ_DEFAULT) -> pd.DataFrame:
    """All schema failures of ``df`` as a table (empty when valid): column, check, failure_case, index."""
    import pandera.pandas as pa

    try:
        schema(name, tz).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        return fc[["column", "check", "failure_case", "index"]].reset_index(drop=True)
    return pd.DataFrame({"column": [], "check": [], "failure_case": [], "index": []})


class SchemaError(ValueError):
    """A table does not match its declared schema; ``.failures`` holds every failure."""

    def __init__(self, name: str, fails: pd.DataFrame):
        self.failures = fails
        head = "; ".join(
            f"{r.column}: {r.check} (e.g. {r.failure_case!r} at row {r.index})" for r in fails.head(5).itertuples()
        )
        super().__init__(f"{name} table fails its schema in {len(fails)} place(s): {head}")


def validate(df: pd.DataFrame, name: str, tz: str = TZ_DEFAULT) -> pd.DataFrame:
    """Return ``df`` unchanged if it matches table ``name``; else raise :class:`SchemaError`."""
    fails = failures(df, name, tz)
    if len(fails):
        raise SchemaError(name, fails)
    return df
