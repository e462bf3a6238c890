"""Turn rules: a trigger hit plus phrases required or excluded in the same message or agent turn.

Evaluated on the hit table and :func:`csaudit.metrics.lexicon.agent_turns` (no per-message Python):
the trigger hits are joined to their speech rows, the messages of the triggered turns are scanned once
for the rule's phrases (per distinct text, by the lexicon matcher), and a turn passes or fails by a
group-wise ``any``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.config import Config
from csaudit.metrics.lexicon import (
    SEVERITIES,
    Category,
    Lexicon,
    _categorical,
    _find_hits,
    _tz,
    agent_turns,
    read_toml,
)
from csaudit.model import schema
from csaudit.rules.window import Window, WindowContext, parse_window

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).resolve().parent / "rules.toml"
SCOPES = ("message", "turn")
_KEYS = {
    "name", "category", "severity", "trigger", "scope", "with", "without", "not_answering", "answering_question",
    "request", "suggestion", "side", "window",
}


@dataclass(frozen=True)
class TurnRule:
    """One ``[[rule]]`` table (see ``rules.toml``)."""

    name: str
    category: str
    severity: str
    trigger: tuple[str, ...]
    scope: str = "turn"
    with_: tuple[str, ...] = ()
    without: tuple[str, ...] = ()
    not_answering: tuple[str, ...] = ()
    """The rule does not fire when the customer turn just before the trigger's turn has one of these
    phrases (the agent answers a question about the product rather than declining a request)."""
    answering_question: tuple[str, ...] = ()
    """The rule does not fire when the customer turn just before asks a question (one of these phrases:
    吗 / ? / 能不能 …) and asks for no action (none of ``request``): the agent's "no" answers it."""
    request: tuple[str, ...] = ()
    """Phrases of a request for an action (帮我 / 退 / 换 / 改 / 取消 …): a question with one of them is a
    request, and declining it is a refusal (only used with ``answering_question``)."""
    suggestion: str = ""
    side: str = "agent"
    """Whose lexicon hits trigger the rule: ``agent`` or ``customer``. ``with`` / ``without`` are looked
    for in that side's messages of the scope; ``not_answering`` / ``answering_question`` need ``agent``."""
    window: Window | None = None
    """A window condition over the conversation (:mod:`csaudit.rules.window`) that must hold too."""


def _strings(v: Any, where: str, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"{where}: rule {key} must be a list of strings")
    return tuple(dict.fromkeys(x.strip() for x in v if x.strip()))


def _parse(entry: dict[str, Any], where: str) -> TurnRule:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: every [[rule]] needs a 'name'")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where}: rule {name!r}: unknown key(s) {sorted(unknown)}")
    side = entry.get("side", "agent")
    if side not in ("agent", "customer"):
        raise ValueError(f"{where}: rule {name!r}: side must be 'agent' or 'customer', got {side!r}")
    rule = TurnRule(
        name=name,
        category=entry.get("category", name),
        severity=entry.get("severity", "minor"),
        trigger=_strings(entry.get("trigger"), where, "trigger"),
        scope=entry.get("scope", "turn"),
        with_=_strings(entry.get("with"), where, "with"),
        without=_strings(entry.get("without"), where, "without"),
        not_answering=_strings(entry.get("not_answering"), where, "not_answering"),
        answering_question=_strings(entry.get("answering_question"), where, "answering_question"),
        request=_strings(entry.get("request"), where, "request"),
        suggestion=entry.get("suggestion", ""),
        side=side,
        window=parse_window(entry["window"], f"{where}: rule {name!r}") if "window" in entry else None,
    )
    if side != "agent" and (rule.not_answering or rule.answering_question):
        raise ValueError(f"{where}: rule {name!r}: not_answering / answering_question need side = 'agent'")
    if rule.severity not in SEVERITIES:
        raise ValueError(f"{where}: rule {name!r}: severity must be one of {SEVERITIES}")
    if rule.scope not in SCOPES:
        raise ValueError(f"{where}: rule {name!r}: scope must be one of {SCOPES}")
    if rule.request and not rule.answering_question:
        raise ValueError(f"{where}: rule {name!r}: 'request' is only used with 'answering_question'")
    if not rule.trigger:
        raise ValueError(f"{where}: rule {name!r}: 'trigger' names at least one lexicon category")
    return rule


def load_rules(config: Config | None = None, builtin: bool = True) -> dict[str, TurnRule]:
    """Built-in turn rules, then the ``[[rule]]`` tables of ``config.lexicon.files`` (a rule with an
    existing name replaces it); rules whose category is in ``lexicon.disabled_categories`` are dropped."""
    config = config or Config()
    paths = [RULES_FILE] if builtin else []
    base = Path(config.base_dir)
    paths += [Path(p) if Path(p).is_absolute() else base / p for p in config.lexicon.files]
    rules: dict[str, TurnRule] = {}
    for path in paths:
        entries = read_toml(path, "rule").get("rule", [])
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected [[rule]] tables")
        for entry in entries:
            rule = _parse(entry, str(path))
            rules[rule.name] = rule
    off = set(config.lexicon.disabled_categories)
    return {k: r for k, r in rules.items() if r.category not in off}


