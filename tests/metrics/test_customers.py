import dataclasses

import pandas as pd

from csaudit.config import CustomersConfig
from csaudit.metrics.customers import customer_agents, customers, followups
from tests.chat_builders import cat, msgs
from tests.metrics.shop_builders import A, B, conversations, orders

CONV = conversations([
    ("k1", "hi", A, "2026-11-10 10:00", "2026-11-10 10:10", True),   # high interest: 2 inquiries, no order
    ("k2", "hi", B, "2026-11-11 10:00", "2026-11-11 10:10", True),
    ("k3", "one", A, "2026-11-10 11:00", "2026-11-10 11:10", True),  # 可挖掘: one order
    ("k4", "rep", A, "2026-11-10 12:00", "2026-11-10 12:10", True),  # 圈养: two orders
    ("k5", "big", B, "2026-11-10 13:00", "2026-11-10 13:10", True),  # VIP
    ("k6", "lost", B, "2026-11-12 09:00", "2026-11-12 09:10", True),  # one inquiry, no order: other
])
ORD = orders([
    ("o1", "one", "2026-11-10 11:05", "2026-11-10 11:06", 100, 0, A, "k3", "order"),
    ("o2", "rep", "2026-11-10 12:05", "2026-11-10 12:06", 80, 0, A, "k4", "order"),
    ("o3", "rep", "2026-11-13 12:05", "2026-11-13 12:06", 90, 10, None, None, None),
    ("o4", "big", "2026-11-10 13:05", "2026-11-10 13:06", 2000, 0, B, "k5", "order"),
    ("o5", "walkin", "2026-11-10 15:00", None, 50, 0, None, None, None),  # unpaid, never chatted
])


def test_customer_table_and_tiers():
    t = customers(CONV, ORD, CustomersConfig()).set_index("customer")
    assert t.loc["hi", "tier"] == "high_interest" and t.loc["hi", "inquiries"] == 2 and t.loc["hi", "orders"] == 0
    assert t.loc["hi", "last_agent"] == B  # agent of the latest conversation
    assert t.loc["one", "tier"] == "potential"
    assert t.loc["rep", "tier"] == "repeat" and t.loc["rep", "paid_amount"] == 170 and t.loc["rep", "refunds"] == 10
    # 3 paying customers, top 10 % → ceil(0.3) = 1 → the 2000 buyer
    assert t.loc["big", "tier"] == "vip"
    assert t.loc["lost", "tier"] == "other"
    assert t.loc["walkin", "conversations"] == 0 and t.loc["walkin", "paid_amount"] == 0
    assert t.loc["walkin", "tier"] == "potential"  # one order, even unpaid
    assert t.index[0] == "big"  # sorted by paid amount
    assert t.loc["hi", "first_contact"] == pd.Timestamp("2026-11-10 10:00", tz="Asia/Shanghai")


def test_vip_share_setting():
    t = customers(CONV, ORD, dataclasses.replace(CustomersConfig(), vip_top_share=1.0)).set_index("customer")
    assert set(t.index[t["tier"] == "vip"]) == {"big", "rep", "one"}


def test_followups_and_repeat_rate():
    m = cat(
        msgs([("customer", None, "10:00:00", "在吗"), ("agent", A, "10:01:00", "在的亲")], conv="k1", customer="hi"),
        msgs([("customer", None, "10:00:00", "还有灰色吗"), ("agent", B, "10:02:00", "有的呢")], conv="k2",
             customer="hi", day="2026-11-11"),
        msgs([("customer", None, "09:00:00", "太贵了")], conv="k6", customer="lost", day="2026-11-12"),
    )
    lost = pd.DataFrame({"conversation_id": ["k6", "k2"], "customer": ["lost", "hi"]})
    table = customers(CONV, ORD)
    f = followups(table, CONV, m, lost)
    assert list(f["conversation_id"]) == ["k6", "k2"]  # newest first; k2 once, as high_interest
    assert list(f["reason"]) == ["lost_inquiry", "high_interest"]
    assert f.iloc[0]["last_text"] == "太贵了" and f.iloc[0]["last_role"] == "customer"
    assert f.iloc[1]["last_text"] == "有的呢" and f.iloc[1]["agent"] == B
    ag = customer_agents(table, ORD).set_index("agent")
    assert ag.loc[A, "buyers"] == 2 and ag.loc[A, "repeat_buyers"] == 1 and ag.loc[A, "repeat_rate"] == 0.5
    assert ag.loc[B, "repeat_rate"] == 0 and ag.loc[B, "vip"] == 1 and ag.loc[B, "high_interest"] == 1
