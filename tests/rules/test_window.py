"""Window conditions of [[rule]] tables (csaudit.rules.window). Texts are ours."""

from __future__ import annotations

import pandas as pd
import pytest

from csaudit.config import Config
from csaudit.metrics.lexicon import Lexicon, find_hits
from csaudit.model.rounds import rounds as make_rounds
from csaudit.rules import TurnRule, load_rules, turn_rule_hits
from csaudit.rules.window import parse_window
from tests.metrics.test_lexicon import make_messages


def fired(rows: list[tuple], rules: dict[str, TurnRule], with_rounds: bool = False) -> list[str]:
    m = make_messages(rows)
    lex = Lexicon.load()
    h = find_hits(m, lex)
    r = make_rounds(m, Config().latency) if with_rounds else None
    out = turn_rule_hits(m, h, rules, lex, rounds=r)
    return list(out["message_id"])


def rule(window: dict, trigger: str = "escalation", side: str = "customer") -> dict[str, TurnRule]:
    return {"w": TurnRule("w", "w", "major", (trigger,), side=side, window=parse_window(window, "test"))}


def test_not_followed_within_agent_messages() -> None:
    rows = [
        ("c1", "customer", "再这样我就投诉你们"),
        ("c1", "agent", "您好"),
        ("c1", "agent", "非常抱歉，给您添麻烦了"),  # an apology as the 2nd agent message: in the window
        ("c2", "customer", "我要投诉"),
        ("c2", "agent", "您好"),
        ("c2", "agent", "请问订单号是多少"),
        ("c2", "agent", "非常抱歉"),  # 3rd agent message: too late
        ("c3", "customer", "我要给差评"),  # the conversation ends: nothing follows
    ]
    got = fired(rows, rule({"not": {"categories": ["apology"], "agent_messages": 2}}))
    assert got == ["m3", "m7"]
    # the window is what decides: with 3 agent messages c2 is met too
    assert fired(rows, rule({"not": {"categories": ["apology"], "agent_messages": 3}})) == ["m7"]
    # phrases count like categories
    assert fired(rows, rule({"not": {"phrases": ["订单号"], "agent_messages": 2}})) == ["m0", "m7"]


def test_messages_before_and_seconds() -> None:
    rows = [
        ("c1", "customer", "你们太慢了", 0),
        ("c1", "agent", "非常抱歉", 10),
        ("c1", "customer", "我要投诉", 20),  # an apology 1 message before
        ("c2", "customer", "我要投诉", 0),
        ("c2", "agent", "非常抱歉", 400),  # after, but 400 s later
    ]
    before = rule({"categories": ["apology"], "messages": 1, "direction": "before"})
    assert fired(rows, before) == ["m2"]
    assert fired(rows, rule({"not": {"categories": ["apology"], "seconds": 300}})) == ["m2", "m3"]
    assert fired(rows, rule({"not": {"categories": ["apology"], "seconds": 500}})) == ["m2"]


def test_all_any_not_and_the_slow_round_event() -> None:
    rows = [
        ("c1", "customer", "在吗", 0),
        ("c1", "agent", "您好", 900),  # a slow reply (900 s)
        ("c1", "customer", "我要投诉", 910),
        ("c2", "customer", "在吗", 0),
        ("c2", "agent", "您好", 5),
        ("c2", "customer", "我要投诉", 10),
    ]
    slow = {"event": "slow_round", "messages": 2, "direction": "before"}
    assert fired(rows, rule(slow), with_rounds=True) == ["m2"]
    assert fired(rows, rule({"not": slow}), with_rounds=True) == ["m5"]
    both = {"all": [slow, {"not": {"categories": ["apology"], "agent_messages": 1}}]}
    assert fired(rows, rule(both), with_rounds=True) == ["m2"]
    either = {"any": [slow, {"phrases": ["您好"], "messages": 1, "direction": "before"}]}
    assert fired(rows, rule(either), with_rounds=True) == ["m2", "m5"]


def test_builtin_no_deescalation() -> None:
    rules = {k: v for k, v in load_rules().items() if k == "no_deescalation"}
    rows = [
        ("c1", "customer", "东西坏了，我要投诉"),
        ("c1", "agent", "请问是哪天买的"),  # neither an apology nor a step
        ("c2", "customer", "东西坏了，我要投诉"),
        ("c2", "agent", "马上为您补发"),  # a concrete step
        ("c3", "customer", "问题解决了，谢谢，本来想投诉的"),  # resolved: no threat
        ("c3", "agent", "好的"),
    ]
    assert fired(rows, rules) == ["m0"]


def test_window_errors_name_the_place() -> None:
    with pytest.raises(ValueError, match="here.*exactly one of"):
        parse_window({"categories": ["apology"]}, "here")
    with pytest.raises(ValueError, match="here.*direction"):
        parse_window({"categories": ["apology"], "messages": 2, "direction": "later"}, "here")
    with pytest.raises(ValueError, match="here.*'not' takes no other key"):
        parse_window({"not": {"categories": ["a"], "messages": 1}, "messages": 2}, "here")
    with pytest.raises(ValueError, match="here.*categories, phrases or an event"):
        parse_window({"messages": 2}, "here")


def test_rule_counts_per_agent() -> None:
    from csaudit.rules import rule_counts

    rules = load_rules()
    m = make_messages([("c1", "customer", "我要投诉"), ("c1", "agent", "请问是哪天买的")])
    lex = Lexicon.load()
    h = find_hits(m, lex)
    hits = pd.concat([h, turn_rule_hits(m, h, rules, lex)], ignore_index=True)
    out = rule_counts(hits, rules).set_index("agent")
    assert out.loc["云栖家居:阿青", "no_deescalation_hits"] == 1
    assert out.loc["云栖家居:阿青", "bare_refusal_hits"] == 0
