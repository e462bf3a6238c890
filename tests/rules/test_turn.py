"""Turn rules (csaudit.rules.turn): conditions over the agent's turn. Texts are ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from csaudit.config import Config, LexiconConfig
from csaudit.metrics.lexicon import Lexicon, find_hits
from csaudit.rules import TurnRule, load_rules, turn_rule_hits
from tests.metrics.test_lexicon import make_messages


def fired(rows: list[tuple], rules: dict[str, TurnRule] | None = None) -> list[tuple[str, str, str]]:
    m = make_messages(rows)
    lex = Lexicon.load()
    h = find_hits(m, lex)
    out = turn_rule_hits(m, h, rules if rules is not None else load_rules(), lex)
    return list(zip(out["message_id"], out["rule"].astype(str), out["term"].astype(str), strict=True))


def test_bare_refusal_needs_no_reason_or_alternative_in_the_turn() -> None:
    rows = [
        ("c1", "customer", "能改地址吗"),
        ("c1", "agent", "不能改的"),  # m1: bare
        ("c2", "customer", "能改地址吗"),
        ("c2", "agent", "不能改的"),
        ("c2", "agent", "因为已经发货了"),  # same turn gives a reason
        ("c3", "customer", "能改地址吗"),
        ("c3", "agent", "不能改的"),
        ("c3", "customer", "为什么"),
        ("c3", "agent", "因为已经发货了"),  # next turn: too late, m6 stays bare
    ]
    got = fired(rows)
    assert [(i, r) for i, r, _ in got] == [("m1", "rule:bare_refusal"), ("m6", "rule:bare_refusal")]
    assert got[0][2] == "不能"


def test_a_phrase_inside_the_trigger_term_does_not_count() -> None:
    # 可以 (an alternative) lies inside 不可以: the refusal is still bare
    assert [i for i, _, _ in fired([("c1", "customer", "能退吗"), ("c1", "agent", "不可以的")])] == ["m1"]
    assert fired([("c1", "customer", "能退吗"), ("c1", "agent", "不可以的，您可以换货")]) == []


def test_message_scope_and_with_condition() -> None:
    rule = TurnRule("r", "r", "minor", ("refusal",), scope="message", with_=("绝对",))
    rows = [
        ("c1", "customer", "能退吗"),
        ("c1", "agent", "不能退"),
        ("c1", "agent", "绝对的"),  # other message: not in a message scope
        ("c2", "customer", "能退吗"),
        ("c2", "agent", "绝对不能退"),
    ]
    assert [i for i, _, _ in fired(rows, {"r": rule})] == ["m4"]


def test_shop_file_replaces_a_rule_and_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "shop.toml"
    p.write_text(
        '[[rule]]\nname = "bare_refusal"\ncategory = "bare_refusal"\nseverity = "major"\n'
        'trigger = ["refusal"]\nwithout = ["店规"]\nsuggestion = "说明原因"\n',
        encoding="utf-8",
    )
    rules = load_rules(Config(lexicon=LexiconConfig(files=[str(p)])))
    assert rules["bare_refusal"].severity == "major" and rules["bare_refusal"].without == ("店规",)
    rows = [("c1", "customer", "能退吗"), ("c1", "agent", "不能退，您可以换货")]
    assert [i for i, _, _ in fired(rows, rules)] == ["m1"]  # 可以 no longer excuses it
    p.write_text('[[rule]]\nname = "x"\ntrigger = ["refusal"]\nscope = "week"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="shop.toml.*scope"):
        load_rules(Config(lexicon=LexiconConfig(files=[str(p)])))


def test_not_answering_a_product_question() -> None:
    rule = TurnRule("r", "r", "minor", ("refusal",), not_answering=("支持",))
    rows = [
        ("c1", "customer", "这款支持快充吗"),
        ("c1", "agent", "不支持的"),  # answers a question about the product
        ("c2", "customer", "帮我改个地址"),
        ("c2", "agent", "不支持的"),  # declines a request
        ("c3", "customer", "这款支持快充吗"),
        ("c3", "agent", "好的"),
        ("c3", "customer", "那改地址"),
        ("c3", "agent", "不支持的"),  # only the customer turn just before counts
    ]
    assert [i for i, _, _ in fired(rows, {"r": rule})] == ["m3", "m7"]


def test_answering_question_asks_for_no_action() -> None:
    rule = TurnRule(
        "r", "r", "minor", ("refusal",), answering_question=("吗", "?"), request=("帮我", "退", "几点")
    )
    rows = [
        ("c1", "customer", "这个杯子能装热水吗"),
        ("c1", "agent", "不可以的"),  # answers a question about the product
        ("c2", "customer", "能帮我退掉吗"),
        ("c2", "agent", "不可以的"),  # the question asks for an action: a refusal
        ("c3", "customer", "明天几点到?"),
        ("c3", "agent", "不能确定的"),  # asks to be told something: declining is a refusal
        ("c4", "customer", "我要退货"),
        ("c4", "agent", "不可以的"),  # no question at all
    ]
    assert [i for i, _, _ in fired(rows, {"r": rule})] == ["m3", "m5", "m7"]
    # without the condition every refusal fires
    plain = TurnRule("r", "r", "minor", ("refusal",))
    assert [i for i, _, _ in fired(rows, {"r": plain})] == ["m1", "m3", "m5", "m7"]


def test_builtin_bare_refusal_spares_product_answers_and_unnamed_reasons() -> None:
    rows = [
        ("c1", "customer", "这款耳机支持降噪吗"),
        ("c1", "agent", "亲，不支持的哦"),  # a product answer
        ("c2", "customer", "可以帮我改一下地址吗"),
        ("c2", "agent", "亲，不支持的哦"),  # a declined request
        ("c3", "customer", "能帮我退掉吗"),
        ("c3", "agent", "生鲜类不支持退的"),  # the item's kind is the reason
        ("c4", "customer", "能帮我退掉吗"),
        ("c4", "agent", "不能退哦，只能换货"),  # the one way that works
    ]
    assert [i for i, _, _ in fired(rows)] == ["m3"]


def test_request_needs_answering_question(tmp_path: Path) -> None:
    p = tmp_path / "shop.toml"
    p.write_text('[[rule]]\nname = "x"\ntrigger = ["refusal"]\nrequest = ["退"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="answering_question"):
        load_rules(Config(lexicon=LexiconConfig(files=[str(p)])))
