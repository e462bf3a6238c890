import pandas as pd
import pytest

from csaudit.config import Config
from csaudit.metrics.lexicon import find_hits
from csaudit.metrics.sales_actions import (
    TEAM,
    lost_reasons,
    payment_reminders,
    recommendation_agents,
    recommendations,
    reminder_agents,
    sales_hits,
)
from csaudit.model.rounds import rounds
from tests.chat_builders import A, B, cat, msgs
from tests.metrics.shop_builders import conversations, orders

CHATS = cat(
    # c1 orders at 10:05 unpaid; A reminds at 10:30 (the customer pays at 11:00)
    msgs([("customer", None, "10:00:00", "这个有货吗"), ("agent", A, "10:01:00", "有的亲，推荐您搭配同系列的抱枕"),
          ("agent", A, "10:30:00", "亲，看到您还没付款，记得付款哦")], conv="k1", customer="c1"),
    # c2 orders at 10:05 never pays; A reminds only the next day 12:00 (> 24 h): not reminded
    msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:01:00", "在的")], conv="k2", customer="c2"),
    msgs([("agent", A, "12:00:00", "亲，订单还没支付哦，尽快付款")], conv="k2b", customer="c2", day="2026-11-11"),
    # c3: B's order, reminded by A (another agent): not reminded by the order's agent
    msgs([("customer", None, "10:00:00", "在吗"), ("agent", B, "10:01:00", "在的"),
          ("agent", A, "10:20:00", "记得付款哦")], conv="k3", customer="c3"),
)
ORD = orders([
    ("o1", "c1", "2026-11-10 10:05", "2026-11-10 11:00", 300, 0, A, "k1", "order"),
    ("o2", "c2", "2026-11-10 10:05", None, 100, 0, A, "k2", "order"),
    ("o3", "c3", "2026-11-10 10:05", None, 50, 0, B, "k3", "order"),
    ("o4", "c3", "2026-11-10 10:06", "2026-11-10 10:07", 60, 0, B, "k3", "order"),  # paid in 1 min: not pending
])


def test_payment_reminders_by_the_orders_agent_within_the_window():
    h = sales_hits(CHATS, Config())
    r = payment_reminders(ORD, CHATS, h, Config()).set_index("order_id")
    assert list(r.index) == ["o1", "o2", "o3"]
    assert r.loc["o1", "reminded"] and r.loc["o1", "reminder_message_id"] == "k1-2"
    assert r.loc["o1", "reminder_delay_s"] == 25 * 60 and r.loc["o1", "paid_after_reminder"]
    assert not r.loc["o2", "reminded"] and not r.loc["o3", "reminded"]
    a = reminder_agents(r.reset_index()).set_index("agent")
    assert a.loc[A, "pending_orders"] == 2 and a.loc[A, "remind_rate"] == 0.5
    assert a.loc[A, "reminded_paid_rate"] == 1.0 and a.loc[A, "unreminded_paid_rate"] == 0.0
    cfg = Config().updated({"sales": {"remind_within_h": 30}})  # the next-day reminder now counts
    assert payment_reminders(ORD, CHATS, h, cfg).set_index("order_id").loc["o2", "reminded"]


def test_recommendations_conversion_and_aov_with_and_without():
    h = sales_hits(CHATS, Config())
    conv = conversations([
        ("k1", "c1", A, "2026-11-10 10:00", "2026-11-10 10:30", True),
        ("k2", "c2", A, "2026-11-10 10:00", "2026-11-10 10:01", True),
        ("k3", "c3", B, "2026-11-10 10:00", "2026-11-10 10:20", True),
    ]).assign(ordered=[True, False, True], order_amount=[300.0, 0.0, 110.0])
    rec = recommendations(conv, h).set_index("conversation_id")
    assert rec.loc["k1", "recommended"] and rec.loc["k1", "n_recommendations"] == 1
    assert rec.loc["k1", "message_id"] == "k1-1" and rec.loc["k1", "term"] in ("推荐您", "搭配", "同系列")
    assert not rec.loc["k2", "recommended"]
    team = recommendation_agents(rec.reset_index()).set_index("agent").loc[TEAM]
    assert team["inquiries"] == 3 and team["recommended"] == 1
    assert team["conversion_with"] == 1.0 and team["conversion_without"] == 0.5
    assert team["aov_with"] == 300 and team["aov_without"] == 110


