import pandas as pd
import pytest

from csaudit.metrics.aftersales import aftersales, aftersales_agents
from tests.chat_builders import A, B, cat, msgs
from tests.metrics.shop_builders import conversations, orders

CONV = conversations([
    ("k1", "c1", A, "2026-11-10 10:00", "2026-11-10 10:20", True),    # presales, order o1 refunded 30
    ("k2", "c1", A, "2026-11-11 09:00", "2026-11-11 09:30", False),   # after-sales 23 h later: k1 re-contacted
    ("k3", "c1", B, "2026-11-14 09:00", "2026-11-14 09:10", False),   # 71.5 h after k2 ended: no re-contact
    ("k4", "c2", B, "2026-11-10 12:00", "2026-11-10 12:05", False),
]).assign(sentiment_end=[0.9, 0.2, 0.6, 0.4])
MSGS = cat(
    msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:05:00", "在的")], conv="k1", customer="c1"),
    msgs([("customer", None, "09:00:00", "我要退货"), ("agent", A, "09:01:00", "好的"), ("agent", A, "09:30:00", "已处理")],
         conv="k2", customer="c1", day="2026-11-11"),
    msgs([("agent", B, "08:59:00", "您好"), ("customer", None, "09:00:00", "物流怎么还没到")],
         conv="k3", customer="c1", day="2026-11-14"),
    msgs([("customer", None, "12:00:00", "退款到账了吗"), ("agent", B, "12:04:00", "已经退了")], conv="k4", customer="c2"),
)
ORD = orders([
    ("o1", "c1", "2026-11-10 10:10", "2026-11-10 10:11", 100, 30, A, "k1", "order"),
    ("o2", "c2", "2026-09-01 10:00", "2026-09-01 10:00", 80, 80, None, None, None),  # > 30 days before k4
])


def test_aftersales_per_conversation():
    t = aftersales(CONV, MSGS, ORD).set_index("conversation_id")
    assert list(t["kind"]) == ["presales", "after_sales", "after_sales", "after_sales"]
    assert t.loc["k2", "handling_s"] == 30 * 60
    assert pd.isna(t.loc["k3", "handling_s"])  # the agent only wrote before the customer
    assert t.loc["k1", "recontact"] and t.loc["k1", "recontact_conversation_id"] == "k2"
    assert not t.loc["k2", "recontact"] and not t.loc["k4", "recontact"]
    assert t.loc["k1", "refund_linked"] == 30 and t.loc["k1", "refund_orders"] == 1
    assert t.loc["k2", "refund_linked"] == 30  # o1 created the day before, refunded
    assert t.loc["k4", "refund_linked"] == 0
    cfg_long = {"recontact_h": 72.0, "refund_lookback_d": 90.0}
    from csaudit.config import AftersalesConfig

    t2 = aftersales(CONV, MSGS, ORD, AftersalesConfig(**cfg_long)).set_index("conversation_id")
    assert t2.loc["k2", "recontact"] and t2.loc["k4", "refund_linked"] == 80


def test_aftersales_agents():
    a = aftersales_agents(aftersales(CONV, MSGS, ORD)).set_index("agent")
    assert a.loc[A, "presales"] == 1 and a.loc[A, "after_sales"] == 1 and a.loc[A, "after_sales_share"] == 0.5
    assert a.loc[B, "after_sales_share"] == 1.0
    assert a.loc[B, "median_handling_s"] == 240.0  # k4 only (k3 has none)
    assert a.loc[B, "sentiment_end"] == pytest.approx(0.5)
    assert a.loc[A, "recontact_rate"] == 0.0
