"""Orders exports (CSV/TSV/XLSX) → the ORDERS table (DESIGN §3).

``read_orders(path)`` recognises Chinese and English headers (:data:`ORDER_HEADERS`) or takes an
explicit ``columns={"order_id": "订单编号", ...}`` (our name → their header). Columns:

=========== ========================================================================================
order_id    str; Excel guards such as ``="123"``, a leading ``'`` or tab are removed
shop        str; from a shop column, else the ``shop=`` argument, else ``""`` (unknown)
customer    str, the buyer account as in the chats
created     tz-aware time the order was created (required)
paid        tz-aware payment time; NaT when the cell is empty or says it is unpaid (``未付款``, ``-``)
amount      float, what the buyer paid (currency signs, thousands separators, ``元`` removed)
refund      float, refunded amount; 0 when the column is absent or the cell is empty
=========== ========================================================================================

Bad rows are never dropped: every row that lacks an order id, a customer or a created time, or has
a cell that is not a date/amount, is collected and :class:`~csaudit.io.base.InputError` is raised
naming ``file:line`` of the first one and what was expected, plus how many more there are (e.g.
``orders.csv:17: created time '2026-13-01' is not a date (2 more bad rows: lines 20, 31)``). Exact
duplicate rows (overlapping exports) are dropped and logged; the result is validated against the
ORDERS schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from csaudit.arrays import arrow_series
from csaudit.io.base import InputError, RawFile, raise_first_problem, read_raw
from csaudit.io.common import ORDER_HEADERS, as_arrow, match_headers, parse_times, read_grid
from csaudit.model import schema

log = logging.getLogger(__name__)


REQUIRED = ("order_id", "customer", "created", "amount")
UNPAID = frozenset({"", "-", "--", "—", "null", "none", "nan", "nat", "0", "未付款", "未支付", "无"})
"""Payment-time cells meaning "not paid"."""
NO_REFUND = frozenset({"", "-", "--", "—", "null", "none", "nan", "无"})
_MONEY_JUNK = r"(?i)[¥￥$,，\s元]|RMB|CNY"
"""What is removed from amount cells (RE2 syntax)."""
_ID_GUARD = r'^\s*(?:="(.*)"|\'(.*))\s*$'
"""Excel text guards around order ids (RE2 syntax)."""


def _arrow_str(s: pd.Series, fn) -> pd.Series:
    """Apply an Arrow compute function to a ``str`` Series (vectorised, Unicode-aware)."""
    return arrow_series(fn(as_arrow(s.astype("str").fillna(""))), s.index, "str").fillna("")


def parse_amounts(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``"¥1,299.00"`` → 1299.0 (also ``￥``, ``元``, ``RMB``, full-width digits). Returns (amounts, bad)."""
    import pyarrow.compute as pc

    s = _arrow_str(values, lambda a: pc.replace_substring_regex(pc.utf8_normalize(a, "NFKC"), _MONEY_JUNK, ""))
    num = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = (num.isna() & (s != "")).to_numpy(dtype=bool)
    return num, bad


def _clean_ids(values: pd.Series) -> pd.Series:
    """Order ids without Excel guards (``="123"``, a leading ``'``) and tabs."""
    import pyarrow.compute as pc

    return _arrow_str(values, lambda a: pc.utf8_trim_whitespace(
        pc.replace_substring_regex(pc.replace_substring(a, "\t", ""), _ID_GUARD, r"\1\2")))


def read_orders(
    path: str | Path,
    columns: dict[str, str] | None = None,
    tz: str = "Asia/Shanghai",
    encoding: str | None = None,
    shop: str | None = None,
) -> pd.DataFrame:
    """Read an orders CSV/TSV/XLSX into the ORDERS table (see module docstring).

    ``columns`` maps our names (order_id, shop, customer, created, paid, amount, refund) to the
    file's headers; ``encoding`` forces a text encoding (default: detected); ``shop`` fills the shop
    when the file has no shop column. Raises :class:`InputError` (file:line: what was expected) on
    a missing column or bad rows.

    >>> orders = read_orders("data/sample_chats/orders.csv")   # doctest: +SKIP
    >>> orders.columns.tolist()                                   # doctest: +SKIP
    ['order_id', 'shop', 'customer', 'created', 'paid', 'amount', 'refund']
    """
    return parse_orders(read_raw(path, "orders"), columns, tz, encoding, shop)


