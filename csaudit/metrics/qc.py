"""Quality-control rules (质检), DESIGN §5. Each finding is one HITS row with its evidence message.

Rules (``rule`` column; thresholds in ``Config.qc``; severity, category and the coaching suggestion in
``csaudit/lexicons/qc.toml``):

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

from csaudit.config import Config
from csaudit.metrics.lexicon import (
    LEXICON_DIR,
    Category,
    Lexicon,
    _closing_check,
    _first_reply,
    _flag_functions,
    _isin,
    _speech_pos,
    _tz,
    agent_turns,
    find_hits,
)
from csaudit.model import schema

log = logging.getLogger(__name__)

RULES: dict[str, str] = {
    "qc:no_greeting_first_reply": "no greeting in the first agent reply",
    "qc:no_apology_after_wait": "long wait not followed by an apology within the next agent messages",
    "qc:hold_no_followup": "'please wait / let me check' with no follow-up in time",
    "qc:no_closing": "no closing or rating invitation among the last messages",
}
"""The QC rules computed by :func:`qc_hits` (rule name → one-line definition)."""

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


def _rows(evidence: pd.DataFrame, rule: str, tz: str) -> pd.DataFrame:
    """HITS rows for ``evidence`` (message_id, conversation_id, agent, ts, text [, term, start, end])."""
    spec = rule_specs()[rule]
    n = len(evidence)
    out = pd.DataFrame(
        {
            "message_id": evidence["message_id"].array,
            "conversation_id": evidence["conversation_id"].array,
            "agent": evidence["agent"].array,
            "ts": evidence["ts"].array if "ts" in evidence else pd.NaT,
            "rule": f"qc:{rule}",
            "category": spec["category"],
            "severity": spec["severity"],
            "side": spec["side"],
            "term": evidence["term"].array if "term" in evidence else np.full(n, None, dtype=object),
            "start": evidence["start"].to_numpy() if "start" in evidence else pd.NA,
            "end": evidence["end"].to_numpy() if "end" in evidence else pd.NA,
            "text": evidence["text"].array,
            "suggestion": spec["suggestion"],
        }
    )
    return schema.conform(out, "hits", tz)


def no_greeting_first_reply(
    speech: pd.DataFrame, hits: pd.DataFrame, config: Config, flag_of: Any = None
) -> pd.DataFrame:
    """Evidence rows: first agent messages of conversations whose first agent turn has no greeting.
    ``flag_of``: ``lexicon._flag_functions`` of the same speech and hits (found here otherwise)."""
    flag_of = flag_of or _flag_functions(None, speech, hits)
    fr = _first_reply(speech, flag_of(tuple(_settings(config, "greeting_categories", ["greeting"]))))
    return fr.loc[~fr["ok"]]


def no_apology_after_wait(
    speech: pd.DataFrame, rounds: pd.DataFrame, hits: pd.DataFrame, config: Config, flag_of: Any = None
) -> pd.DataFrame:
    """Evidence rows: reply messages of rounds slower than ``qc.long_wait_s`` with no apology among the
    ``qc.apology_within_msgs`` agent messages starting with the reply. ``flag_of``: as in
    :func:`no_greeting_first_reply`."""
    q = config.qc
    cols = ["conversation_id", "message_id", "agent", "ts", "text"]
    resp = pd.to_numeric(rounds["response_s"], errors="coerce")
    slow = rounds.loc[rounds["answered"].astype(bool) & (resp > q.long_wait_s) & rounds["reply"].notna()]
    ag = speech.loc[
        speech["is_agent"] & speech["ts"].notna(),
        ["conversation_id", "ts", "agent_seq", "message_id", "agent", "text"],
    ]
    if not len(slow) or not len(ag):
        return speech.iloc[:0][cols]
    tz = str(ag["ts"].dt.tz) if ag["ts"].dt.tz is not None else None
    reply = pd.to_datetime(slow["reply"])
    reply = reply.dt.tz_localize(tz) if reply.dt.tz is None else reply.dt.tz_convert(tz)
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
    cats = _settings(config, "apology_categories", ["apology"])
    flag_of = flag_of or _flag_functions(None, speech, hits)
    ag_rows = np.flatnonzero(speech["is_agent"].to_numpy())
    is_apol = np.zeros(len(speech), dtype=bool)
    is_apol[ag_rows] = flag_of(tuple(cats))(ag_rows)  # only agent rows looked up
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
    ok = found["apology_seq"].notna() & (found["apology_seq"] - found["agent_seq"] < q.apology_within_msgs)
    bad = found.loc[~ok].drop_duplicates("message_id")
    bad = bad.sort_values(["conversation_id", "agent_seq"], kind="stable")
    return bad[cols].reset_index(drop=True)


def hold_no_followup(messages: pd.DataFrame, speech: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Evidence rows: agent messages with a hold phrase and no further agent message in the conversation
    within ``qc.hold_followup_min`` minutes (or none at all); with the phrase's term and offsets."""
    spec = rule_specs()["hold_no_followup"]
    hold_lex = Lexicon(
        {"hold": Category("hold", "qc", spec["severity"], "agent", tuple(spec.get("terms", ())))}
    )
    is_agent = speech["is_agent"].to_numpy()
    ag = speech.loc[is_agent, ["conv", "ts", "message_id"]]
    nxt = ag.groupby("conv", sort=False)["ts"].shift(-1)
    gap = (nxt - ag["ts"]).dt.total_seconds()
    late = (ag["ts"].notna() & (nxt.isna() | (gap > 60.0 * config.qc.hold_followup_min))).to_numpy()
    if not late.any():
        return pd.DataFrame()
    pos = _speech_pos(messages, speech)
    if pos is not None:  # by row: no hashing of message ids
        is_cand = np.zeros(len(messages), dtype=bool)
        is_cand[pos[np.flatnonzero(is_agent)[late]]] = True
    else:
        is_cand = _isin(messages["message_id"], ag.loc[late, "message_id"])
    cand = messages.loc[is_cand]
    h = find_hits(cand, hold_lex).drop_duplicates("message_id")  # first hold phrase of each message
    return h[["conversation_id", "message_id", "agent", "ts", "text", "term", "start", "end"]]