def test_lost_reasons_priority_and_evidence():
    m = cat(
        msgs([("customer", None, "10:00:00", "能便宜点吗"), ("agent", A, "10:01:00", "亲，这个价格不行哦"),
              ("customer", None, "10:02:00", "那我再考虑一下"), ("agent", A, "10:03:00", "好的亲")],
             conv="p1", customer="u1"),  # refusal beats price and considering
        msgs([("customer", None, "10:00:00", "太贵了"), ("agent", A, "10:01:00", "我们品质很好的")],
             conv="p2", customer="u2"),  # price
        msgs([("customer", None, "10:00:00", "有L码吗"), ("agent", A, "10:01:00", "在的"),
              ("customer", None, "10:03:00", "我先收藏了")], conv="p3", customer="u3"),  # no reply wins
        msgs([("customer", None, "10:00:00", "这个尺码偏小吗"), ("agent", A, "10:01:00", "正常尺码")],
             conv="p4", customer="u4"),  # stock_size
        msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:01:00", "在的")], conv="p5", customer="u5"),
    )
    lost = pd.DataFrame({"conversation_id": ["p1", "p2", "p3", "p4", "p5"], "customer": ["u1", "u2", "u3", "u4", "u5"],
                         "agent": A, "start": pd.Timestamp("2026-11-10 10:00", tz="Asia/Shanghai"),
                         "text": ["那我再考虑一下", "太贵了", "我先收藏了", "这个尺码偏小吗", "在吗"]})
    cfg = Config()
    out = lost_reasons(lost, m, rounds(m, cfg.latency), find_hits(m), sales_hits(m, cfg), cfg).set_index("conversation_id")
    assert out.loc["p1", "reason"] == "after_refusal" and out.loc["p1", "message_id"] == "p1-1"
    assert out.loc["p2", "reason"] == "price" and out.loc["p2", "evidence_text"] == "太贵了"
    assert out.loc["p3", "reason"] == "no_reply" and out.loc["p3", "message_id"] == "p3-2"
    assert out.loc["p4", "reason"] == "stock_size"
    assert out.loc["p5", "reason"] == "other" and out.loc["p5", "evidence_text"] == "在吗"
    cfg2 = Config().updated({"sales": {"lost_reason_order": ["considering", "price"]}})
    out2 = lost_reasons(lost, m, rounds(m, cfg2.latency), find_hits(m), sales_hits(m, cfg2), cfg2).set_index("conversation_id")
    assert out2.loc["p1", "reason"] == "considering" and out2.loc["p3", "reason"] == "considering"
    with pytest.raises(ValueError, match="lost_reason_order"):
        Config().updated({"sales": {"lost_reason_order": ["mood"]}})


def test_sales_lexicon_stops_negations_and_generic_waits():
    m = msgs([("agent", A, "10:00:00", "您这边不需要付款哦"), ("agent", A, "10:00:10", "请耐心等待配送"),
              ("agent", A, "10:00:20", "这款是套装的"), ("agent", A, "10:00:30", "亲，记得付款哦"),
              ("agent", A, "10:00:40", "现在咨询量较大，回复可能较慢")])
    h = sales_hits(m, Config())
    h = h.drop_duplicates(["category", "message_id"])  # 咨询量较大 and 回复可能较慢 both hit in c1-4
    assert h.groupby("category")["message_id"].apply(list).to_dict() == {
        "payment_reminder": ["c1-3"], "busy_notice": ["c1-4"]}
