"""Conversations: messages of one shop and customer, split by idle gaps and (optionally) midnight.

Definition (settings in :class:`csaudit.config.SessionConfig`): within the same ``shop`` and
``customer``, ordered by time, a new conversation starts when the gap to the previous message is
longer than ``idle_gap_min`` minutes, or (``split_on_day``) when the local calendar day changes.
Rows without a timestamp (``NaT``) stay with their neighbours in file order: they borrow the
timestamp of the next timestamped row of the same file, shop and customer (else the previous one)
for ordering and splitting only. When the export names its own conversations (a non-missing
``conversation`` column), that key defines the conversation instead.

``conversation_id`` = ``"c"`` + 12 hex digits of a hash of (shop, customer, first timestamp) or of
(shop, customer, the export's key), so it does not change when the same export is read again.
Vectorised: one sort, one diff, one cumulative sum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from csaudit.arrays import arrow_series
from csaudit.config import SessionConfig

_NAT = np.iinfo(np.int64).min


def hash_strings(values: pd.Series | pd.Index | np.ndarray | pa.Array) -> np.ndarray:
    """Stable 64-bit hashes of strings (pandas' SipHash with its fixed key), one per value.

    Strings held by Arrow (an Arrow string array, or an Arrow-backed ``str`` Series/Index) without
    missing values are hashed from their UTF-8 bytes as ``bytes`` objects: pandas hashes ``str`` by
    its UTF-8 encoding and ``bytes`` as they are, so the hashes are the same, ≈ 3x faster (no
    ``str`` objects to build and encode again)."""
    arr = _arrow_strings(values)
    if arr is not None:
        if len(arr) == 0:
            return np.zeros(0, dtype=np.uint64)
        binary = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
        return pd.util.hash_array(arr.cast(binary).to_numpy(zero_copy_only=False), categorize=False)
    arr = np.asarray(values, dtype=object)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(arr, categorize=False)


def _arrow_strings(values: object) -> pa.Array | None:
    """The Arrow string array behind ``values`` if there is one and it has no nulls, else None."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = getattr(values.array, "_pa_array", None)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values if values.null_count == 0 else None
    return None


def mix(*parts: np.ndarray) -> np.ndarray:
    """Combine uint64 arrays into one stable 64-bit hash per row (order-sensitive)."""
    n = len(parts[0])
    h = np.full(n, 0x9E3779B97F4A7C15, dtype=np.uint64)
    t = np.empty(n, dtype=np.uint64)
    u = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for p in parts:
            x = np.asarray(p).astype(np.uint64, copy=False)
            # h ^= x + golden + (h << 6) + (h >> 2), in place (sums are mod 2**64, in any order)
            np.left_shift(h, np.uint64(6), out=t)
            np.right_shift(h, np.uint64(2), out=u)
            t += u
            t += x
            t += np.uint64(0x9E3779B97F4A7C15)
            h ^= t
            # splitmix64 finaliser
            np.right_shift(h, np.uint64(30), out=t)
            h ^= t
            h *= np.uint64(0xBF58476D1CE4E5B9)
            np.right_shift(h, np.uint64(27), out=t)
            h ^= t
            h *= np.uint64(0x94D049BB133111EB)
            np.right_shift(h, np.uint64(31), out=t)
            h ^= t
    return h


RADIX_MAX_BITS = 48
"""Integer keys spanning fewer bits than this may be sorted by 16-bit radix passes (numpy's stable
sort is a radix sort for 16-bit keys: one pass ≈ 15 ms per 1M rows, where its timsort takes ≈ 100 ms
on random int64 keys but less on keys made of few sorted runs)."""


def stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` for integer keys (same permutation: ties keep row order).

    Already sorted keys cost one comparison pass; keys spanning 16 bits one radix pass; wider keys
    with few descending steps go to timsort (which merges sorted runs), others to 16-bit radix
    passes, least significant digit first."""
    key = np.asarray(key)
    n = len(key)
    if n == 0 or key.dtype.kind not in "iu":
        return np.argsort(key, kind="stable")
    desc = int(np.count_nonzero(key[1:] < key[:-1]))
    if desc == 0:
        return np.arange(n, dtype=np.int64)
    lo, hi = int(key.min()), int(key.max())
    if hi - lo >= 2**RADIX_MAX_BITS or (hi - lo >= 2**16 and desc * 8 < n):
        return np.argsort(key, kind="stable")
    if key.dtype.kind == "u":
        k = key.astype(np.uint64) - np.uint64(lo)
    else:
        k = (key.astype(np.int64) - np.int64(lo)).astype(np.uint64)
    order = np.argsort((k & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    shift = 16
    while (hi - lo) >> shift:
        digit = ((k[order] >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLES = np.arange(65536)[:, None] >> np.array([12, 8, 4, 0]) & 15
_HEX4 = np.ascontiguousarray(_HEX[_NIBBLES]).view(np.uint32).ravel()
"""The 4 hex digits of each 16-bit value, as 4 bytes viewed as one uint32 (one gather per 16 bits)."""


def hex_arrow(h: np.ndarray, digits: int = 16, prefix: str = "") -> pa.Array:
    """uint64 hashes → Arrow strings ``prefix`` + the first ``digits`` hex digits (no Python loop)."""
    h = np.asarray(h, dtype=np.uint64)
    n = len(h)
    width = len(prefix) + digits
    chunks = h.astype(">u8").view(">u2").reshape(n, 4).astype(np.intp)  # most significant first
    hexd = _HEX4[chunks].view(np.uint8).reshape(n, 16)
    if width == 16:
        out = hexd
    else:
        out = np.empty((n, width), dtype=np.uint8)
        out[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
        out[:, len(prefix):] = hexd[:, :digits]
    big = n * width >= 2**31
    offsets = np.arange(n + 1, dtype=np.int64 if big else np.int32) * width
    typ = pa.large_string() if big else pa.string()
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(out))])


def to_hex(h: np.ndarray, digits: int = 16, prefix: str = "", index: pd.Index | None = None) -> pd.Series:
    """uint64 hashes → ``str`` Series of ``prefix`` + the first ``digits`` hex digits (no Python loop)."""
    return arrow_series(hex_arrow(h, digits, prefix), index, "str")


def nearest_valid(valid: np.ndarray, group: np.ndarray, *, order: np.ndarray | None = None) -> np.ndarray:
    """For each row (rows in order), the index of the next ``valid`` row of the same ``group``, else
    the previous one, else -1. Groups need not be contiguous. Vectorised (one stable sort).

    ``order``: ``stable_argsort(group)`` when the caller already has it."""
    n = len(valid)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if order is None:
        order = stable_argsort(group)  # groups contiguous, rows in order within each
    identity = bool(order[0] == 0 and np.all(order[1:] - order[:-1] == 1))
    g = np.asarray(group) if identity else np.asarray(group)[order]
    v = np.asarray(valid) if identity else np.asarray(valid)[order]
    pos = np.arange(n)
    # previous valid row (sorted position) and next one, then kept only within the same group
    last = np.maximum.accumulate(np.where(v, pos, -1))
    prev = np.where((last >= 0) & (g[np.maximum(last, 0)] == g), last, -1)
    nxt = np.minimum.accumulate(np.where(v, pos, n)[::-1])[::-1]
    nxt = np.where((nxt < n) & (g[np.minimum(nxt, n - 1)] == g), nxt, -1)
    near_sorted = np.where(nxt >= 0, nxt, prev)
    if identity:
        return near_sorted.astype(np.int64, copy=False)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.where(near_sorted >= 0, order[np.maximum(near_sorted, 0)], -1)
    return out


def _hash_uniques(u: pd.Index) -> np.ndarray:
    """:func:`hash_strings` of ``u.astype(object)`` (the uniques of :func:`codes_of`), from the
    Arrow strings behind them when there are (a categorical's categories, an Arrow ``str`` index)."""
    if isinstance(u, pd.CategoricalIndex) and _arrow_strings(u.categories) is not None and bool((u.codes >= 0).all()):
        return hash_strings(u.categories)[u.codes]
    if _arrow_strings(u) is not None:
        return hash_strings(u)
    return hash_strings(u.astype(object))


def codes_of(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize`` with missing values as their own code."""
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    return codes.astype(np.int64), pd.Index(uniq)


def conversation_order(messages: pd.DataFrame, session_cfg: SessionConfig | None = None,
                       file_order: np.ndarray | None = None, tz: str = "Asia/Shanghai") -> tuple[np.ndarray, pd.Series]:
    """``(order, conversation_id)``: the row order (conversation, time, file order) and the id of
    each row *in that order*. See :func:`assign_conversations`."""
    cfg = session_cfg or SessionConfig()
    n = len(messages)
    if n == 0:
        return np.zeros(0, dtype=np.int64), pd.Series([], dtype="str")
    order0 = np.arange(n) if file_order is None else np.asarray(file_order)
    shop_c, shop_u = codes_of(messages["shop"])
    cust_c, cust_u = codes_of(messages["customer"])
    party = shop_c * (len(cust_u) + 1) + cust_c

    ts = messages["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(ts.dtype):
        ts = pd.to_datetime(ts)
    local = ts.dt.tz_convert(tz).dt.tz_localize(None) if isinstance(ts.dtype, pd.DatetimeTZDtype) else ts
    t = local.dt.as_unit("ns").to_numpy().view(np.int64).copy()

    fo = np.argsort(order0, kind="stable")  # row numbers in file order
    party_fo = stable_argsort(party[fo])  # positions in fo: grouped by party, file order within
    by_party = fo[party_fo]

    # NaT rows borrow a neighbour's time within their file, shop and customer (file order)
    nat = t == _NAT
    tkey = t
    if nat.any():
        src = messages["source"] if "source" in messages.columns else pd.Series("", index=messages.index)
        src_c, _ = codes_of(src)
        key = party[fo] * (int(src_c.max()) + 2) + src_c[fo]
        # rows grouped by party in file order are grouped by (party, source) too when each party's
        # sources come in order (as read_chats gives them): then that is the sort nearest_valid needs
        kp = key[party_fo]
        hint = party_fo if bool(np.all(kp[1:] >= kp[:-1])) else None
        near = nearest_valid(~nat[fo], key, order=hint)
        t_fo = t[fo]
        borrowed = np.where(near < 0, _NAT, t_fo[np.maximum(near, 0)])
        tkey = np.empty(n, dtype=np.int64)
        tkey[fo] = np.where(nat[fo], borrowed, t_fo)

    has_key = np.zeros(n, dtype=bool)
    if "conversation" in messages.columns:
        conv = messages["conversation"]
        has_key = conv.notna().to_numpy()

    sort_t = np.where(tkey == _NAT, np.iinfo(np.int64).max, tkey)
    # np.lexsort((order0, sort_t, [ck,] party)): when each party's rows are already in time order in
    # file order (the usual export), the rows grouped by party are that order; else stable sorts,
    # least significant key first
    if has_key.any():
        kc, ku = codes_of(conv)  # works for str and categorical keys; rows without a key: -1
        ck = np.where(has_key, kc, -1)
        idx = fo[np.argsort(sort_t[fo], kind="stable")]
        idx = idx[stable_argsort(ck[idx])]
        idx = idx[stable_argsort(party[idx])]
    else:
        st, ps = sort_t[by_party], party[by_party]
        if bool(np.all((st[1:] >= st[:-1]) | (ps[1:] != ps[:-1]))):  # each party's rows already in time order
            idx = by_party
        else:
            idx = fo[np.argsort(sort_t[fo], kind="stable")]
            idx = idx[stable_argsort(party[idx])]
    p_s, t_s, k_s = party[idx], tkey[idx], has_key[idx]
    new = np.ones(n, dtype=bool)
    same = p_s[1:] == p_s[:-1]
    gap_ns = int(cfg.idle_gap_min * 60 * 1_000_000_000)
    both = (t_s[1:] != _NAT) & (t_s[:-1] != _NAT)
    split = both & ((t_s[1:] - t_s[:-1]) > gap_ns)
    if cfg.split_on_day:
        day = np.floor_divide(t_s, 86_400_000_000_000)
        split |= both & (day[1:] != day[:-1])
    if has_key.any():
        ck_s = ck[idx]
        keyed = k_s[1:] | k_s[:-1]
        split = np.where(keyed, (ck_s[1:] != ck_s[:-1]) | (k_s[1:] != k_s[:-1]), split)
    new[1:] = ~same | split
    starts = np.flatnonzero(new)

    # id of each conversation: hash(shop, customer, first time) or hash(shop, customer, key)
    sh = _hash_uniques(shop_u)[shop_c[idx][starts]]
    ch = _hash_uniques(cust_u)[cust_c[idx][starts]]
    first_t = t_s[starts].astype(np.uint64)
    if has_key.any():
        ku_names = np.asarray(ku.astype("str").fillna(""), dtype=object)
        key_h = hash_strings(ku_names)[kc[idx][starts]]
        flag = k_s[starts].astype(np.uint64)
        third = np.where(k_s[starts], key_h, first_t)
    else:
        third, flag = first_t, np.zeros(len(starts), dtype=np.uint64)
    ids = mix(sh, ch, third, flag)

    # conversations in order of their start (then shop/customer), rows within in time/file order
    start_t = np.where(t_s[starts] == _NAT, np.iinfo(np.int64).max, t_s[starts])
    # (each conversation is a block of idx: the blocks are moved, not the rows sorted)
    by_start = np.argsort(start_t, kind="stable")  # conversations in output order
    lens = np.diff(np.append(starts, n))[by_start]
    new_starts = np.cumsum(lens) - lens
    within = np.arange(n) + np.repeat(starts[by_start] - new_starts, lens)
    return idx[within], _repeat_hex(ids[by_start], lens, 12, "c")


def _repeat_hex(h: np.ndarray, counts: np.ndarray, digits: int, prefix: str) -> pd.Series:
    """``to_hex(np.repeat(h, counts), digits, prefix)``, formatting each value once."""
    one = hex_arrow(h, digits, prefix)
    width = len(prefix) + digits
    data = np.frombuffer(one.buffers()[2], dtype=np.uint8, count=len(h) * width).reshape(len(h), width)
    n = int(counts.sum())
    rows = np.repeat(data, counts, axis=0)
    big = n * width >= 2**31
    offsets = np.arange(n + 1, dtype=np.int64 if big else np.int32) * width
    arr = pa.Array.from_buffers(pa.large_string() if big else pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rows)])
    return pd.Series(arr.to_pandas(), dtype="str")


def assign_conversations(messages: pd.DataFrame, session_cfg: SessionConfig | None = None,
                         file_order: np.ndarray | None = None, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Add ``conversation_id`` and return the messages sorted by conversation, then time, then file order.

    ``messages`` needs ``shop``, ``customer``, ``ts`` (tz-aware or naive, NaT allowed) and optionally
    ``conversation`` (the export's own key) and ``source`` (for NaT neighbours). ``file_order``
    gives each row's position in file order (default: the current row order). The input is not
    modified; the result has a fresh 0..n-1 index. ``tz`` is the shop's timezone (local midnight).
    Conversations are ordered by their first timestamp.
    """
    idx, cid = conversation_order(messages, session_cfg, file_order, tz)
    res = messages.take(idx).reset_index(drop=True)
    res["conversation_id"] = cid
    return res