def _phrase_lexicon(rule: TurnRule, lexicon: Lexicon) -> Lexicon:
    """The rule's phrases as two categories, plus the trigger terms as a mask: a phrase inside the
    trigger's own term is not a separate occurrence (longest match wins). Compiled once per rule and
    trigger terms."""
    mask = tuple(t for c in rule.trigger if c in lexicon.categories for t in lexicon.categories[c].terms)
    return _compiled_phrases(rule, mask)


@lru_cache(maxsize=32)
def _compiled_phrases(rule: TurnRule, mask: tuple[str, ...]) -> Lexicon:
    cats = {}
    if mask:
        cats["mask"] = Category("mask", "rule", "info", rule.side, mask)
    if rule.with_:
        cats["with"] = Category("with", "rule", "info", rule.side, rule.with_)
    if rule.without:
        cats["without"] = Category("without", "rule", "info", rule.side, rule.without)
    if rule.not_answering:
        cats["answering"] = Category("answering", "rule", "info", "customer", rule.not_answering)
    if rule.answering_question:
        cats["question"] = Category("question", "rule", "info", "customer", rule.answering_question)
    if rule.request:
        cats["request"] = Category("request", "rule", "info", "customer", rule.request)
    return Lexicon(cats)


def _speech_rows(messages: pd.DataFrame, hits: pd.DataFrame, speech: pd.DataFrame) -> Any:
    """``hit positions -> speech row`` (-1: none): by row when ``hits`` is the last ``find_hits``
    result of ``messages`` (no hashing of message ids), else by message id."""
    from csaudit.metrics.lexicon import _hit_rows, _speech_pos

    rows = _hit_rows(messages, hits)
    pos = _speech_pos(messages, speech) if rows is not None else None
    if rows is not None and pos is not None:
        of_msg = np.full(len(messages), -1, dtype=np.int64)
        of_msg[pos] = np.arange(len(pos))
        return lambda idx: of_msg[rows[idx]]
    ids = pd.Index(speech["message_id"].astype("str").array)
    return lambda idx: ids.get_indexer(pd.Series(hits["message_id"].array.take(idx), dtype="str").array)


def _customer_turns(found: pd.DataFrame, cat: str, pos: pd.Index, rows: np.ndarray, tkey: np.ndarray,
                    is_ag: np.ndarray) -> np.ndarray:
    """Keys of the customer turns (among the scanned ``rows``) with a phrase of ``cat``."""
    ids = found.loc[found["category"] == cat, "message_id"].astype("str")
    has_row = np.zeros(len(rows), dtype=bool)
    has_row[pos.get_indexer(ids.array)] = True
    return np.unique(tkey[rows[has_row & ~is_ag[rows]]])


def _scan(speech: pd.DataFrame, rows: np.ndarray, lexicon: Lexicon) -> tuple[pd.DataFrame, pd.Index]:
    """Phrase hits of ``lexicon`` on the speech ``rows`` (per distinct text) and the rows' message ids."""
    msgs = pd.DataFrame(
        {
            "message_id": speech["message_id"].array.take(rows),
            "conversation_id": speech["conversation_id"].array.take(rows),
            "agent": speech["agent"].array.take(rows),
            "role": pd.Categorical(np.where(speech["is_agent"].to_numpy()[rows], "agent", "customer")),
            "ts": speech["ts"].array.take(rows),
            "text": speech["text"].array.take(rows),
        }
    )
    return _find_hits(msgs, lexicon, remember=False), pd.Index(msgs["message_id"].astype("str").array)


@lru_cache(maxsize=32)
def _window_phrases(phrases: tuple[str, ...], side: str) -> Lexicon:
    return Lexicon({"phrase": Category("phrase", "rule", "info", side, phrases)})


def _phrase_rows(speech: pd.DataFrame) -> Any:
    """``(phrases, side, candidates) -> bool per speech row``: the candidate rows (bool per speech row)
    with one of the phrases (matched like lexicon terms, on that side's messages only)."""
    is_ag = speech["is_agent"].to_numpy(dtype=bool)

    def rows_with(phrases: tuple[str, ...], side: str, candidates: np.ndarray) -> np.ndarray:
        out = np.zeros(len(speech), dtype=bool)
        rows = np.flatnonzero(candidates & (is_ag if side == "agent" else ~is_ag))
        if not len(rows):
            return out
        found, pos = _scan(speech, rows, _window_phrases(phrases, side))
        at = pos.get_indexer(found["message_id"].astype("str").array)
        out[rows[at[at >= 0]]] = True
        return out

    return rows_with


