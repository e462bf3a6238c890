"""Inquiries (询单), conversion to orders and sales attribution (DESIGN §5).

Definitions (``ConversionConfig``: ``window_h`` = W, ``attribution``, ``after_sales_keywords``):

Inquiry (询单)
    A conversation in which the customer spoke and — in the customer's messages sent before the
    customer's first order created during the conversation (between its first and last message) —
    no after-sales keyword occurs. Keywords are matched on normalised text
    (:func:`csaudit.text.normalize_for_match`: full-width → half-width, Traditional → Simplified), so
    退貨 matches 退货. A conversation where the customer spoke and that is not an inquiry is
    ``after_sales``; one without customer messages is neither. Asking about 快递 *after* ordering in
    the same conversation keeps it an inquiry.
Inquiry start
    The conversation's ``start`` (its first timed message; the first customer message's time if the
    conversation has no start). Inquiries without any time can not be matched to orders.
Ordered / paid (询单→下单 / 询单→付款)
    An inquiry is ``ordered`` when the same customer (same shop, see below) created an order at or
    after the inquiry start and at most W hours after it (both ends inclusive: an order exactly W
    after the start counts), and ``paid`` when an order was paid in that same window. Every inquiry
    in the window gets the credit (final conversion, 最终下单/付款), so two inquiries before one order
    are both ``ordered``; the *sales* go to one agent only (below).
Attribution (落实下单 / 落实付款), ``.orders``
    Each order goes to the customer's latest inquiry that started at or before the order's key time
    and at most W hours before it (inclusive): ``order`` — key time = creation; ``payment`` — key time
    = payment (unpaid orders are silent); ``order_first`` — by creation, and an order with no inquiry
    in the window before its creation is tried again by its payment time. The order's ``agent`` is
    that inquiry's conversation ``agent`` (primary agent: first valid responder; it may be NA when
    nobody answered — the sale still counts as CS sales). Orders that go to no inquiry are silent
    (静默下单). Matching is by ``shop`` + ``customer`` when the orders' shops and the chats' shops
    overlap, else by ``customer`` only (logged).
Sales, ``.sales`` (one row)
    ``shop_sales`` = Σ amount of all orders given (paid or not; refunds not deducted);
    ``cs_sales`` = Σ amount of attributed orders; ``silent_sales`` = Σ amount of silent orders;
    ``cs_sales + silent_sales == shop_sales`` is checked and a mismatch raises ``ValueError``;
    ``cs_buyers`` = distinct (shop, customer) with ≥ 1 attributed order; ``avg_order_value`` (客单价)
    = cs_sales ÷ cs_buyers (NA without buyers); ``refund_rate`` = Σ refund ÷ Σ amount of the
    attributed orders (money share, NA without CS sales); ``n_orders``, ``n_attributed``, ``n_silent``.
Per agent, ``.agents``
    ``inquiries`` — inquiries whose conversation agent is this agent; ``ordered_inquiries`` /
    ``paid_inquiries`` — of those, ``ordered`` / ``paid``; ``order_conversion`` /
    ``paid_conversion`` — those ÷ ``inquiries`` (fractions, NA without inquiries); ``cs_sales``,
    ``cs_buyers``, ``avg_order_value``, ``refund_rate`` — as above over the orders attributed to the
    agent; ``lost_inquiries`` — inquiries neither ordered nor paid.
Lost inquiries, ``.lost``
    Inquiries neither ``ordered`` nor ``paid``: ``conversation_id, customer, agent, start`` (inquiry
    start), ``text`` (the customer's last message of the conversation), sorted by start.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from csaudit.arrays import NAT, factorize_runs
from csaudit.config import ConversionConfig
from csaudit.model import schema
from csaudit.text import normalize_one

log = logging.getLogger(__name__)

CONVERSATION_COLUMNS = ("conversation_id", "is_inquiry", "after_sales", "ordered", "paid", "order_amount", "order_id")
ORDER_EXTRA_COLUMNS = ("conversation_id", "agent", "attributed", "silent", "attributed_by")
LOST_COLUMNS = ("conversation_id", "customer", "agent", "start", "text")
SALES_COLUMNS = (
    "shop_sales",
    "cs_sales",
    "silent_sales",
    "cs_buyers",
    "avg_order_value",
    "refund_rate",
    "n_orders",
    "n_attributed",
    "n_silent",
)
AGENT_COLUMNS = (
    "agent",
    "inquiries",
    "ordered_inquiries",
    "paid_inquiries",
    "order_conversion",
    "paid_conversion",
    "cs_sales",
    "cs_buyers",
    "avg_order_value",
    "refund_rate",
    "lost_inquiries",
)


@dataclass
class Conversion:
    """Result of :func:`conversion`; every table's columns are defined in the module docstring."""

    conversations: pd.DataFrame
    """``conversation_id, is_inquiry, after_sales, ordered, paid, order_amount, order_id`` — one row per
    conversation; ``order_amount`` = Σ amount of the orders attributed to it (0.0 when none);
    ``order_id`` = their ids joined with "," (NA when none). ``ordered``/``paid`` are False for
    conversations that are not inquiries."""
    orders: pd.DataFrame
    """ORDERS + ``conversation_id, agent, attributed, silent, attributed_by`` (``order``/``payment``/NA)."""
    lost: pd.DataFrame
    sales: pd.DataFrame
    agents: pd.DataFrame


