"""Turns and 首问首答 rounds (DESIGN §3, §5).

Both functions are fully vectorised (numpy positions, cumulative sums, no per-conversation Python
loop): about a second per million messages (``benchmarks/bench_rounds.py``).

Input is the MESSAGES table. Rows are taken in the order given inside each conversation (MESSAGES is
sorted by conversation then time; rows with a missing timestamp keep their place). Conversations
whose rows are not contiguous are grouped with a stable sort, so the order inside each conversation
is still the given one. The caller's frame is never modified.

Round (首问首答)
    Starts at the first customer message after the last valid reply of the conversation (or at the
    conversation's first customer message); further customer messages before a reply merge into it
    and the clock runs from the FIRST of them. It ends at the first valid reply: a message with role
    ``agent``. ``auto_reply``, ``bot`` and ``system`` messages never answer a round. Agent messages
    with no customer message before them (proactive messages, several replies in a row) open no round.
    Transfers: a ``由 A 转交给 B`` system line whose source A is a human agent (an account that sends
    ``agent`` messages somewhere in the input) closes the open round *unanswered for A* (``transfer``
    = True): a transfer without a reply leaves the round unanswered for the first account, and the
    customer's next message opens B's round (B's greeting before that answers no round). A hand-over
    from a routing assistant or the bot (服务助手, 店小蜜 — accounts that never send ``agent``
    messages) is only routing and closes nothing. Apart from the last round of a conversation, only a
    transfer leaves a round unanswered.

Acknowledgements (``LatencyConfig.acknowledgements``)
    A customer message that only acknowledges (好的, 谢谢, 没有了, 嗯嗯, 我再看看, 好的，谢谢 …; see
    :func:`acknowledgement_mask`) opens no round: where it would open one it belongs to none (not
    counted in any round's ``n_messages``), and the next non-acknowledgement customer message opens
    the round, its clock starting there. Inside a round already opened by another customer message
    it is one more of that round's messages (``n_messages``) and changes nothing else (the clock
    still runs from the round's first message). A conversation whose customer only acknowledges has
    no round. An empty list restores the plain definition: every customer message can open a round.

Round columns (ROUNDS, plus four evidence columns after them)
    ``conversation_id``, ``customer``;
    ``agent`` — the agent who sent the valid reply; for a round closed by a transfer, the transfer's
    source account; for the open last round, the account of the last reply or transfer before it in
    the conversation (the conversation's current agent); else the conversation's primary agent
    (first valid responder); else NA (only auto-replies or the bot spoke: nobody to credit);
    ``round`` — 1-based number within the conversation;
    ``start`` — time of the round's first customer message; ``reply`` — time of the valid reply (NaT
    if unanswered or not timestamped);
    ``response_s`` — seconds from ``start`` to ``reply``; NA when unanswered or either time is
    missing; never negative (a reply stamped before its question, which only out-of-order exports
    produce, counts as 0 s and is logged);
    ``capped_s`` — ``min(response_s, cap_s)`` for answered rounds; for unanswered rounds ``cap_s``
    under ``unanswered = "cap"`` and NA under ``"exclude"``; NA when the times are missing;
    ``answered`` — a valid reply exists;
    ``in_hours`` — ``start`` (local time in ``LatencyConfig.timezone``) is within
    ``[service_start, service_end)``; a window with end ≤ start wraps past midnight (e.g. 08:00–02:00);
    a round with no timestamp counts as in hours (nothing says it is not);
    ``slow`` (慢响应) — an in-hours round whose response took longer than ``slow_s`` (strictly
    greater); an unanswered in-hours round is slow under the ``cap`` policy (it counts as ``cap_s``,
    which is above ``slow_s``) and not slow under ``exclude`` (it is reported by the reply rate
    instead). Rounds outside service hours are never slow, so ``rounds.slow.sum()`` is the agent's
    慢响应 count;
    ``n_messages`` — customer messages merged into the round; ``transfer`` — the round was closed
    unanswered by a transfer line; ``start_message_id`` and
    ``reply_message_id`` — the messages behind ``start`` and ``reply`` (evidence links).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from csaudit.arrays import NAT, factorize_runs, first_per_group
from csaudit.config import LatencyConfig
from csaudit.model import schema

log = logging.getLogger(__name__)

NS = 1_000_000_000
_TRANSFER = re.compile(r"^\s*由\s*(?P<src>\S+?)\s*转交给\s*(?P<dst>\S+)")

ROUND_EXTRA = ("n_messages", "transfer", "start_message_id", "reply_message_id")
"""Evidence columns that :func:`rounds` adds after the ROUNDS schema columns."""


# -- acknowledgements --------------------------------------------------------------------------
#: what separates the phrases of an acknowledgement: whitespace, punctuation, symbols (emoji are
#: symbols), emoji modifiers and joiners, and bracketed emoticon codes such as ``[微笑]`` (RE2 syntax)
ACK_SEPARATOR = r"(?:[\s\p{P}\p{S}\x{200D}\x{FE00}-\x{FE0F}]|\[[^\[\]\s]{1,8}\])"
#: sentence-final particles that may follow each phrase of an acknowledgement (没有了呢, 好的哈)
ACK_PARTICLES = "了啦呢哈呀哒滴嘛"
#: longest customer text (characters) tested as an acknowledgement; longer ones never are one
ACK_MAX_CHARS = 64


def acknowledgement_pattern(phrases: list[str] | tuple[str, ...]) -> str | None:
    """The RE2 pattern an acknowledgement matches in full (normalised text), None without phrases:
    separators, then one or more phrases each followed by particles (:data:`ACK_PARTICLES`) and
    separators."""
    from csaudit.text import normalize_one

    norm = sorted({normalize_one(p).strip() for p in phrases} - {""}, key=lambda p: (-len(p), p))
    if not norm:
        return None
    alts = "|".join(re.escape(p) for p in norm)
    return f"^{ACK_SEPARATOR}*(?:(?:{alts})[{ACK_PARTICLES}]*{ACK_SEPARATOR}*)+$"


@lru_cache(maxsize=8)
def _ack_prefilter(phrases: tuple[str, ...]) -> str:
    """RE2 pattern of the raw texts that may be acknowledgements: ``[表情]`` codes, any character
    outside the 汉字 block, and of the 汉字 only those that (alone) normalise to a character of a
    phrase."""
    from csaudit.metrics.lexicon import normalize_many

    chars = {c for p in phrases for c in normalize_many([p])[0]} | set(ACK_PARTICLES)
    han = [chr(c) for c in range(0x4E00, 0xA000)]
    allowed = sorted({h for h, n in zip(han, normalize_many(han), strict=True) if n in chars} | chars)
    cls = "".join(f"\\x{{{ord(c):x}}}" for c in allowed)
    han_class = f"|[{cls}]" if cls else ""
    return f"^(?:\\[[^\\[\\]\\s]{{1,8}}\\]|[^\\x{{4e00}}-\\x{{9fff}}]{han_class})*$"


def acknowledgement_mask(text: pd.Series, phrases: list[str] | tuple[str, ...]) -> np.ndarray:
    """True where ``text`` is only an acknowledgement: after the lexicons' normalisation
    (:func:`csaudit.text.normalize_one`: NFKC width folding, Traditional → Simplified, ASCII
    lower-case), the text is made of one or more of ``phrases`` (normalised the same way, each
    optionally followed by :data:`ACK_PARTICLES`), separated or surrounded by whitespace, punctuation, symbols/emoji or ``[表情]`` codes, and is at most
    :data:`ACK_MAX_CHARS` characters long. A text of separators only (``？？``, an emoji alone) is no
    acknowledgement. Vectorised: a length test and an RE2 pre-filter on all rows (Arrow), then each
    distinct remaining text is normalised and matched once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from csaudit.arrays import arrow_strings
    from csaudit.metrics.lexicon import normalize_many  # the matching form, vectorised (lazy: no cycle)

    out = np.zeros(len(text), dtype=bool)
    pattern = acknowledgement_pattern(phrases)
    if pattern is None or not len(text):
        return out
    raw = arrow_strings(text.astype("str"))
    maybe = pc.and_(pc.less_equal(pc.utf8_length(raw), ACK_MAX_CHARS),
                    pc.match_substring_regex(raw, _ack_prefilter(tuple(phrases))))
    rows = np.flatnonzero(maybe.fill_null(False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return out
    codes, uniques = pd.factorize(pd.Series(raw.take(pa.array(rows)).to_pylist(), dtype=object))
    arr = pa.array(normalize_many(list(uniques)), type=pa.string())
    hit = pc.match_substring_regex(arr, pattern).fill_null(False).to_numpy(zero_copy_only=False)
    out[rows] = hit[codes]
    return out


# -- shared helpers ----------------------------------------------------------------------------
def _grouped_order(conv_ids: pd.Series) -> tuple[np.ndarray, np.ndarray | None, pd.Index]:
    """Conversation codes in row order and, if conversations are not contiguous, a stable order."""
    codes, uniques = factorize_runs(conv_ids)
    if len(codes) and (codes < 0).any():
        raise ValueError("messages: conversation_id must not be missing (run assign_conversations first)")
    order = None
    if len(codes) > 1:
        changes = int(np.count_nonzero(codes[1:] != codes[:-1]))
        if changes + 1 != len(uniques):
            order = np.argsort(codes, kind="stable")
            codes = codes[order]
    return codes, order, pd.Index(uniques)


def _ts_ns(ts: pd.Series, tz: str) -> tuple[np.ndarray, str]:
    """Timestamps as int64 UTC nanoseconds (NaT → int64 min) and the timezone they are shown in."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts)
        if ts.dt.tz is None:
            ts = ts.dt.tz_localize(tz)
    ts = ts.dt.as_unit("ns")
    return np.asarray(ts.array.asi8, dtype=np.int64), str(ts.dt.tz)


def _take_str(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values`` at positions ``rows`` (−1 → NA), as a fresh ``str`` Series with a RangeIndex."""
    arr = values.astype("str").array
    return pd.Series(arr.take(rows, allow_fill=True), dtype="str")


def _ts_series(ns: np.ndarray, tz: str) -> pd.Series:
    """int64 UTC nanoseconds (int64 min = NaT) → tz-aware ``datetime64[ns, tz]`` Series."""
    return pd.Series(pd.to_datetime(ns.view("datetime64[ns]"), utc=True)).dt.tz_convert(tz).dt.as_unit("ns")


def _role_codes(role: pd.Series) -> np.ndarray:
    """Code of each row's role in :data:`schema.ROLES` (−1 where missing or unknown); free for the
    categorical MESSAGES column."""
    if role.dtype != schema.ROLE_DTYPE:
        role = role.astype("str").astype(schema.ROLE_DTYPE)
    return role.cat.codes.to_numpy()


def _roles(role: pd.Series) -> np.ndarray:
    """Role of each row as a numpy unicode array ("" where missing): comparisons stay vectorised."""
    codes = _role_codes(role)
    names = np.array([*schema.ROLES, ""])
    return names[codes]  # code −1 → the trailing ""


def _clock_minutes(hhmm: str) -> float:
    """``"08:00"`` → 480.0 (``"24:00"`` allowed for the end of the day)."""
    h, _, m = hhmm.strip().partition(":")
    return int(h) * 60 + float(m or 0)


def in_service_hours(start: pd.Series, cfg: LatencyConfig) -> np.ndarray:
    """True where ``start`` (local time in ``cfg.timezone``) is within ``[service_start, service_end)``.

    Missing times count as in hours. A window whose end is not after its start wraps past midnight.
    """
    s = pd.Series(start)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s)
        s = s.dt.tz_localize(cfg.timezone) if s.dt.tz is None else s
    local = s.dt.tz_convert(cfg.timezone)
    minutes = (local.dt.hour * 60 + local.dt.minute + local.dt.second / 60.0).to_numpy(
        dtype="float64", na_value=np.nan
    )
    lo, hi = _clock_minutes(cfg.service_start), _clock_minutes(cfg.service_end)
    with np.errstate(invalid="ignore"):
        inside = (minutes >= lo) & (minutes < hi) if hi > lo else (minutes >= lo) | (minutes < hi)
    return np.where(np.isnan(minutes), True, inside)


# -- turns -------------------------------------------------------------------------------------
def turns(messages: pd.DataFrame) -> pd.DataFrame:
    """TURNS: consecutive messages of one speaker (same role and agent) in a conversation, merged.

    Columns: ``conversation_id``, ``turn`` (1-based within the conversation), ``role``, ``agent``
    (NA for customer/system turns without an account), ``start``/``end`` (times of the turn's first
    and last message; NaT when missing), ``n_messages``, ``text`` (the messages' texts joined with
    ``"\\n"``). This is the unit transcripts show.
    """
    tz_default = schema.TZ_DEFAULT
    n = len(messages)
    if n == 0:
        return schema.empty("turns")
    codes, order, uniques = _grouped_order(messages["conversation_id"])
    m = messages if order is None else messages.iloc[order]
    role_codes = _role_codes(m["role"])
    agent_codes, _ = pd.factorize(m["agent"], use_na_sentinel=True)
    new = np.ones(n, dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (role_codes[1:] != role_codes[:-1]) | (agent_codes[1:] != agent_codes[:-1])
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:] - 1, n - 1]
    turn_id = np.cumsum(new) - 1

    # turn number within its conversation
    conv_of_turn = codes[starts]
    conv_first = np.r_[True, conv_of_turn[1:] != conv_of_turn[:-1]]
    k = np.arange(len(starts))
    turn_no = k - np.maximum.accumulate(np.where(conv_first, k, 0)) + 1

    ns, tz = _ts_ns(m["ts"], tz_default)
    valid = ns != NAT
    # first / last non-missing time of each turn
    first_ns = np.full(len(starts), NAT, dtype=np.int64)
    last_ns = np.full(len(starts), NAT, dtype=np.int64)
    rows_valid = np.flatnonzero(valid)
    if len(rows_valid):
        t = turn_id[rows_valid]
        is_first = np.r_[True, t[1:] != t[:-1]]
        is_last = np.r_[t[1:] != t[:-1], True]
        first_ns[t[is_first]] = ns[rows_valid[is_first]]
        last_ns[t[is_last]] = ns[rows_valid[is_last]]

    text = _joined_text(m["text"], starts)

    out = pd.DataFrame(
        {
            "conversation_id": _take_str(m["conversation_id"], starts),
            "turn": turn_no.astype("int64"),
            "role": pd.Categorical.from_codes(role_codes[starts], dtype=schema.ROLE_DTYPE),
            "agent": _take_str(m["agent"], starts),
            "start": _ts_series(first_ns, tz),
            "end": _ts_series(last_ns, tz),
            "n_messages": (ends - starts + 1).astype("int64"),
            "text": text,
        }
    )
    return out


