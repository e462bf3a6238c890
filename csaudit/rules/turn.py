"""Turn rules: a trigger hit plus phrases required or excluded in the same message or agent turn.

Evaluated on the hit table and :func:`csaudit.metrics.lexicon.agent_turns` (no per-message Python):
the trigger hits are joined to their speech rows, the messages of the triggered turns are scanned once
for the rule's phrases (per distinct text, by the lexicon matcher), and a turn passes or fails by a
group-wise ``any``.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.config import Config
from csaudit.metrics.lexicon import SEVERITIES, Category, Lexicon, _categorical, _find_hits, _tz, agent_turns
from csaudit.model import schema

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).resolve().parent / "rules.toml"
SCOPES = ("message", "turn")
_KEYS = {
    "name", "category", "severity", "trigger", "scope", "with", "without", "not_answering", "answering_question",
    "request", "suggestion", "side",
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
    if entry.get("side", "agent") != "agent":
        raise ValueError(f"{where}: rule {name!r}: only side = 'agent' is supported")
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
    )
    if rule.severity not in SEVERITIES:
        raise ValueError(f"{where}: rule {name!r}: severity must be one of {SEVERITIES}")
    if rule.scope not in SCOPES:
        raise ValueError(f"{where}: rule {name!r}: scope must be one of {SCOPES}")
    if rule.request and not rule.answering_question:
        raise ValueError(f"{where}: rule {name!r}: 'request' is only used with 'answering_question'")
    if not rule.trigger:
        raise ValueError(f"{where}: rule {name!r}: 'trigger' names at least one lexicon category")
    return rule


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: rule file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def load_rules(config: Config | None = None, builtin: bool = True) -> dict[str, TurnRule]:
    """Built-in turn rules, then the ``[[rule]]`` tables of ``config.lexicon.files`` (a rule with an
    existing name replaces it); rules whose category is in ``lexicon.disabled_categories`` are dropped."""
    config = config or Config()
    paths = [RULES_FILE] if builtin else []
    base = Path(config.base_dir)
    paths += [Path(p) if Path(p).is_absolute() else base / p for p in config.lexicon.files]
    rules: dict[str, TurnRule] = {}
    for path in paths:
        entries = _read(path).get("rule", [])
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
        cats["mask"] = Category("mask", "rule", "info", "agent", mask)
    if rule.with_:
        cats["with"] = Category("with", "rule", "info", "agent", rule.with_)
    if rule.without:
        cats["without"] = Category("without", "rule", "info", "agent", rule.without)
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


def turn_rule_hits(
    messages: pd.DataFrame,
    hits: pd.DataFrame,
    rules: dict[str, TurnRule],
    lexicon: Lexicon,
    speech: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """HITS rows (``rule`` = ``rule:<name>``) of every turn rule: one per message with a trigger hit
    (its first trigger hit's term and offsets) whose scope has one of ``with`` (when given) and none
    of ``without``. ``hits``: :func:`csaudit.metrics.lexicon.find_hits` of ``messages``."""
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
    agent_side = (hits["side"] == "agent").to_numpy(dtype=bool, na_value=False)
    is_lex = np.zeros(len(hits), dtype=bool)
    is_lex[any_trig] = hits["rule"].to_numpy()[any_trig].astype(str).astype("U8") == "lexicon:"
    parts = []
    for rule in rules.values():
        sel = any_trig & is_lex & agent_side & hits["category"].isin(list(rule.trigger)).to_numpy(dtype=bool)
        idx = np.flatnonzero(sel)
        first = ~pd.Series(hits["message_id"].array.take(idx)).duplicated().to_numpy()
        idx = idx[first]
        at = speech_row(idx)
        idx, at = idx[at >= 0], at[at >= 0]
        if not len(idx):
            continue
        trig = hits.iloc[idx]
        conv = speech["conv"].to_numpy()
        unit = speech["turn"].to_numpy() if rule.scope == "turn" else np.arange(len(speech))
        key = conv.astype(np.int64) * (int(unit.max()) + 2) + unit
        in_scope = np.isin(key, key[at])
        # the customer turn just before the trigger's turn (turns alternate roles in a conversation)
        turn = speech["turn"].to_numpy()
        tkey = conv.astype(np.int64) * (int(turn.max()) + 2) + turn
        before = tkey[at] - 1
        looks_back = bool(rule.not_answering or rule.answering_question)
        if looks_back:
            in_scope |= np.isin(tkey, before) & ~speech["is_agent"].to_numpy()
        rows = np.flatnonzero(in_scope)
        scope_msgs = pd.DataFrame(
            {
                "message_id": speech["message_id"].array.take(rows),
                "conversation_id": speech["conversation_id"].array.take(rows),
                "agent": speech["agent"].array.take(rows),
                "role": pd.Categorical(np.where(speech["is_agent"].to_numpy()[rows], "agent", "customer")),
                "ts": speech["ts"].array.take(rows),
                "text": speech["text"].array.take(rows),
            }
        )
        found = _find_hits(scope_msgs, _phrase_lexicon(rule, lexicon), remember=False)
        pos = pd.Index(scope_msgs["message_id"].astype("str").array)
        ok = np.ones(len(at), dtype=bool)
        is_ag = speech["is_agent"].to_numpy()
        for name, want in (("with", True), ("without", False)):
            if not getattr(rule, "with_" if name == "with" else name):
                continue
            ids = found.loc[found["category"] == name, "message_id"].astype("str")
            has_row = np.zeros(len(rows), dtype=bool)
            has_row[pos.get_indexer(ids.array)] = True
            # scope has the phrase: any agent row of the same key
            keys_with = np.unique(key[rows[has_row & is_ag[rows]]])
            present = np.isin(key[at], keys_with)
            ok &= present if want else ~present
        def customer_turns(cat: str) -> np.ndarray:
            """Keys of the customer turns (in scope) with a phrase of ``cat``."""
            ids = found.loc[found["category"] == cat, "message_id"].astype("str")
            has_row = np.zeros(len(rows), dtype=bool)
            has_row[pos.get_indexer(ids.array)] = True
            return np.unique(tkey[rows[has_row & ~is_ag[rows]]])

        if rule.not_answering:
            ok &= ~np.isin(before, customer_turns("answering"))
        if rule.answering_question:
            # a question that asks for no action: the agent's "no" answers it
            asked = np.isin(before, customer_turns("question")) & ~np.isin(before, customer_turns("request"))
            ok &= ~asked
        fired = trig.loc[ok]
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
