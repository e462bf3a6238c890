"""Context conditions of lexicon categories: each test fails when its condition is ignored. Texts are ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from csaudit.config import Config, LexiconConfig
from csaudit.metrics.lexicon import Category, Lexicon, find_hits
from tests.metrics.test_lexicon import agent_msgs


def cats(lex: Lexicon, *texts: str) -> list[tuple[str, str]]:
    """(category, term) of every hit, message by message."""
    h = find_hits(agent_msgs(*texts), lex)
    return list(zip(h["category"].astype(str), h["term"].astype(str), strict=True))


def one(**kw) -> Lexicon:
    return Lexicon({"x": Category("x", "negative", "major", "agent", kw.pop("terms"), **kw)})


def test_not_before_negation_and_purpose_in_the_same_clause() -> None:
    lex = one(terms=("保证",), not_before=("无法", "为了"))
    assert cats(lex, "我保证明天到") == [("x", "保证")]
    assert cats(lex, "这个无法保证", "为了保证质量") == []
    # another clause, or farther than context_chars, does not count as context
    assert cats(lex, "无法，保证明天到") == [("x", "保证")]
    far = one(terms=("保证",), not_before=("无法",), context_chars=2)
    assert cats(far, "无法完全地保证") == [("x", "保证")]


def test_not_after_question() -> None:
    lex = one(terms=("不能",), not_after=("吗", "?"))
    assert cats(lex, "这个不能改") == [("x", "不能")]
    assert cats(lex, "开机不能用吗", "不能用？") == []


def test_not_in_code_emoticon() -> None:
    lex = one(terms=("呵呵",), not_in_code=True)
    assert cats(lex, "[呵呵]好的") == []
    assert cats(lex, "呵呵，好的") == [("x", "呵呵")]
    plain = one(terms=("呵呵",))
    assert cats(plain, "[呵呵]好的") == [("x", "呵呵")]


def test_requires_an_invitation_in_the_same_message_for_the_listed_terms() -> None:
    lex = one(terms=("微信", "私聊"), requires=("加我", "联系我"), requires_terms=("微信",))
    assert cats(lex, "请用微信扫码") == []
    assert cats(lex, "微信搜一下，加我") == [("x", "微信")]
    assert cats(lex, "私聊吧") == [("x", "私聊")]  # not in requires_terms: counts alone


def test_unless_phrase_in_the_same_message() -> None:
    lex = one(terms=("刷单",), unless=("诈骗",))
    assert cats(lex, "刷单有奖励") == [("x", "刷单")]
    assert cats(lex, "刷单都是诈骗") == []


def test_shop_file_extends_conditions(tmp_path: Path) -> None:
    p = tmp_path / "shop.toml"
    p.write_text('[[category]]\ncategory = "refusal"\nnot_before = ["假设"]\n', encoding="utf-8")
    lex = Lexicon.load(Config(lexicon=LexiconConfig(files=[str(p)])))
    assert "假设" in lex.categories["refusal"].not_before and "如果" in lex.categories["refusal"].not_before
    assert [c for c, _ in cats(lex, "假设不能改")] == []
    p.write_text('[[category]]\ncategory = "refusal"\ncontext_chars = "far"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="context_chars"):
        Lexicon.load(Config(lexicon=LexiconConfig(files=[str(p)])))


# -- golden tests of the built-in lexicons (short texts we wrote) ----------------------------------


@pytest.fixture(scope="module")
def builtin() -> Lexicon:
    return Lexicon.load()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("抱歉，这边无法修改地址", "refusal"),
        ("这个操作不了的", "refusal"),
        ("不可以的哦", "refusal"),
        ("已经超过了时间", "refusal"),
        ("您联系下快递员吧", "deflection"),
        ("建议您先联系一下店家", "deflection"),
        ("有什么问题我可以帮您处理呢", "greeting"),
        ("很高兴为您服务", "greeting"),
        ("有需要随时联系哦", "closing"),
        ("祝您生活愉快", "closing"),
        ("感谢您的耐心等待", "closing"),
        ("不客气哦", "closing"),
        ("请问还有其他问题吗", "closing"),
        ("加我微信发你图", "off_platform"),
        ("手机号多少，我加你", "off_platform"),
        ("好评返现五元", "inducement"),
        ("我保证明天一定到", "risky_promise"),
        ("这款不讲价的", "bargain_refusal"),
        ("你滚吧", "abuse"),
        ("嗯嗯", "curt"),
        ("明天一定给您回复", "risky_promise"),
        ("擦，发错了", "slang"),
    ],
)
def test_golden_hits(builtin: Lexicon, text: str, category: str) -> None:
    assert category in {c for c, _ in cats(builtin, text)}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("如果还是不行您就申请售后", "refusal"),
        ("给您带来不好的体验很抱歉", "refusal"),
        ("手机不能正常开机吗", "refusal"),
        ("我帮您联系商家", "deflection"),
        ("请提供一下绑定的手机号", "off_platform"),
        ("退款会退回微信零钱", "off_platform"),
        ("请关注微信公众号查询", "off_platform"),
        ("不要添加陌生人微信", "off_platform"),
        ("有疑问请联系我们的客服电话", "off_platform"),
        ("可以拨打我司服务电话咨询", "off_platform"),
        ("添加微信客服即可查询", "off_platform"),
        ("为了防止刷单，系统会拦截", "inducement"),
        ("这个无法保证哦", "risky_promise"),
        ("为了保证质量请冷藏", "risky_promise"),
        ("请您保证配件齐全", "risky_promise"),
        ("祝您财源滚滚", "abuse"),
        ("用软布拭擦屏幕", "slang"),
        ("白板擦在赠品里", "slang"),
        ("[呵呵]", "slang"),
        ("可以的，但是需要先检测", "contradiction"),
        ("不讲价，不过可以送您一张券", "bargain_refusal"),
        ("亲，发货了", "greeting"),
        ("嗯嗯好的", "curt"),
        ("不一定能到", "risky_promise"),
        ("还有什么可以帮您的吗", "greeting"),
    ],
)
def test_golden_innocent_texts_do_not_hit(builtin: Lexicon, text: str, category: str) -> None:
    assert category not in {c for c, _ in cats(builtin, text)}