def _conversion_cfg(cfg: object | None) -> ConversionConfig:
    if cfg is None:
        return ConversionConfig()
    return getattr(cfg, "conversion", cfg)  # type: ignore[return-value]


def after_sales_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One compiled pattern of the normalised after-sales keywords (None when there are none)."""
    terms = sorted({normalize_one(k) for k in keywords if k}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, terms))) if terms else None


def _pattern_in(pattern: re.Pattern[str], texts: Any) -> np.ndarray:
    """Boolean per text of ``texts`` (distinct, no missing): ``pattern`` occurs in its normalised
    form (:func:`csaudit.text.normalize_for_match`). One scan per chunk of texts joined by newlines
    (the keywords hold no newline, so a match never spans two texts; chunks bound the memory)."""
    from csaudit.metrics.lexicon import normalized_chunks

    texts = pd.Index(texts)
    found = np.zeros(len(texts), dtype=bool)
    for a, j, _ in normalized_chunks(texts, np.arange(len(texts))):
        at = np.fromiter((m.start() for m in pattern.finditer(j.s)), dtype=np.int64)
        if len(at):
            found[a + np.searchsorted(j.starts, at, side="right") - 1] = True
    return found


def _utc(s: pd.Series, tz: str = schema.TZ_DEFAULT) -> pd.Series:
    s = pd.to_datetime(s)
    if s.dt.tz is None:
        s = s.dt.tz_localize(tz)
    return s.dt.tz_convert("UTC").dt.as_unit("ns")


def _ns(s: pd.Series) -> np.ndarray:
    """int64 UTC nanoseconds (NaT → int64 min)."""
    return np.asarray(_utc(s).array.asi8, dtype=np.int64)



def _key_codes(left: pd.DataFrame, right: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key per row of ``left`` and ``right`` for the ``by`` columns (equal values → equal keys)."""
    lk = np.zeros(len(left), dtype=np.int64)
    rk = np.zeros(len(right), dtype=np.int64)
    for b in by:
        codes, uniq = pd.factorize(pd.concat([left[b], right[b]], ignore_index=True).astype("str"),
                                   use_na_sentinel=False)
        n = max(len(uniq), 1)
        lk = lk * n + codes[: len(left)]
        rk = rk * n + codes[len(left):]
    return lk, rk