def turn_rule_hits(
    messages: pd.DataFrame,
    hits: pd.DataFrame,
    rules: dict[str, TurnRule],
    lexicon: Lexicon,
    speech: pd.DataFrame | None = None,
    rounds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """HITS rows (``rule`` = ``rule:<name>``) of every rule: one per message with a trigger hit of the
    rule's side (its first trigger hit's term and offsets) whose scope has one of ``with`` (when
    given) and none of ``without``, not answering a question (``not_answering`` /
    ``answering_question``), and whose ``window`` condition holds. ``hits``:
    :func:`csaudit.metrics.lexicon.find_hits` of ``messages``; ``rounds``: ROUNDS (for window events)."""
    tz = _tz(messages)
    if not rules or not len(hits) or not len(messages):
        return schema.empty("hits", tz)
    triggers = sorted({c for r in rules.values() for c in r.trigger})
    any_trig = hits["category"].isin(triggers).to_numpy(dtype=bool)
    if not any_trig.any():
        return schema.empty("hits", tz)
    if speech is None:
        speech = agent_turns(messages)
    speech_row = _speech_rows(messages, hits, speech)
    side_of = hits["side"].astype("str").to_numpy()
    is_lex = np.zeros(len(hits), dtype=bool)
    is_lex[any_trig] = hits["rule"].to_numpy()[any_trig].astype(str).astype("U8") == "lexicon:"
    conv = speech["conv"].to_numpy()
    turn = speech["turn"].to_numpy()
    is_ag = speech["is_agent"].to_numpy()
    tkey = conv.astype(np.int64) * (int(turn.max(initial=0)) + 2) + turn
    window_ctx: WindowContext | None = None
    parts = []
    for rule in rules.values():
        sel = any_trig & is_lex & (side_of == rule.side) & hits["category"].isin(list(rule.trigger)).to_numpy(dtype=bool)
        idx = np.flatnonzero(sel)
        first = ~pd.Series(hits["message_id"].array.take(idx)).duplicated().to_numpy()
        idx = idx[first]
        at = speech_row(idx)
        idx, at = idx[at >= 0], at[at >= 0]
        if not len(idx):
            continue
        ok = np.ones(len(at), dtype=bool)
        looks_back = bool(rule.not_answering or rule.answering_question)
        if rule.with_ or rule.without or looks_back:
            unit = turn if rule.scope == "turn" else np.arange(len(speech))
            key = conv.astype(np.int64) * (int(unit.max()) + 2) + unit
            in_scope = np.isin(key, key[at])
            # the customer turn just before the trigger's turn (turns alternate roles in a conversation)
            before = tkey[at] - 1
            if looks_back:
                in_scope |= np.isin(tkey, before) & ~is_ag
            rows = np.flatnonzero(in_scope)
            found, pos = _scan(speech, rows, _phrase_lexicon(rule, lexicon))
            for name, want in (("with", True), ("without", False)):
                if not getattr(rule, "with_" if name == "with" else name):
                    continue
                ids = found.loc[found["category"] == name, "message_id"].astype("str")
                has_row = np.zeros(len(rows), dtype=bool)
                has_row[pos.get_indexer(ids.array)] = True
                # scope has the phrase: any row of the trigger's side with the same key
                own = is_ag[rows] if rule.side == "agent" else ~is_ag[rows]
                keys_with = np.unique(key[rows[has_row & own]])
                present = np.isin(key[at], keys_with)
                ok &= present if want else ~present
            if rule.not_answering:
                ok &= ~np.isin(before, _customer_turns(found, "answering", pos, rows, tkey, is_ag))
            if rule.answering_question:
                # a question that asks for no action: the agent's "no" answers it
                asked = np.isin(before, _customer_turns(found, "question", pos, rows, tkey, is_ag))
                ok &= ~(asked & ~np.isin(before, _customer_turns(found, "request", pos, rows, tkey, is_ag)))
        if rule.window is not None and ok.any():
            if window_ctx is None:
                window_ctx = WindowContext(speech, speech_row, hits, rounds, _phrase_rows(speech))
            holds, valid = window_ctx.evaluate(rule.window, at)
            ok &= holds & valid
        fired = hits.iloc[idx[ok]]
        if not len(fired):
            continue
        n = len(fired)
        parts.append(
            fired.assign(
                rule=f"rule:{rule.name}",
                category=rule.category,
                severity=rule.severity,
                suggestion=_categorical([rule.suggestion], np.zeros(n, dtype=np.int64)),
            )
        )
    if not parts:
        return schema.empty("hits", tz)
    return schema.conform(schema.concat(parts, "hits", tz).reset_index(drop=True), "hits", tz)


def rule_counts(hits: pd.DataFrame, rules: dict[str, TurnRule]) -> pd.DataFrame:
    """Per agent: ``<category>_hits`` for each rule's category (0 where none), from the ``rule:<name>``
    rows of ``hits`` (the scorecard's counts of turn and window rules)."""
    cats = sorted({r.category for r in rules.values()})
    names = [f"rule:{n}" for n in rules]
    h = hits.loc[hits["rule"].isin(names).to_numpy(dtype=bool) & hits["agent"].notna().to_numpy(), ["agent", "category"]]
    agents = pd.Index(sorted(hits["agent"].dropna().unique()), name="agent", dtype="str")
    out = pd.DataFrame(index=agents)
    by = h.groupby(["category", "agent"], observed=True).size()
    for cat in cats:
        s = by.xs(cat, level="category") if cat in by.index.get_level_values(0) else pd.Series(dtype="int64")
        out[f"{cat}_hits"] = s.reindex(agents, fill_value=0).astype("int64")
    return out.reset_index()
