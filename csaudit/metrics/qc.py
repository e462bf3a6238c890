"""Quality-control rules (质检), DESIGN §5. Each finding is one HITS row with its evidence message.

Rules (``rule`` column). Each is declared in ``csaudit/lexicons/qc.toml`` — category, severity, the
coaching suggestion, and what it checks: a ``scope`` (first agent turn, last N messages, after an
event, after a trigger phrase) with its parameters, literal or naming a setting (``<key>_from``), so
the QC rule and the QA score share one definition. :func:`qc_hits` runs every declared rule through
the matcher of its scope:

``qc:no_greeting_first_reply``
    The conversation's first agent turn (its consecutive agent messages before the customer speaks
    again) has no greeting hit (``score.greeting_categories``, default ``greeting``). Evidence: the
    turn's first message.
``qc:no_apology_after_wait``
    A round answered after more than ``qc.long_wait_s`` seconds, where none of the ``qc.apology_within_msgs``
    agent messages starting with the reply has an apology hit (``score.apology_categories``).
    Evidence: the reply message.
``qc:hold_no_followup``
    An agent message with a hold phrase (稍等 / 我查一下 / 我帮您查 …, ``qc.toml``) and no further agent
    message in the conversation within ``qc.hold_followup_min`` minutes (or none at all). Evidence:
    the hold message, with the phrase's ``term``/``start``/``end``.
``qc:no_closing``
    A conversation with agent messages where no agent message among its last ``qc.closing_last_n``
    speech (customer/agent) messages has a closing or rating invitation (``score.closing_categories``).
    Evidence: the last agent message.

The customer-side rules of DESIGN §5 — the customer says they repeated themselves, the customer
threatens escalation — are the lexicon hits ``lexicon:repeated`` and ``lexicon:escalation`` (from
:func:`csaudit.metrics.lexicon.find_hits`, attributed to the conversation's agent, with term and
offsets). They are not duplicated here (``CUSTOMER_RULES`` maps the rule names to them), so
concatenating lexicon and QC hits counts every finding once.

Rules without a message timestamp (NaT) are skipped where they need one (waits, follow-ups).
Disable rules with ``Config.qc.disabled_rules`` (``"no_closing"`` or ``"qc:no_closing"``).
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from csaudit.arrays import NAT, ts_ns
from csaudit.config import Config
from csaudit.metrics.lexicon import (
    LEXICON_DIR,
    Category,
    Lexicon,
    _categorical,
    _closing_rows,
    _failed,
    _find_hits,
    _first_reply_rows,
    _flag_functions,
    _isin,
    _run_heads,
    _speech_pos,
    _tz,
    agent_turns,
)
from csaudit.model import schema

log = logging.getLogger(__name__)

RULES: dict[str, str] = {
    "qc:no_greeting_first_reply": "no greeting in the first agent reply",
    "qc:no_apology_after_wait": "long wait not followed by an apology within the next agent messages",
    "qc:hold_no_followup": "'please wait / let me check' with no follow-up in time",
    "qc:no_closing": "no closing or rating invitation among the last messages",
}
"""The built-in QC rules computed by :func:`qc_hits` (rule name → one-line definition); each is declared
in ``qc.toml`` by its scope and parameters (:func:`declared_rules`)."""

CUSTOMER_RULES: dict[str, str] = {
    "qc:customer_repeated": "lexicon:repeated",
    "qc:customer_escalation": "lexicon:escalation",
}
"""DESIGN §5 customer-side QC rules → the lexicon rule whose hits carry them."""


@lru_cache(maxsize=1)
def rule_specs() -> dict[str, dict[str, Any]]:
    """``qc.toml``: per rule (without the ``qc:`` prefix) category, severity, side, suggestion, terms."""
    return tomllib.loads((LEXICON_DIR / "qc.toml").read_text(encoding="utf-8"))


def _settings(config: Config, name: str, default: list[str]) -> list[str]:
    """Category lists shared with the QA score (``Config.score``), so both use one definition."""
    return list(getattr(config.score, name, default))


SCOPES = ("first_agent_turn", "last_messages", "after_event", "after_hit")
"""What a ``qc.toml`` rule may declare it checks (see the file's header)."""
EVENTS = ("slow_round",)


def _value(rule: str, spec: dict[str, Any], key: str, config: Config) -> Any:
    """A rule's declared ``key``: the literal value, or the setting named by ``<key>_from``
    (``"section.field"`` of ``config``)."""
    if key in spec:
        return spec[key]
    ref = spec.get(f"{key}_from")
    if not isinstance(ref, str):
        raise ValueError(f"qc.toml: rule {rule!r}: needs {key!r} or {key}_from = \"section.field\"")
    section, _, name = ref.partition(".")
    obj = getattr(config, section, None)
    if obj is None or not name or not hasattr(obj, name):
        raise ValueError(f"qc.toml: rule {rule!r}: {key}_from = {ref!r} names no setting")
    return getattr(obj, name)


def declared_rules(specs: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The rules of ``specs`` (default: ``qc.toml``) that declare a ``scope`` (name without ``qc:`` →
    spec); checked here."""
    out = {}
    for name, spec in (rule_specs() if specs is None else specs).items():
        if "scope" not in spec:
            continue
        if spec["scope"] not in SCOPES:
            raise ValueError(f"qc.toml: rule {name!r}: scope must be one of {SCOPES}")
        if spec["scope"] == "after_event" and spec.get("event") not in EVENTS:
            raise ValueError(f"qc.toml: rule {name!r}: event must be one of {EVENTS}")
        out[name] = spec
    return out


def _rows(evidence: pd.DataFrame, rule: str, tz: str, spec: dict[str, Any] | None = None) -> pd.DataFrame:
    """HITS rows for ``evidence`` (message_id, conversation_id, agent, ts, text [, term, start, end])."""
    spec = rule_specs()[rule] if spec is None else spec
    n = len(evidence)
    missing = pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    # columns built in their HITS dtypes, so conform converts nothing (strings stay in Arrow)
    out = pd.DataFrame(
        {
            "message_id": evidence["message_id"].array,
            "conversation_id": evidence["conversation_id"].array,
            "agent": evidence["agent"].array,
            "ts": evidence["ts"].array if "ts" in evidence else pd.NaT,
            "rule": _repeat(f"qc:{rule}", n),
            "category": _repeat(spec["category"], n),
            "severity": _repeat(spec["severity"], n),
            "side": _repeat(spec["side"], n),
            "term": evidence["term"].array if "term" in evidence else _repeat(None, n),
            "start": evidence["start"].array if "start" in evidence else missing,
            "end": evidence["end"].array if "end" in evidence else missing,
            "text": evidence["text"].array,
            "suggestion": _categorical([spec["suggestion"]], np.zeros(n, dtype=np.int64)),
        }
    )
    return schema.conform(out, "hits", tz)


def _repeat(value: str | None, n: int) -> Any:
    """``n`` times ``value`` (None: missing) as a pandas ``str`` array, without Python objects per row."""
    import pyarrow as pa

    one = pa.array([value], type=pa.large_string())
    return pd.array(one.take(np.zeros(n, dtype=np.int64)), dtype=schema.STR)


def no_greeting_first_reply(
    speech: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config,
    flag_of: Any = None,
    categories: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Evidence rows: first agent messages of conversations whose first agent turn has no hit of
    ``categories`` (default ``score.greeting_categories``). ``flag_of``: ``lexicon._flag_functions`` of
    the same speech and hits (found here otherwise). Scope ``first_agent_turn`` of ``qc.toml``."""
    flag_of = flag_of or _flag_functions(None, speech, hits)
    cats = categories if categories is not None else tuple(_settings(config, "greeting_categories", ["greeting"]))
    return _failed(speech, *_first_reply_rows(speech, flag_of(tuple(cats))))


def no_apology_after_wait(
    speech: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config,
    flag_of: Any = None,
    categories: tuple[str, ...] | None = None,
    threshold_s: float | None = None,
    within: int | None = None,
) -> pd.DataFrame:
    """Evidence rows: reply messages of rounds slower than ``threshold_s`` (default ``qc.long_wait_s``)
    with no hit of ``categories`` (default ``score.apology_categories``) among the ``within`` (default
    ``qc.apology_within_msgs``) agent messages starting with the reply. ``flag_of``: as in
    :func:`no_greeting_first_reply`. Scope ``after_event`` (event ``slow_round``) of ``qc.toml``."""
    threshold_s = float(config.qc.long_wait_s if threshold_s is None else threshold_s)
    within = int(config.qc.apology_within_msgs if within is None else within)
    cols = ["conversation_id", "message_id", "agent", "ts", "text"]
    resp = pd.to_numeric(rounds["response_s"], errors="coerce")
    slow = rounds.loc[rounds["answered"].astype(bool) & (resp > threshold_s) & rounds["reply"].notna()]
    timed_agent = (speech["is_agent"] & speech["ts"].notna()).to_numpy(dtype=bool)
    if not len(slow) or not timed_agent.any():
        return speech.iloc[:0][cols]
    tz = str(speech["ts"].dt.tz) if speech["ts"].dt.tz is not None else None
    reply = pd.to_datetime(slow["reply"])
    reply = reply.dt.tz_localize(tz) if reply.dt.tz is None else reply.dt.tz_convert(tz)
    flag_of = flag_of or _flag_functions(None, speech, hits)
    cats = categories if categories is not None else tuple(_settings(config, "apology_categories", ["apology"]))
    cats = tuple(cats)
    by_row = _no_apology_rows(speech, slow["conversation_id"], reply, flag_of(cats), within)
    if by_row is not None:
        return by_row
    ag = speech.loc[timed_agent, ["conversation_id", "ts", "agent_seq", "message_id", "agent", "text"]]
    left = pd.DataFrame(
        {
            "conversation_id": slow["conversation_id"].astype("str").to_numpy(),
            "reply": reply.dt.as_unit("ns").array,
        }
    ).sort_values("reply", kind="stable")
    right = ag[["conversation_id", "ts", "agent_seq", "message_id", "agent", "text"]].sort_values(
        "ts", kind="stable"
    )
    right = right.assign(
        conversation_id=right["conversation_id"].astype("str"), ts=right["ts"].dt.as_unit("ns")
    )
    # the reply = the first agent message of the conversation at or after the round's reply time
    rep = pd.merge_asof(
        left, right, left_on="reply", right_on="ts", by="conversation_id", direction="forward"
    ).dropna(subset=["message_id"])
    if not len(rep):
        return speech.iloc[:0][cols]
    rep["agent_seq"] = rep["agent_seq"].astype("int64")
    ag_rows = np.flatnonzero(speech["is_agent"].to_numpy())
    is_apol = np.zeros(len(speech), dtype=bool)
    is_apol[ag_rows] = flag_of(cats)(ag_rows)  # only agent rows looked up
    apol = speech.loc[is_apol, ["conversation_id", "agent_seq"]]
    apol = apol.assign(conversation_id=apol["conversation_id"].astype("str"), apology_seq=apol["agent_seq"])
    rep = rep.sort_values("agent_seq", kind="stable")
    found = pd.merge_asof(
        rep,
        apol.sort_values("agent_seq", kind="stable")[["conversation_id", "agent_seq", "apology_seq"]],
        on="agent_seq",
        by="conversation_id",
        direction="forward",
    )
    ok = found["apology_seq"].notna() & (found["apology_seq"] - found["agent_seq"] < within)
    bad = found.loc[~ok].drop_duplicates("message_id")
    bad = bad.sort_values(["conversation_id", "agent_seq"], kind="stable")
    return bad[cols].reset_index(drop=True)


def _no_apology_rows(
    speech: pd.DataFrame, conv_ids: pd.Series, reply: pd.Series, apology_of: Any, within: int
) -> pd.DataFrame | None:
    """:func:`no_apology_after_wait`'s evidence by integer search instead of two ``merge_asof``:
    the reply of a slow round (``conv_ids``, ``reply`` times) is the first agent message of its
    conversation with a time at or after ``reply`` (ties: the earlier speech row); it is bad when no
    apology (``apology_of(agent rows)``) comes among the ``within`` agent messages starting with it.
    None (use the merges) when a conversation's speech rows are not contiguous or the bad replies'
    message ids are not distinct."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = ["conversation_id", "message_id", "agent", "ts", "text"]
    conv = speech["conv"].to_numpy()
    heads = _run_heads(conv)
    if heads is None:
        return None
    # conversation code of each round (-1: no speech in that conversation)
    head_ids = pd.Index(speech["conversation_id"].astype("str").array.take(heads))
    at = head_ids.get_indexer(pd.Series(conv_ids, dtype="str").array)
    q_conv = np.where(at >= 0, conv[heads[np.maximum(at, 0)]], -1)
    q_ns = ts_ns(reply)
    # agent rows with a time, ordered by conversation then time (speech order on ties)
    ts_all = ts_ns(speech["ts"])
    is_agent = speech["is_agent"].to_numpy()
    a_rows = np.flatnonzero(is_agent & (ts_all != NAT))
    c, t = conv[a_rows], ts_all[a_rows]
    same = c[1:] == c[:-1]
    if (t[1:][same] < t[:-1][same]).any():  # times go back inside a conversation
        order = np.lexsort((t, c))
        a_rows, c, t = a_rows[order], c[order], t[order]
    # first row of the round's conversation with a time at or after the reply: bisection per block
    lo = np.searchsorted(c, q_conv, side="left")
    end = np.searchsorted(c, q_conv, side="right")
    hi = end.copy()
    while (active := lo < hi).any():
        mid = (lo + hi) // 2
        later = t[np.minimum(mid, len(t) - 1)] < q_ns
        lo = np.where(active & later, mid + 1, lo)
        hi = np.where(active & ~later, mid, hi)
    found = (q_conv >= 0) & (lo < end)
    reply_rows = a_rows[lo[found]]
    reply_rows = reply_rows[speech["message_id"].notna().to_numpy()[reply_rows]]
    reply_rows = np.unique(reply_rows)
    # next apology at or after each agent row, within its conversation (agent_seq counts agent rows)
    g = np.flatnonzero(is_agent)
    apol = apology_of(g)
    idx = np.where(apol, np.arange(len(g)), len(g))
    nxt = np.minimum.accumulate(idx[::-1])[::-1]
    gi = np.searchsorted(g, reply_rows)
    nj = nxt[gi]
    has = nj < len(g)
    seq = speech["agent_seq"].to_numpy()
    nj_row = g[np.minimum(nj, len(g) - 1)]
    has &= conv[nj_row] == conv[reply_rows]
    ok = has & (seq[nj_row] - seq[reply_rows] < within)
    bad = reply_rows[~ok]
    ids = pa.array(speech["message_id"].array.take(bad))
    if len(bad) and pc.count_distinct(ids).as_py() != len(bad):
        return None
    keys = pd.DataFrame(
        {"conversation_id": speech["conversation_id"].astype("str").array.take(bad), "agent_seq": seq[bad]}
    )
    bad = bad[keys.sort_values(["conversation_id", "agent_seq"], kind="stable").index.to_numpy()]
    res = speech[cols].iloc[bad].reset_index(drop=True)
    return res.assign(conversation_id=res["conversation_id"].astype("str"))


_FIND_HITS_COLUMNS = ("message_id", "conversation_id", "agent", "role", "ts", "text")


@lru_cache(maxsize=8)
def _hold_lexicon(terms: tuple[str, ...] | None = None) -> Lexicon:
    """Trigger phrases (default: ``hold_no_followup``'s in ``qc.toml``) as a one-category lexicon
    (compiled once per process and phrase list)."""
    if terms is None:
        terms = tuple(rule_specs()["hold_no_followup"].get("terms", ()))
    return Lexicon({"hold": Category("hold", "qc", "info", "agent", tuple(terms))})


def _no_followup(speech: pd.DataFrame, is_agent: np.ndarray, limit_s: float) -> np.ndarray:
    """Per agent speech row: it has a time and the conversation's next agent row comes more than
    ``limit_s`` seconds later, has no time, or does not exist (bool over the agent rows)."""
    rows = np.flatnonzero(is_agent)
    conv = speech["conv"].to_numpy()[rows]
    if _run_heads(conv) is None:  # a conversation's agent rows are not contiguous: group-wise shift
        ag = speech.loc[is_agent, ["conv", "ts"]]
        nxt = ag.groupby("conv", sort=False)["ts"].shift(-1)
        gap = (nxt - ag["ts"]).dt.total_seconds()
        return (ag["ts"].notna() & (nxt.isna() | (gap > limit_s))).to_numpy()
    t = ts_ns(speech["ts"])[rows]
    nxt = np.full(len(t), NAT, dtype=np.int64)
    nxt[:-1] = np.where(conv[1:] == conv[:-1], t[1:], NAT)
    both = (t != NAT) & (nxt != NAT)
    gap = np.where(both, nxt - np.where(both, t, 0), 0) / 10**9  # seconds, as Timedelta.total_seconds
    return (t != NAT) & ((nxt == NAT) | (both & (gap > limit_s)))


def hold_no_followup(
    messages: pd.DataFrame,
    speech: pd.DataFrame,
    config: Config,
    terms: tuple[str, ...] | None = None,
    within_min: float | None = None,
) -> pd.DataFrame:
    """Evidence rows: agent messages with one of ``terms`` (default: the hold phrases of ``qc.toml``)
    and no further agent message in the conversation within ``within_min`` minutes (default
    ``qc.hold_followup_min``; or none at all); with the phrase's term and offsets. Scope ``after_hit``."""
    hold_lex = _hold_lexicon(tuple(terms) if terms is not None else None)
    within_min = float(config.qc.hold_followup_min if within_min is None else within_min)
    is_agent = speech["is_agent"].to_numpy()
    late = _no_followup(speech, is_agent, 60.0 * within_min)
    if not late.any():
        return pd.DataFrame()
    pos = _speech_pos(messages, speech)
    if pos is not None:  # by row: no hashing of message ids
        is_cand = np.zeros(len(messages), dtype=bool)
        is_cand[pos[np.flatnonzero(is_agent)[late]]] = True
    else:
        is_cand = _isin(messages["message_id"], speech.loc[is_agent, "message_id"][late])
    # only the columns find_hits reads (a copy of every column costs more than the search)
    cand = messages.loc[is_cand, [c for c in messages.columns if c in _FIND_HITS_COLUMNS]]
    h = _find_hits(cand, hold_lex, remember=False)
    h = h.drop_duplicates("message_id")  # first hold phrase of each message
    return h[["conversation_id", "message_id", "agent", "ts", "text", "term", "start", "end"]]


def no_closing(
    speech: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config,
    flag_of: Any = None,
    categories: tuple[str, ...] | None = None,
    last_n: int | None = None,
) -> pd.DataFrame:
    """Evidence rows: last agent messages of conversations where no agent message among the last
    ``last_n`` (default ``qc.closing_last_n``) speech messages has a hit of ``categories`` (default
    ``score.closing_categories``). ``flag_of``: as in :func:`no_greeting_first_reply`. Scope
    ``last_messages`` of ``qc.toml``."""
    cats = categories if categories is not None else tuple(_settings(config, "closing_categories", ["closing", "rating_invite"]))
    last_n = int(config.qc.closing_last_n if last_n is None else last_n)
    flag_of = flag_of or _flag_functions(None, speech, hits)
    return _failed(speech, *_closing_rows(speech, last_n, flag_of(tuple(cats))))


def qc_hits(
    messages: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config | None = None,
    speech: pd.DataFrame | None = None,
    specs: dict[str, dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """All QC findings (``RULES``) as HITS rows, ordered by conversation then time.

    ``messages``: MESSAGES sorted by conversation then time; ``rounds``: ROUNDS; ``hits``: the lexicon
    hits of :func:`csaudit.metrics.lexicon.find_hits` on the same messages; ``speech``:
    :func:`csaudit.metrics.lexicon.agent_turns` of ``messages`` when the caller already has it;
    ``specs``: rule declarations in the form of ``qc.toml`` (default: that file).
    """
    config = config or Config()
    tz = _tz(messages)
    disabled = {r.removeprefix("qc:") for r in config.qc.disabled_rules}
    unknown = disabled - {r.removeprefix("qc:") for r in (*RULES, *CUSTOMER_RULES)}
    if unknown:
        log.warning("qc.disabled_rules: unknown rule(s) %s", sorted(unknown))
    if not len(messages):
        return schema.empty("hits", tz)
    if speech is None:
        speech = agent_turns(messages)
    flag_of = _flag_functions(messages, speech, hits)
    parts = []
    # every rule of qc.toml that declares a scope, evaluated by that scope's matcher
    for name, spec in declared_rules(specs).items():
        if name in disabled:
            continue
        scope = spec["scope"]

        def val(key: str, spec: dict[str, Any] = spec, name: str = name) -> Any:
            return _value(name, spec, key, config)

        if scope == "first_agent_turn":
            ev = no_greeting_first_reply(speech, hits, config, flag_of, categories=tuple(val("without")))
        elif scope == "last_messages":
            ev = no_closing(speech, hits, config, flag_of, categories=tuple(val("without")), last_n=int(val("last_n")))
        elif scope == "after_event":
            if not len(rounds):
                continue
            ev = no_apology_after_wait(
                speech, rounds, hits, config, flag_of, categories=tuple(val("without")),
                threshold_s=float(val("threshold_s")), within=int(val("within_agent_messages")),
            )
        else:  # after_hit
            ev = hold_no_followup(messages, speech, config, terms=tuple(val("terms")), within_min=float(val("within_min")))
        if len(ev):
            parts.append(_rows(ev, name, tz, spec))
    parts = [p for p in parts if len(p)]
    if not parts:
        return schema.empty("hits", tz)
    out = schema.concat(parts, "hits", tz)
    out = out.take(_order(out))
    return schema.conform(out.reset_index(drop=True), "hits", tz)


def _order(hits: pd.DataFrame) -> np.ndarray:
    """Row order by conversation_id, ts, rule, missing first, ties kept in place: the order of
    ``sort_values(..., kind="stable", na_position="first")``, by one Arrow sort of the three keys."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = ["conversation_id", "ts", "rule"]
    try:
        table = pa.table({k: pa.array(hits[k].array) for k in keys})
    except (TypeError, ValueError, pa.ArrowException):  # pragma: no cover - not Arrow-convertible
        return (
            hits.reset_index(drop=True).sort_values(keys, kind="stable", na_position="first").index.to_numpy()
        )
    if int(pa.__version__.split(".")[0]) >= 25:  # null placement per key (the global one is deprecated)
        idx = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_start") for k in keys])
    else:  # pragma: no cover - older pyarrow
        idx = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys], null_placement="at_start")
    return idx.to_numpy()
