"""Who speaks: sender → role, agent and shop; the customer of agent rows; the shop of buyer rows.

Definitions (all settings in :class:`csaudit.config.RolesConfig`):

* **agent side** — a sender ``店铺名:子账号`` (half- or full-width colon, both parts non-empty) or a
  row whose reader states role ``agent``/``auto_reply``/``bot``. ``agent`` is ``店铺名:子账号`` with the
  colon normalised to ``:``; ``shop`` is the part before it.
* **bot** — an agent-side row whose sub-account (after the colon) or full account is in
  ``bot_accounts``.
* **auto_reply** — an agent-side row whose text starts with one of ``auto_reply_prefixes`` or equals
  (after trimming whitespace) one of ``auto_reply_templates``; with ``auto_reply_zero_delay`` also
  an agent-side row sent 0 s after the previous customer message of the same source.
* **system** — a row the reader marked ``system``, or whose text matches a ``system_patterns``
  regular expression.
* **customer** — everything else; its ``customer`` is its sender.

Work is done once per distinct sender (few) and with vectorised Arrow string kernels on texts.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csaudit.arrays import arrow_strings
from csaudit.config import RolesConfig

AGENT_SIDE = ("agent", "auto_reply", "bot")


def split_account(sender: str, separators: list[str]) -> tuple[str, str] | None:
    """``("店铺名", "子账号")`` for an agent account, else ``None`` (first separator found wins)."""
    best = None
    for sep in separators:
        i = sender.find(sep)
        if i > 0 and (best is None or i < best[0]):
            best = (i, len(sep))
    if best is None:
        return None
    shop, sub = sender[: best[0]].strip(), sender[best[0] + best[1] :].strip()
    if not shop or not sub:
        return None
    return shop, sub


@lru_cache(maxsize=16)
def _re2_ok(pattern: str) -> bool:
    try:
        pc.match_substring_regex(pa.array(["x"]), pattern)
        return True
    except pa.ArrowInvalid:
        return False


def _per_distinct(texts: pd.Series, fn) -> np.ndarray | None:
    """``fn`` (Series → bool array) on the categories of a categorical, mapped back to the rows."""
    if not isinstance(texts.dtype, pd.CategoricalDtype):
        return None
    cats = pd.Series(texts.cat.categories, dtype="str")
    per = np.append(np.asarray(fn(cats), dtype=bool), False)
    codes = texts.cat.codes.to_numpy()
    return per[np.where(codes >= 0, codes, len(per) - 1)]


def match_any(texts: pd.Series, patterns: list[str]) -> np.ndarray:
    """True where a text matches any of ``patterns`` (regex search). Missing text → False.

    A categorical ``texts`` is matched once per distinct text."""
    if (hit := _per_distinct(texts, lambda c: match_any(c, patterns))) is not None:
        return hit
    if not patterns or len(texts) == 0:
        return np.zeros(len(texts), dtype=bool)
    combined = "|".join(f"(?:{p})" for p in patterns)
    if _re2_ok(combined):
        hit = pc.match_substring_regex(arrow_strings(texts), combined)
        return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    rx = re.compile(combined)
    codes, uniq = pd.factorize(texts)
    per = np.array([rx.search(u) is not None for u in uniq], dtype=bool)
    return np.where(codes >= 0, per[np.maximum(codes, 0)] if len(per) else False, False)


def _auto_reply_text(texts: pd.Series, cfg: RolesConfig) -> np.ndarray:
    if (hit := _per_distinct(texts, lambda c: _auto_reply_text(c, cfg))) is not None:
        return hit
    arr = arrow_strings(texts)
    hit = np.zeros(len(arr), dtype=bool)
    for p in cfg.auto_reply_prefixes:
        if p:
            hit |= pc.fill_null(pc.starts_with(arr, p), False).to_numpy(zero_copy_only=False)
    templates = [t.strip() for t in cfg.auto_reply_templates if t.strip()]
    if templates:
        trimmed = pc.utf8_trim_whitespace(arr)
        hit |= pc.fill_null(pc.is_in(trimmed, pa.array(templates)), False).to_numpy(zero_copy_only=False)
    return hit


def accounts(senders: pd.Index, cfg: RolesConfig) -> dict[str, object]:
    """Per distinct sender: ``is_agent``, ``is_bot`` (numpy bool), ``agent`` (``店铺名:子账号``, or the
    sender itself when it is not an account) and ``shop`` (Arrow strings, null when not an account)."""
    arr = pa.array(np.asarray(senders, dtype=object), type=pa.string())
    seps = "|".join(re.escape(x) for x in cfg.agent_separators if x) or ":"
    ex = pc.extract_regex(arr, rf"^(?P<shop>.+?)(?:{seps})(?P<sub>.*)$")
    valid = ex.is_valid()
    shop = pc.utf8_trim_whitespace(ex.field("shop"))
    sub = pc.utf8_trim_whitespace(ex.field("sub"))
    ok = pc.and_(pc.and_(valid, pc.not_equal(shop, "")), pc.not_equal(sub, ""))
    ok = pc.fill_null(ok, False)
    agent = pc.binary_join_element_wise(shop, sub, ":")
    bots = pa.array(list(cfg.bot_accounts), type=pa.string())
    bot = pc.and_(ok, pc.or_(pc.is_in(sub, bots), pc.is_in(agent, bots)))
    return {
        "is_agent": ok.to_numpy(zero_copy_only=False),
        "is_bot": pc.fill_null(bot, False).to_numpy(zero_copy_only=False),
        "agent": pc.if_else(ok, agent, arr),
        "shop": pc.if_else(ok, shop, pa.nulls(len(arr), pa.string())),
    }


def str_categorical(codes: np.ndarray, categories: pd.Index | pa.Array, index: pd.Index | None = None) -> pd.Series:
    """A categorical Series of strings from ``codes`` (-1 → missing) over ``categories``, which the
    caller guarantees distinct and non-missing (e.g. a factorisation's uniques).

    pandas would re-check that (a hash of every category, ≈ 0.1 s per 300k texts); this skips it.
    """
    if isinstance(categories, (pa.Array, pa.ChunkedArray)):
        categories = pd.Index(categories.to_pandas(), dtype="str", copy=False)
    elif categories.dtype != "str":
        categories = pd.Index(categories, dtype="str")
    codes = np.asarray(codes)
    k = len(categories)  # pandas' code widths (coerce_indexer_dtype)
    width = np.int8 if k < 127 else np.int16 if k < 32767 else np.int32 if k < 2**31 - 1 else np.int64
    try:
        dtype = pd.CategoricalDtype._from_fastpath(categories, False)
    except AttributeError:  # pragma: no cover - a pandas without the fast path: validated
        dtype = pd.CategoricalDtype(categories)
    cat = pd.Categorical.from_codes(codes.astype(width, copy=False), dtype=dtype, validate=False)
    return pd.Series(cat, index=index, copy=False)


def _str_take(uniques: list[str | None] | pa.Array, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``uniques[codes]`` (code -1 → missing) as a categorical Series of strings.

    Categorical keeps the many repeated names cheap to reorder; ``read_chats`` turns them into
    ``str`` once, in the final row order.
    """
    vals = pd.Series(uniques.to_pandas() if isinstance(uniques, pa.Array) else uniques, dtype="str")
    ucodes, uniq = pd.factorize(vals)
    ucodes = np.append(ucodes, -1)
    codes = np.asarray(codes, dtype=np.int64)
    new = ucodes[np.where(codes >= 0, codes, len(ucodes) - 1)]
    return str_categorical(new, pd.Index(uniq, dtype="str"), index)


def _text_rules(texts: pd.Series, cfg: RolesConfig, check_system: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: matches a system pattern (only computed when ``check_system``), is an auto-reply text."""
    sys_any = match_any(texts, cfg.system_patterns) if check_system else np.zeros(len(texts), dtype=bool)
    return sys_any, _auto_reply_text(texts, cfg)


def _sender_roles(out: pd.DataFrame, cfg: RolesConfig) -> tuple[np.ndarray, ...]:
    """What the senders and stated roles say: ``(role, agent_side, is_bot_sender, sender codes,
    accounts, stated)`` with ``role`` = the stated role code (-1 when none)."""
    from csaudit.model.schema import ROLES

    # per distinct sender: agent account? bot? (Arrow kernels over the distinct senders)
    codes, uniq = pd.factorize(out["sender"])
    acct = accounts(pd.Index(uniq, dtype="str"), cfg)
    u_is_agent = np.append(acct["is_agent"], False)
    u_bot = np.append(acct["is_bot"], False)
    is_agent_sender = u_is_agent[codes]  # code -1 → the trailing False
    is_bot_sender = u_bot[codes]

    # stated roles (per distinct value)
    r_codes, r_uniq = pd.factorize(out["role"])
    known = {r: i for i, r in enumerate(ROLES)}
    bad = [r for r in r_uniq if r not in known]
    if bad:
        raise ValueError(f"unknown role value(s) {bad[:5]}; expected one of {', '.join(ROLES)}")
    stated = np.array([known[r] for r in r_uniq] + [-1], dtype=np.int64)[r_codes]
    has_stated = stated >= 0
    stated_agent_side = (stated == known["agent"]) | (stated == known["auto_reply"]) | (stated == known["bot"])
    agent_side = stated_agent_side | (~has_stated & is_agent_sender)
    return stated.copy(), agent_side, is_bot_sender, codes, acct, stated


def assign_roles(messages: pd.DataFrame, cfg: RolesConfig | None = None) -> pd.DataFrame:
    """Add/complete ``role``, ``agent`` and ``shop`` from ``sender``, ``text`` and reader hints.

    Input: parsed messages (``sender``, ``text``, optional ``role``, ``agent``, ``shop``, ``ts``,
    ``source``). Returns a new frame (the input is not modified) with ``role`` as the ROLES
    category. Reader-stated ``role``/``agent``/``shop`` win over what the sender implies.
    """
    from csaudit.model.schema import ROLE_DTYPE, ROLES

    cfg = cfg or RolesConfig()
    out = messages.copy(deep=False)  # copy-on-write: columns are replaced, never written in place
    n = len(out)
    for col in ("role", "agent", "shop"):
        if col not in out.columns:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="str")

    with ThreadPoolExecutor(max_workers=1) as pool:
        # the text rules (Arrow regex kernels over the distinct texts, GIL released) run while the
        # senders and stated roles are worked out
        check_system = bool(out["role"].isna().any())
        text_rules = pool.submit(_text_rules, out["text"], cfg, check_system)
        role, agent_side, is_bot_sender, codes, acct, stated = _sender_roles(out, cfg)
        sys_any, auto = text_rules.result()
    C, A, AR, B, S = (ROLES.index(r) for r in ("customer", "agent", "auto_reply", "bot", "system"))
    open_ = stated < 0
    if open_.any():
        sys_hit = sys_any & open_
        role[sys_hit] = S
        open_ &= ~sys_hit
    bot = open_ & agent_side & is_bot_sender
    role[bot] = B
    open_ &= ~bot
    if cfg.auto_reply_zero_delay and "ts" in out.columns:
        auto |= _zero_delay(out, agent_side)
    role[open_ & agent_side & auto] = AR
    open_ &= ~(agent_side & auto)
    role[open_ & agent_side] = A
    role[open_ & ~agent_side] = C
    role[(stated == A) & auto] = AR  # a stated agent row whose text is a configured auto-reply
    out["role"] = pd.Series(pd.Categorical.from_codes(role, dtype=ROLE_DTYPE), index=out.index)

    # agent / shop from the account, unless the reader stated them
    acct_agent = acct["agent"]
    acct_shop = acct["shop"]
    side_codes = np.where(agent_side, codes, -1)
    agent = _str_take(acct_agent, side_codes, out.index) if n else out["agent"]
    shop = _str_take(acct_shop, side_codes, out.index) if n else out["shop"]
    if out["agent"].notna().any():
        stated_agent = out["agent"].astype("str")
        agent = stated_agent.where(stated_agent.notna() | ~agent_side, agent.astype("str")).where(agent_side)
    if out["shop"].notna().any():
        stated_shop = out["shop"].astype("str")
        shop = stated_shop.where(stated_shop.notna(), shop.astype("str"))
    out["agent"] = agent
    out["shop"] = shop
    return out


def _zero_delay(df: pd.DataFrame, agent_side: np.ndarray) -> np.ndarray:
    """Agent-side rows sent in the same second as the previous row, which is a customer row."""
    ts = pd.to_datetime(df["ts"]).to_numpy()
    same_src = np.ones(len(df), dtype=bool)
    if "source" in df.columns:
        src = df["source"]
        src = src.cat.codes.to_numpy() if isinstance(src.dtype, pd.CategoricalDtype) else src.to_numpy(dtype=object)
        same_src[1:] = src[1:] == src[:-1]
    prev_customer = np.zeros(len(df), dtype=bool)
    prev_customer[1:] = ~agent_side[:-1]
    zero = np.zeros(len(df), dtype=bool)
    if len(df) > 1:
        zero[1:] = ts[1:] == ts[:-1]
    return agent_side & prev_customer & zero & same_src


def _fill_codes(codes: np.ndarray, group: np.ndarray, forward: bool) -> np.ndarray:
    """Forward (or backward) fill of non-negative ``codes`` over -1 gaps, within runs of ``group``."""
    n = len(codes)
    if n == 0:
        return codes
    if not forward:
        return _fill_codes(codes[::-1], group[::-1], True)[::-1]
    idx = np.where(codes >= 0, np.arange(n), -1)
    start = np.ones(n, dtype=bool)
    start[1:] = group[1:] != group[:-1]
    gstart = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    last = np.maximum.accumulate(idx)
    ok = last >= gstart
    return np.where(ok, codes[np.maximum(last, 0)], -1)


def _most_common_per_group(g: np.ndarray, codes: np.ndarray, known: np.ndarray, need: np.ndarray,
                           n_codes: int, default: int) -> np.ndarray:
    """For the ``need`` rows: the most common of the ``known`` rows' ``codes`` in their group ``g``
    (ties → the smallest code), ``default`` for groups without known rows. One bincount over
    (group, code) pairs when that table is small, else a pandas ``value_counts``."""
    if g.dtype.kind in "iu" and len(g) and g.min() >= 0 and (int(g.max()) + 1) * n_codes <= 10_000_000:
        gc, n_groups = g.astype(np.int64), int(g.max()) + 1
    else:
        gc, gu = pd.factorize(g)
        n_groups = len(gu)
    if n_groups * n_codes <= 10_000_000:
        table = np.bincount(gc[known] * n_codes + codes[known], minlength=n_groups * n_codes).reshape(n_groups, n_codes)
        best = np.where(table.any(axis=1), table.argmax(axis=1), default)  # argmax: first (smallest) code
        return best[gc[need]].astype(np.int64)
    pair = pd.DataFrame({"g": gc[known], "s": codes[known]}).value_counts().reset_index()
    top = pair.sort_values(["g", "count", "s"], ascending=[True, False, True]).drop_duplicates("g")
    per_group = np.full(n_groups, default, dtype=np.int64)
    per_group[top["g"].to_numpy()] = top["s"].to_numpy()
    return per_group[gc[need]]


def derive_parties(messages: pd.DataFrame, group: pd.Series | np.ndarray) -> pd.DataFrame:
    """Fill ``customer`` of non-customer rows and ``shop`` of buyer rows within each file.

    ``group`` labels the file of each row (rows of a file are contiguous and in file order).
    Agent-side rows take the last buyer before them (forward fill), or the first buyer after them
    when none precedes; ``system`` rows take the next buyer (a notice before a header belongs to
    what follows), else the last. Buyer rows take the most common shop of the file's agent-side
    rows, else of the whole batch, else ``"unknown"``; rows still without a customer get ``"unknown"``.
    """
    out = messages.copy(deep=False)  # copy-on-write: columns are replaced, never written in place
    g = np.asarray(group)
    role = out["role"]
    if isinstance(role.dtype, pd.CategoricalDtype):
        cats = list(role.cat.categories)
        rc = role.cat.codes.to_numpy()
        is_customer = rc == (cats.index("customer") if "customer" in cats else -2)
        is_sys = rc == (cats.index("system") if "system" in cats else -2)
    else:
        r = role.astype("str")
        is_customer, is_sys = r.eq("customer").to_numpy(), r.eq("system").to_numpy()
    stated = out["customer"] if "customer" in out.columns else pd.Series(pd.NA, index=out.index, dtype="str")
    stated_na = stated.isna().to_numpy()
    if stated_na.all():
        codes, uniq = pd.factorize(out["sender"])
        codes = np.where(is_customer, codes, -1)
    else:
        # candidate customer name per row: stated, else own sender for customer rows
        stated = stated.astype("str")
        fill_own = stated_na & is_customer
        names = stated.where(~fill_own, out["sender"].astype("str")) if fill_own.any() else stated
        codes, uniq = pd.factorize(names)
    uniq_l = pa.array(list(np.asarray(uniq, dtype=object)) + ["unknown"], type=pa.string())
    need = codes < 0
    if need.any():
        buyer = np.where(is_customer, codes, -1)
        ff, bf = _fill_codes(buyer, g, True), _fill_codes(buyer, g, False)
        fill = np.where(is_sys, np.where(bf >= 0, bf, ff), np.where(ff >= 0, ff, bf))
        codes = np.where(need, fill, codes)
    codes = np.where(codes < 0, len(uniq_l) - 1, codes)
    out["customer"] = _str_take(uniq_l, codes, out.index)

    shop = out["shop"]
    need = shop.isna().to_numpy()
    if need.any():
        s_codes, s_uniq = pd.factorize(shop)
        known = s_codes >= 0
        if known.any():
            counts = np.bincount(s_codes[known], minlength=len(s_uniq))
            batch = int(np.argmax(counts))
            fill = _most_common_per_group(g, s_codes, known, need, len(s_uniq), batch)
            s_codes = s_codes.copy()
            s_codes[need] = fill
            out["shop"] = _str_take(list(s_uniq), s_codes, out.index)
        else:
            out["shop"] = pd.Series("unknown", index=out.index, dtype="str")
    return out