def _asof(
    left: pd.DataFrame,
    left_on: str,
    right: pd.DataFrame,
    right_on: str,
    by: list[str],
    direction: str,
    tolerance: pd.Timedelta | None,
) -> np.ndarray:
    """For each row of ``left``: position (0-based) of the matched ``right`` row, or −1.

    ``backward``: the latest right row with time ≤ left time and ≥ left time − tolerance;
    ``forward``: the earliest right row with time ≥ left time and ≤ left time + tolerance.
    Both ends inclusive. Rows with a missing time never match.
    """
    out = np.full(len(left), -1, dtype=np.int64)
    if not len(left) or not len(right):
        return out
    lt, rt = _ns(left[left_on]), _ns(right[right_on])
    lmask, rmask = lt != NAT, rt != NAT
    if not lmask.any() or not rmask.any():
        return out
    lk, rk = _key_codes(left, right, by)
    L = pd.DataFrame({"_t": lt[lmask], "_k": lk[lmask], "_lpos": np.flatnonzero(lmask)})
    R = pd.DataFrame({"_t": rt[rmask], "_k": rk[rmask], "_rpos": np.flatnonzero(rmask)})
    L = L.sort_values("_t", kind="stable")
    R = R.sort_values(["_t", "_rpos"], kind="stable")
    tol = None if tolerance is None else int(tolerance.value)
    m = pd.merge_asof(L, R, on="_t", by="_k", direction=direction, tolerance=tol, allow_exact_matches=True)
    got = m["_rpos"].notna().to_numpy()
    out[m["_lpos"].to_numpy()[got]] = m["_rpos"].to_numpy()[got].astype(np.int64)
    return out


def _per_group(values: np.ndarray, codes: np.ndarray, n: int, how: str) -> np.ndarray:
    """``min``/``max`` of int64 ``values`` (or ``first``/``last`` row position) per code 0..n-1; −1/NaT if none."""
    fill = NAT if how in ("min", "max") else -1
    out = np.full(n, fill, dtype=np.int64)
    if len(values):
        g = pd.Series(values).groupby(codes, sort=False)
        res = getattr(g, how)()
        out[res.index.to_numpy()] = res.to_numpy()
    return out