def _joined_text(text: pd.Series, starts: np.ndarray) -> pd.Series:
    """Texts of each run (runs start at positions ``starts``) joined with "\\n" (pyarrow, no Python loop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(text.astype("str").fillna(""), type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):  # e.g. a table read from parquet
        values = values.combine_chunks()
    offsets = pa.array(np.r_[starts, len(text)].astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, values), pa.scalar("\n", pa.large_string()))
    return pd.Series(joined.to_pandas(types_mapper=pd.ArrowDtype), dtype="str")


# -- rounds ------------------------------------------------------------------------------------
def rounds(messages: pd.DataFrame, cfg: LatencyConfig | None = None) -> pd.DataFrame:
    """ROUNDS (首问首答) of every conversation; see the module docstring for each column's definition.

    >>> import pandas as pd
    >>> from csaudit.config import LatencyConfig
    >>> t = pd.to_datetime(["2026-11-10 10:10:15", "2026-11-10 10:15:20", "2026-11-10 10:18:10"]).tz_localize(
    ...     "Asia/Shanghai")
    >>> msgs = pd.DataFrame({"conversation_id": "c1", "customer": "买家", "agent": [None, None, "店:阿青"],
    ...                      "role": ["customer", "customer", "agent"], "ts": t, "text": ["在吗", "在吗?", "在的"]})
    >>> rounds(msgs, LatencyConfig())[["round", "agent", "response_s", "slow"]].to_dict("records")
    [{'round': 1, 'agent': '店:阿青', 'response_s': 475.0, 'slow': True}]
    """
    cfg = getattr(cfg, "latency", cfg) or LatencyConfig()  # a whole Config works too
    if len(messages) == 0:
        out = schema.empty("rounds", cfg.timezone)
        out["n_messages"] = pd.Series([], dtype="int64")
        out["transfer"] = pd.Series([], dtype="bool")
        out["start_message_id"] = pd.Series([], dtype="str")
        out["reply_message_id"] = pd.Series([], dtype="str")
        return out
    sg = _segments(messages, acks=cfg.acknowledgements)
    m, codes, start_row, end_row = sg.m, sg.codes, sg.start_row, sg.end_row
    answered = sg.is_reply[end_row]
    transfer = sg.is_transfer[end_row]
    reply_row = np.where(answered, end_row, -1)
    rconv = codes[start_row]
    nr = len(start_row)

    # agent: the replier; the transfer's source account; else the account of the last reply or
    # transfer before the round in the same conversation; else the conversation's primary agent
    account = sg.account
    prev = sg.last_event[start_row]
    prev = np.where((prev >= 0) & (codes[np.maximum(prev, 0)] == rconv), prev, -1)
    agent_row = np.where(answered | transfer, end_row, prev)
    agent_code = np.where(agent_row >= 0, account[np.maximum(agent_row, 0)], -1)
    if nr and (agent_code < 0).any():
        primary = first_per_group(codes, np.flatnonzero(sg.is_reply), len(sg.uniques))[rconv]
        fill = (agent_code < 0) & (primary >= 0)
        agent_code[fill] = account[primary[fill]]
    agent = pd.Series(sg.agent_names.array.take(agent_code, allow_fill=True), dtype="str")

    # times
    ns, tz = _ts_ns(m["ts"], cfg.timezone)
    start_ns = ns[start_row]
    reply_ns = np.where(answered, ns[np.maximum(reply_row, 0)], NAT)
    known = answered & (start_ns != NAT) & (reply_ns != NAT)
    response = np.full(nr, np.nan)
    response[known] = (reply_ns[known] - start_ns[known]) / NS
    negative = known & (response < 0)
    if negative.any():
        log.warning("%d round(s) have a reply stamped before the question; counted as 0 s", int(negative.sum()))
        response[negative] = 0.0
    capped = np.minimum(response, cfg.cap_s)
    if cfg.unanswered == "cap":
        capped = np.where(~answered & (start_ns != NAT), float(cfg.cap_s), capped)
    start = _ts_series(start_ns, tz)
    in_hours = in_service_hours(start, cfg)
    effective = np.where(answered, response, capped)  # unanswered: cap_s under "cap", NA under "exclude"
    with np.errstate(invalid="ignore"):
        slow = in_hours & ~np.isnan(effective) & (effective > cfg.slow_s)
    if cfg.unanswered == "cap":  # no timestamp at all: an unanswered round still waited "forever"
        slow = slow | (in_hours & ~answered & (start_ns == NAT) & (cfg.cap_s > cfg.slow_s))

    if "message_id" in m.columns:
        start_id, reply_id = _take_str(m["message_id"], start_row), _take_str(m["message_id"], reply_row)
    else:
        start_id = reply_id = pd.Series(pd.NA, index=range(nr), dtype="str")
    return pd.DataFrame(
        {
            "conversation_id": _take_str(m["conversation_id"], start_row),
            "customer": _take_str(m["customer"], start_row),
            "agent": agent,
            "round": sg.round_no,
            "start": start,
            "reply": _ts_series(reply_ns, tz),
            "response_s": response,
            "capped_s": capped,
            "answered": answered.astype(bool),
            "in_hours": in_hours.astype(bool),
            "slow": slow.astype(bool),
            "n_messages": sg.n_msgs,
            "transfer": transfer.astype(bool),
            "start_message_id": start_id,
            "reply_message_id": reply_id,
        }
    )


@dataclass
class _Segments:
    """Round segmentation shared by :func:`rounds` and :func:`message_rounds` (positions in ``m``)."""

    m: pd.DataFrame
    codes: np.ndarray
    uniques: pd.Index
    is_reply: np.ndarray
    is_transfer: np.ndarray
    account: np.ndarray  # per row: code (in agent_names) of the replier / closing transfer's source, else -1
    agent_names: pd.Index
    last_event: np.ndarray  # per row: position of the last reply/closing transfer at or before it
    cust_rows: np.ndarray
    cust_round: np.ndarray  # per customer row: its round's position in start_row
    start_row: np.ndarray
    end_row: np.ndarray
    round_no: np.ndarray
    n_msgs: np.ndarray


def transfer_sources(messages: pd.DataFrame, humans: set[str] | None = None) -> pd.Series:
    """Source account of each ``由 A 转交给 B`` system line that hands a customer over from a human agent.

    Index = the messages' index (system rows with such a line only). The name is normalised like
    ``agent`` (full-width colon → ``:``; a bare sub-account gets the row's ``shop`` prefix). Lines whose
    source never sends an ``agent`` message (a routing assistant such as 服务助手, the bot 店小蜜) are
    left out: such a hand-over only routes the customer, it does not close a round. ``humans`` (the
    human agent accounts) defaults to the accounts of the ``agent`` rows of ``messages``.
    """
    role = _roles(messages["role"])
    sys_rows = np.flatnonzero(role == "system")
    empty = pd.Series([], dtype="str", index=messages.index[:0])
    if not len(sys_rows):
        return empty
    texts = messages["text"].astype("str").iloc[sys_rows]
    codes, uniques = pd.factorize(texts)
    src_u = pd.Series(uniques).str.extract(_TRANSFER)["src"]
    if src_u.isna().all():
        return empty
    src = pd.Series(src_u.to_numpy(dtype=object)[codes], index=texts.index, dtype="str").dropna()
    src = src.str.replace("：", ":", regex=False)
    if "shop" in messages.columns:
        bare = ~src.str.contains(":", regex=False)
        shops = messages["shop"].astype("str").loc[src.index]
        src = src.where(~bare, shops + ":" + src)
    if humans is None:
        humans = human_agents(messages)
    return src[src.isin(humans)]


def human_agents(messages: pd.DataFrame) -> set[str]:
    """Accounts that send ``agent`` (human) messages in ``messages``."""
    return set(messages.loc[(messages["role"] == "agent").to_numpy(dtype=bool), "agent"].dropna().astype("str").unique())


def _segments(
    messages: pd.DataFrame, humans: set[str] | None = None, acks: list[str] | tuple[str, ...] = ()
) -> _Segments:
    codes, order, uniques = _grouped_order(messages["conversation_id"])
    m = messages if order is None else messages.iloc[order]
    role = _roles(m["role"])
    n = len(m)
    is_cust = role == "customer"
    is_reply = role == "agent"
    agent_codes, agent_names = pd.factorize(m["agent"].astype("str"), use_na_sentinel=True)
    account = np.where(is_reply, agent_codes, -1)
    is_transfer = np.zeros(n, dtype=bool)
    src = transfer_sources(m.reset_index(drop=True), humans)
    if len(src):
        rows = src.index.to_numpy()
        is_transfer[rows] = True
        account[rows] = pd.Index(agent_names).get_indexer(src.to_numpy())
    ends_round = is_reply | is_transfer

    # segments: runs of rows ending at a valid reply, a closing transfer or the conversation's end
    new_seg = np.ones(n, dtype=bool)
    new_seg[1:] = (codes[1:] != codes[:-1]) | ends_round[:-1]
    seg = np.cumsum(new_seg) - 1
    seg_end = np.r_[np.flatnonzero(new_seg)[1:] - 1, n - 1]

    cust_rows = np.flatnonzero(is_cust)
    if len(acks) and len(cust_rows):
        # an acknowledgement opens no round: drop the customer rows of a segment before its first
        # other customer message (all of them when the segment has none); later ones stay merged
        real = ~acknowledgement_mask(m["text"].iloc[cust_rows], acks)
        cseg = seg[cust_rows]
        seg_first = np.r_[True, cseg[1:] != cseg[:-1]]
        seen = np.cumsum(real)
        before = (seen - real)[seg_first][np.cumsum(seg_first) - 1]  # real messages before the segment
        cust_rows = cust_rows[seen - before > 0]
    cseg = seg[cust_rows]
    first_in_seg = np.r_[True, cseg[1:] != cseg[:-1]] if len(cust_rows) else np.zeros(0, dtype=bool)
    start_row = cust_rows[first_in_seg]
    end_row = seg_end[cseg[first_in_seg]]
    n_msgs = np.diff(np.r_[np.flatnonzero(first_in_seg), len(cust_rows)]).astype("int64")
    cust_round = np.cumsum(first_in_seg) - 1

    rconv = codes[start_row]
    k = np.arange(len(start_row))
    conv_first = np.r_[True, rconv[1:] != rconv[:-1]] if len(k) else np.zeros(0, dtype=bool)
    round_no = (k - np.maximum.accumulate(np.where(conv_first, k, 0)) + 1).astype("int64")
    last_event = np.maximum.accumulate(np.where(ends_round, np.arange(n), -1))
    return _Segments(m, codes, uniques, is_reply, is_transfer, account, pd.Index(agent_names, dtype="str"),
                     last_event, cust_rows, cust_round, start_row, end_row, round_no, n_msgs)


def message_rounds(
    messages: pd.DataFrame, humans: set[str] | None = None, cfg: LatencyConfig | None = None
) -> pd.DataFrame:
    """For each customer message in a round: ``conversation_id``, ``round`` it belongs to, ``ts`` and
    ``text`` (acknowledgements that opened no round are left out).

    Same segmentation as :func:`rounds` with the same ``cfg`` (its ``acknowledgements``); used to
    count customer messages per round and to find the last customer message of a round. Index = the
    messages' index. Pass ``humans`` (:func:`human_agents` of the whole input) when ``messages`` is a
    subset of conversations.
    """
    cfg = getattr(cfg, "latency", cfg) or LatencyConfig()
    if len(messages) == 0:
        return pd.DataFrame(
            {
                "conversation_id": pd.Series([], dtype="str"),
                "round": pd.Series([], dtype="int64"),
                "ts": pd.Series([], dtype=schema.ts_dtype()),
                "text": pd.Series([], dtype="str"),
            }
        )
    sg = _segments(messages, humans, acks=cfg.acknowledgements)
    sub = sg.m.iloc[sg.cust_rows]
    return pd.DataFrame(
        {
            "conversation_id": sub["conversation_id"].astype("str"),
            "round": sg.round_no[sg.cust_round],
            "ts": sub["ts"],
            "text": sub["text"].astype("str"),
        },
        index=sub.index,
    )