def parse_orders(
    raw: RawFile,
    columns: dict[str, str] | None = None,
    tz: str = "Asia/Shanghai",
    encoding: str | None = None,
    shop: str | None = None,
) -> pd.DataFrame:
    """:func:`read_orders` on bytes already in memory (``raw.source`` names it in errors)."""
    src = raw.source
    grid = read_grid(raw, encoding, aliases=ORDER_HEADERS)
    if not grid.header:
        log.warning("%s: empty orders file", src)
        return schema.empty("orders", tz)
    cols = match_headers(grid.header, ORDER_HEADERS, columns, src, fuzzy=True)
    log.info("%s: orders columns %s", src, ", ".join(f"{k}={grid.header[v]!r}" for k, v in cols.items()))
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InputError(src, grid.header_line,
                         f"orders columns {', '.join(missing)} (e.g. 订单号/买家会员名/下单时间/实付金额); "
                         f"headers are {', '.join(map(repr, grid.header))} — map them with columns={{...}}")
    c = grid.cells

    def col(name: str) -> pd.Series:
        return c[cols[name]].astype("str").str.strip() if name in cols else pd.Series([""] * len(c), dtype="str")

    problems: list[tuple[int, str]] = [(ln, f"cannot read this row: {why} ({r[:80]!r})") for ln, r, why in grid.bad]
    problems += [(ln, f"unexpected line before the header row: {r[:80]!r}") for ln, r in grid.preamble]

    order_id = _clean_ids(col("order_id"))
    customer = col("customer")
    created_s, paid_s = col("created"), col("paid")
    created, bad_created = parse_times(created_s, tz)
    paid_in = paid_s.where(~paid_s.str.lower().isin(UNPAID), "")
    paid, bad_paid = parse_times(paid_in, tz)
    amount, bad_amount = parse_amounts(col("amount"))
    refund_s = col("refund")
    refund, bad_refund = parse_amounts(refund_s.where(~refund_s.str.lower().isin(NO_REFUND), ""))
    refund = refund.fillna(0.0)

    checks = [
        (order_id == "", lambda i: "an order id (the cell is empty)"),
        (customer == "", lambda i: "a customer/buyer (the cell is empty)"),
        (created_s == "", lambda i: "a created time (the cell is empty)"),
        (pd.Series(bad_created), lambda i: f"created time {created_s.iloc[i]!r} is not a date"),
        (pd.Series(bad_paid), lambda i: f"paid time {paid_s.iloc[i]!r} is not a date"),
        (col("amount") == "", lambda i: "an amount (the cell is empty)"),
        (pd.Series(bad_amount), lambda i: f"amount {col('amount').iloc[i]!r} is not a number"),
        (pd.Series(bad_refund), lambda i: f"refund {refund_s.iloc[i]!r} is not a number"),
    ]
    for mask, what in checks:
        for i in np.flatnonzero(mask.to_numpy(dtype=bool)):
            problems.append((int(grid.lines[i]), what(i)))
    raise_first_problem(src, problems)

    shop_col = col("shop") if "shop" in cols else pd.Series([shop or ""] * len(c), dtype="str")
    if "shop" in cols and shop:
        shop_col = shop_col.where(shop_col != "", shop)
    if "created" in cols and created.dt.tz is None:
        created = created.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    if paid.dt.tz is None:
        paid = paid.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    out = pd.DataFrame({
        "order_id": order_id,
        "shop": shop_col,
        "customer": customer,
        "created": created,
        "paid": paid,
        "amount": amount,
        "refund": refund,
    })
    dup = out.duplicated(keep="first")
    if dup.any():
        log.info("%s: %d exact duplicate order row(s) dropped", src, int(dup.sum()))
        out = out.loc[~dup].reset_index(drop=True)
    repeated = out["order_id"].duplicated(keep=False)
    if repeated.any():
        log.warning("%s: %d order id(s) appear on several differing rows (kept all)", src,
                    out.loc[repeated, "order_id"].nunique())
    out = schema.conform(out, "orders", tz)
    return schema.validate(out, "orders", tz)