def no_closing(speech: pd.DataFrame, hits: pd.DataFrame, config: Config, flag_of: Any = None) -> pd.DataFrame:
    """Evidence rows: last agent messages of conversations without a closing/rating invitation at the end.
    ``flag_of``: as in :func:`no_greeting_first_reply`."""
    cats = tuple(_settings(config, "closing_categories", ["closing", "rating_invite"]))
    flag_of = flag_of or _flag_functions(None, speech, hits)
    cl = _closing_check(speech, int(config.qc.closing_last_n), flag_of(cats))
    return cl.loc[~cl["ok"]]


def qc_hits(
    messages: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    config: Config | None = None,
    speech: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """All QC findings (``RULES``) as HITS rows, ordered by conversation then time.

    ``messages``: MESSAGES sorted by conversation then time; ``rounds``: ROUNDS; ``hits``: the lexicon
    hits of :func:`csaudit.metrics.lexicon.find_hits` on the same messages; ``speech``:
    :func:`csaudit.metrics.lexicon.agent_turns` of ``messages`` when the caller already has it.
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
    if "no_greeting_first_reply" not in disabled:
        ev = no_greeting_first_reply(speech, hits, config, flag_of)
        parts.append(_rows(ev, "no_greeting_first_reply", tz))
    if "no_apology_after_wait" not in disabled and len(rounds):
        ev = no_apology_after_wait(speech, rounds, hits, config, flag_of)
        parts.append(_rows(ev, "no_apology_after_wait", tz))
    if "hold_no_followup" not in disabled:
        ev = hold_no_followup(messages, speech, config)
        if len(ev):
            parts.append(_rows(ev, "hold_no_followup", tz))
    if "no_closing" not in disabled:
        parts.append(_rows(no_closing(speech, hits, config, flag_of), "no_closing", tz))
    parts = [p for p in parts if len(p)]
    if not parts:
        return schema.empty("hits", tz)
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["conversation_id", "ts", "rule"], kind="stable", na_position="first")
    return schema.conform(out.reset_index(drop=True), "hits", tz)
