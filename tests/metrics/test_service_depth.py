import pytest

from csaudit.config import Config, ServiceConfig
from csaudit.metrics.service_depth import emoticon_counts, quick_replies, service_depth
from tests.chat_builders import A, B, cat, msgs
from tests.metrics.shop_builders import conversations

QR = "亲，我们48小时内发货哦"


def chats():
    return cat(
        msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:00:10", "在的[微笑]"),
              ("agent", A, "10:00:20", "您好/:^_^请问有什么可以帮您"),  # 16 chars in 10 s = 96/min
              ("agent", A, "10:00:30", QR)], conv="k1", customer="c1"),
        msgs([("customer", None, "11:00:00", "几天发货"), ("agent", A, "11:00:05", QR),
              ("agent", A, "11:00:35", "好的😀😀")], conv="k2", customer="c2"),  # 4 chars in 30 s = 8/min
        msgs([("customer", None, "12:00:00", "在吗"), ("agent", B, "12:00:05", "在")], conv="k3", customer="c3"),
    )


def test_emoticon_patterns():
    import pandas as pd

    n = emoticon_counts(pd.Series(["[微笑][呲牙]", "/:^_^/:Q好", "😀👍", "[不是表情的长方括号内容]", "https://x.cn"]),
                        ServiceConfig().emoticon_patterns)
    assert list(n) == [2, 2, 2, 0, 0]


def test_service_depth_per_agent():
    conv = conversations([("k1", "c1", A, "2026-11-10 10:00", "2026-11-10 10:00", True),
                          ("k2", "c2", A, "2026-11-10 11:00", "2026-11-10 11:00", True),
                          ("k3", "c3", B, "2026-11-10 12:00", "2026-11-10 12:00", True)]).assign(csat=[0.8, 0.6, 0.9])
    t = service_depth(chats(), conv, Config()).set_index("agent")
    assert t.loc[A, "agent_messages"] == 5 and t.loc[A, "emoticons"] == 4
    assert t.loc[A, "emoticons_per100"] == pytest.approx(80.0)
    assert t.loc[A, "emoticon_message_share"] == pytest.approx(3 / 5)
    assert t.loc[A, "quick_reply_messages"] == 2 and t.loc[A, "quick_reply_share"] == pytest.approx(0.4)
    # pairs: (10:00:10 → 10:00:20, 16 chars) and (11:00:05 → 11:00:35, 4 chars); 10:00:30 is a quick reply
    assert t.loc[A, "typing_samples"] == 2
    assert t.loc[A, "typing_cpm"] == pytest.approx((96 + 8) / 2)
    assert t.loc[A, "csat_with_quick"] == pytest.approx(0.7) and t.loc[B, "emoticons"] == 0
    assert t.loc[B, "quick_reply_share"] == 0 and t.loc[B, "typing_samples"] == 0
    q = quick_replies(chats(), Config())
    assert list(q["text"]) == [QR] and q.loc[0, "n_conversations"] == 2