def _conversation_frame(
    messages: pd.DataFrame, conversations: pd.DataFrame | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """(conversation_id, shop, customer, agent, start, end, n_customer_msgs, ask_start (inquiry start),
    last_text — one row per conversation; the conversation's row number for every message).
    Columns of ``conversations``, when given, win over the ones computed from the messages."""
    msgs = messages
    codes, ids = factorize_runs(msgs["conversation_id"].astype("str"))
    n = len(ids)
    rows = np.arange(len(msgs))
    is_agent = (msgs["role"] == "agent").to_numpy(dtype=bool)
    is_cust = (msgs["role"] == "customer").to_numpy(dtype=bool)
    ts = _ns(msgs["ts"])
    timed = ts != NAT
    first_row = _per_group(rows, codes, n, "first")
    base = pd.DataFrame({"conversation_id": pd.Series(ids, dtype="str")})
    given = None
    if conversations is not None:
        given = conversations.set_index(conversations["conversation_id"].astype("str")).reindex(base["conversation_id"])

    def col(name: str, computed) -> pd.Series:
        if given is not None and name in given.columns:
            return given[name].reset_index(drop=True)
        return computed()

    def take(column: str, at: np.ndarray) -> pd.Series:
        if column not in msgs.columns:
            return pd.Series(pd.NA, index=range(n), dtype="str")
        return pd.Series(msgs[column].astype("str").array.take(at, allow_fill=True), dtype="str")

    def times(ns: np.ndarray) -> pd.Series:
        return pd.Series(pd.to_datetime(ns.view("M8[ns]"), utc=True))

    base["shop"] = col("shop", lambda: take("shop", first_row))
    base["customer"] = col("customer", lambda: take("customer", first_row))
    agent_rows = rows[is_agent]
    base["agent"] = col("agent", lambda: take("agent", _per_group(agent_rows, codes[is_agent], n, "first")))
    base["start"] = col("start", lambda: times(_per_group(ts[timed], codes[timed], n, "min")))
    base["end"] = col("end", lambda: times(_per_group(ts[timed], codes[timed], n, "max")))
    base["n_customer_msgs"] = np.bincount(codes[is_cust], minlength=n).astype("int64")
    # the inquiry starts with the conversation (its first timed message), else at the first customer message
    cust_timed = is_cust & timed
    first_cust = _per_group(ts[cust_timed], codes[cust_timed], n, "min")
    ask = _ns(base["start"]) if len(base) else np.zeros(0, dtype=np.int64)
    base["ask_start"] = times(np.where(ask != NAT, ask, first_cust))
    base["last_text"] = take("text", _per_group(rows[is_cust], codes[is_cust], n, "last"))
    for c in ("shop", "customer", "agent"):
        base[c] = base[c].astype("str")
    return base, codes


def classify_inquiries(
    messages: pd.DataFrame,
    conversations: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    cfg: object | None = None,
    by: list[str] | None = None,
) -> pd.DataFrame:
    """Per conversation: ``conversation_id, is_inquiry, after_sales`` (definitions: module docstring)."""
    cc = _conversion_cfg(cfg)
    conv, codes = _conversation_frame(messages, conversations)
    out = _classify(messages, conv, codes, orders, cc, by or ["customer"])
    return out[["conversation_id", "is_inquiry", "after_sales"]]


def _classify(messages: pd.DataFrame, conv: pd.DataFrame, codes: np.ndarray, orders: pd.DataFrame | None,
              cc: ConversionConfig, by: list[str]) -> pd.DataFrame:
    conv = conv.copy()
    # the customer's first order created during the conversation cuts the text that is looked at
    cut_ns = np.full(len(conv), NAT, dtype=np.int64)
    if orders is not None and len(orders) and len(conv):
        pos = _asof(conv, "start", orders, "created", by, "forward", tolerance=None)
        has = pos >= 0
        if has.any():
            created = _ns(orders["created"])[pos[has]]
            end = _ns(conv["end"])[has]
            inside = (end != NAT) & (created <= end)
            cut_ns[np.flatnonzero(has)[inside]] = created[inside]
    cust = (messages["role"] == "customer").to_numpy(dtype=bool)
    cm_codes = codes[cust]
    cm_ts = _ns(messages["ts"])[cust]
    cm_cut = cut_ns[cm_codes]
    before = (cm_cut == NAT) | (cm_ts == NAT) | (cm_ts < cm_cut)
    pattern = after_sales_pattern(cc.after_sales_keywords)
    if pattern is not None and cust.any():
        text = messages["text"][cust].astype("str").fillna("")
        t_codes, t_uniques = pd.factorize(text)
        hit = _pattern_in(pattern, t_uniques)[t_codes] & before
    else:
        hit = np.zeros(int(cust.sum()), dtype=bool)
    spoke = conv["n_customer_msgs"].to_numpy() > 0
    after = spoke & (np.bincount(cm_codes[hit], minlength=len(conv)) > 0)
    conv["after_sales"] = after
    conv["is_inquiry"] = spoke & ~after
    return conv


def _match_keys(conv: pd.DataFrame, orders: pd.DataFrame) -> list[str]:
    if "shop" not in orders.columns or orders["shop"].isna().all() or conv["shop"].isna().all():
        return ["customer"]
    if set(orders["shop"].dropna().astype("str").unique()) & set(conv["shop"].dropna().astype("str").unique()):
        return ["shop", "customer"]
    log.warning("orders: no shop name in common with the chats; matching orders to chats by customer only")
    return ["customer"]


def conversion(
    messages: pd.DataFrame,
    conversations: pd.DataFrame | None,
    orders: pd.DataFrame | None,
    cfg: object | None = None,
) -> Conversion:
    """Inquiries, conversion and sales attribution; see the module docstring for every definition.

    ``messages`` — MESSAGES; ``conversations`` — the CONVERSATIONS rows built so far (any of
    ``shop, customer, agent, start, end`` missing are computed from ``messages``; None = all);
    ``orders`` — ORDERS (None or empty = no orders: every inquiry is lost, sales are 0);
    ``cfg`` — ``ConversionConfig`` (or a whole ``Config``). Inputs are not modified.
    """
    cc = _conversion_cfg(cfg)
    window = pd.Timedelta(hours=float(cc.window_h))
    tz = str(messages["ts"].dt.tz) if isinstance(messages["ts"].dtype, pd.DatetimeTZDtype) else schema.TZ_DEFAULT
    ords = schema.conform(orders, "orders", tz=tz) if orders is not None else schema.empty("orders", tz=tz)
    ords = ords.reset_index(drop=True)
    conv, codes = _conversation_frame(messages, conversations)
    by = _match_keys(conv, ords) if len(ords) else ["customer"]
    conv = _classify(messages, conv, codes, ords, cc, by)

    inq = conv[conv["is_inquiry"]].reset_index(drop=True)
    # final conversion: any order created / paid within [start, start + W]
    ordered = _asof(inq, "ask_start", ords, "created", by, "forward", window) >= 0 if len(ords) else np.zeros(len(inq), bool)
    paid = _asof(inq, "ask_start", ords, "paid", by, "forward", window) >= 0 if len(ords) else np.zeros(len(inq), bool)
    inq["ordered"], inq["paid"] = ordered, paid

    # attribution (落实): latest inquiry at or before the order's key time, within W
    by_created = _asof(ords, "created", inq, "ask_start", by, "backward", window)
    by_paid = _asof(ords, "paid", inq, "ask_start", by, "backward", window)
    if cc.attribution == "order":
        pos, how = by_created, np.where(by_created >= 0, "order", None)
    elif cc.attribution == "payment":
        pos, how = by_paid, np.where(by_paid >= 0, "payment", None)
    else:  # order_first
        pos = np.where(by_created >= 0, by_created, by_paid)
        how = np.where(by_created >= 0, "order", np.where(by_paid >= 0, "payment", None))
    attributed = pos >= 0
    o = ords.copy()
    o["conversation_id"] = pd.Series(inq["conversation_id"].astype("str").array.take(pos, allow_fill=True), dtype="str")
    o["agent"] = pd.Series(inq["agent"].astype("str").array.take(pos, allow_fill=True), dtype="str")
    o["attributed"] = attributed
    o["silent"] = ~attributed
    o["attributed_by"] = pd.Series(how, dtype="str")

    sales = _sales(o)
    conv_out = _conversation_table(conv, inq, o)
    lost = inq.loc[~inq["ordered"] & ~inq["paid"], ["conversation_id", "customer", "agent", "ask_start", "last_text"]]
    lost = lost.rename(columns={"ask_start": "start", "last_text": "text"})
    lost = lost.sort_values("start", kind="stable", na_position="last").reset_index(drop=True)
    agents = _agents(inq, o)
    log.info(
        "conversion: %d inquiries, %d orders (%d attributed, %d silent), CS sales %.2f of %.2f",
        len(inq), len(o), int(attributed.sum()), int((~attributed).sum()),
        sales["cs_sales"].iloc[0], sales["shop_sales"].iloc[0],
    )
    return Conversion(conversations=conv_out, orders=o, lost=lost, sales=sales, agents=agents)


def _sales(o: pd.DataFrame) -> pd.DataFrame:
    amount = o["amount"].astype("float64")
    att = o["attributed"].to_numpy(dtype=bool)
    shop_sales = float(amount.sum())
    cs_sales = float(amount[att].sum())
    silent_sales = float(amount[~att].sum())
    if o["order_id"].duplicated().any():
        log.warning("orders: %d duplicated order_id(s)", int(o["order_id"].duplicated().sum()))
    if int(att.sum()) + int((~att).sum()) != len(o) or not math.isclose(
        cs_sales + silent_sales, shop_sales, rel_tol=1e-9, abs_tol=1e-6
    ):
        raise ValueError(
            f"conversion: CS sales {cs_sales:.2f} + silent sales {silent_sales:.2f} != shop sales {shop_sales:.2f}"
        )
    cs = o.loc[att]
    buyers = int(cs[["shop", "customer"]].drop_duplicates().shape[0])
    refund = float(cs["refund"].astype("float64").sum())
    return pd.DataFrame(
        [
            {
                "shop_sales": shop_sales,
                "cs_sales": cs_sales,
                "silent_sales": silent_sales,
                "cs_buyers": buyers,
                "avg_order_value": cs_sales / buyers if buyers else np.nan,
                "refund_rate": refund / cs_sales if cs_sales else np.nan,
                "n_orders": len(o),
                "n_attributed": int(att.sum()),
                "n_silent": int((~att).sum()),
            }
        ]
    ).astype({"cs_buyers": "int64", "n_orders": "int64", "n_attributed": "int64", "n_silent": "int64"})


def _joined_per_key(df: pd.DataFrame, key: str, value: str) -> pd.Series:
    """``df.groupby(key)[value].agg(",".join)`` (values in row order; missing keys left out) without
    pandas' per-group Python aggregation: one stable sort of the key codes, one join per key."""
    codes, uniq = pd.factorize(df[key])
    keep = np.flatnonzero(codes >= 0)
    order = keep[np.argsort(codes[keep], kind="stable")]
    c = codes[order]
    vals = df[value].astype("str").to_numpy(dtype=object)[order].tolist()
    heads = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.zeros(0, dtype=np.int64)
    bounds = np.r_[heads, len(c)].tolist()
    joined = [",".join(vals[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return pd.Series(joined, index=pd.Index(np.asarray(uniq, dtype=object)[c[heads]], dtype="str"), dtype="str")


def _conversation_table(conv: pd.DataFrame, inq: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    out = conv[["conversation_id", "is_inquiry", "after_sales"]].copy()
    flags = inq.set_index("conversation_id")[["ordered", "paid"]]
    for col in ("ordered", "paid"):  # a conversation without a row in ``inq`` neither ordered nor paid
        out[col] = out["conversation_id"].map(flags[col].astype(bool)).astype("boolean").fillna(False).astype(bool)
    att = o[o["attributed"]]
    amount = att.groupby("conversation_id")["amount"].sum()
    ids = _joined_per_key(att.sort_values("created", kind="stable"), "conversation_id", "order_id")
    out["order_amount"] = out["conversation_id"].map(amount).fillna(0.0).astype("float64")
    out["order_id"] = out["conversation_id"].map(ids).astype("str")
    out["is_inquiry"] = out["is_inquiry"].astype(bool)
    out["after_sales"] = out["after_sales"].astype(bool)
    return out.reset_index(drop=True)[list(CONVERSATION_COLUMNS)]


def _agents(inq: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    i = inq[inq["agent"].notna()]
    cs = o[o["attributed"] & o["agent"].notna()]
    agents = pd.Index(sorted(set(i["agent"].unique()) | set(cs["agent"].unique())), dtype="str", name="agent")
    gi = i.groupby("agent")
    out = pd.DataFrame(index=agents)
    out["inquiries"] = gi.size().reindex(agents, fill_value=0).astype("int64")
    out["ordered_inquiries"] = gi["ordered"].sum().reindex(agents, fill_value=0).astype("int64")
    out["paid_inquiries"] = gi["paid"].sum().reindex(agents, fill_value=0).astype("int64")
    denom = out["inquiries"].where(out["inquiries"] > 0)
    out["order_conversion"] = (out["ordered_inquiries"] / denom).astype("float64")
    out["paid_conversion"] = (out["paid_inquiries"] / denom).astype("float64")
    go = cs.groupby("agent")
    sales = go["amount"].sum().reindex(agents, fill_value=0.0).astype("float64")
    out["cs_sales"] = sales
    out["cs_buyers"] = (
        cs.drop_duplicates(["agent", "shop", "customer"]).groupby("agent").size().reindex(agents, fill_value=0).astype("int64")
    )
    out["avg_order_value"] = (sales / out["cs_buyers"].where(out["cs_buyers"] > 0)).astype("float64")
    refund = go["refund"].sum().reindex(agents, fill_value=0.0)
    out["refund_rate"] = (refund / sales.where(sales > 0)).astype("float64")
    lost = i[~i["ordered"] & ~i["paid"]].groupby("agent").size()
    out["lost_inquiries"] = lost.reindex(agents, fill_value=0).astype("int64")
    return out.reset_index()[list(AGENT_COLUMNS)]
