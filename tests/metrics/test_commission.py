import dataclasses

import pytest

from csaudit.config import CommissionConfig, Config
from csaudit.metrics.commission import commission, commission_orders
from tests.metrics.shop_builders import A, B, orders

ORDERS = orders([
    # A: two paid orders (300 with 50 refunded, 200), one unpaid (not counted)
    ("o1", "c1", "2026-11-10 10:00", "2026-11-10 10:05", 300, 50, A, "k1", "order"),
    ("o2", "c2", "2026-11-10 11:00", "2026-11-10 11:01", 200, 0, A, "k2", "payment"),
    ("o3", "c3", "2026-11-11 09:00", None, 999, 0, A, "k3", "order"),
    # B: one paid order of 100
    ("o4", "c4", "2026-11-17 10:00", "2026-11-17 10:00", 100, 0, B, "k4", "order"),
    # silent: 400 paid (in week 46), 100 paid with 100 refunded (week 47)
    ("o5", "c5", "2026-11-12 12:00", "2026-11-12 12:00", 400, 0, None, None, None),
    ("o6", "c6", "2026-11-18 12:00", "2026-11-18 12:00", 100, 100, None, None, None),
])


def cfg(**kw):
    return dataclasses.replace(CommissionConfig(), **kw)


def test_evidence_names_order_inquiry_and_rule():
    ev = commission_orders(ORDERS, cfg(rate=0.02, refund_deduction_rate=0.1, silent_pool_share=0.5))
    ev = ev.set_index("order_id")
    assert ev.loc["o1", "conversation_id"] == "k1" and ev.loc["o1", "rule"] == "order"
    assert ev.loc["o2", "rule"] == "payment"
    assert ev.loc["o5", "rule"] == "silent_pool"
    assert not ev.loc["o3", "counted"] and ev.loc["o3", "sales"] == 0
    assert ev.loc["o1", "commission"] == pytest.approx(0.02 * 300 - 0.1 * 50)  # 1.0
    assert ev.loc["o5", "commission"] == pytest.approx(0.5 * 400)


def test_commission_whole_period_equal_pool():
    c = cfg(rate=0.02, refund_deduction_rate=0.1, silent_pool_share=0.5)
    t = commission(commission_orders(ORDERS, c), [A, B], c).set_index("agent")
    # pool = 0.5 × (400 + (100 − 100)) = 200 → 100 each
    assert t.loc[A, "attributed_sales"] == 500 and t.loc[A, "refunds"] == 50 and t.loc[A, "n_orders"] == 2
    assert t.loc[A, "pool_share"] == pytest.approx(100)
    assert t.loc[A, "commission"] == pytest.approx(0.02 * (500 + 100) - 0.1 * 50)  # 7.0
    assert t.loc[B, "commission"] == pytest.approx(0.02 * (100 + 100))  # 4.0
    assert set(t["period"]) == {"all"}


def test_commission_weekly_pool_by_sales_and_unpaid_counted():
    c = cfg(rate=0.01, refund_deduction_rate=0.0, silent_pool_share=1.0, pool_split="sales", period="W", paid_only=False)
    t = commission(commission_orders(ORDERS, c), [A, B], c).set_index(["agent", "period"])
    # week 46: A sold 300+200+999 (unpaid counted), B nothing → A takes the whole pool 400
    assert t.loc[(A, "2026-W46"), "attributed_sales"] == 1499
    assert t.loc[(A, "2026-W46"), "pool_share"] == pytest.approx(400)
    assert t.loc[(B, "2026-W46"), "pool_share"] == 0
    # week 47: pool is 0 (refunded in full); B sold 100
    assert t.loc[(B, "2026-W47"), "commission"] == pytest.approx(1.0)
    assert t.loc[(A, "2026-W47"), "commission"] == 0


def test_config_section_validates():
    cfg_ = Config().updated({"commission": {"rate": 0.03, "period": "M"}})
    assert cfg_.commission.rate == 0.03
    with pytest.raises(ValueError, match="commission.rate"):
        Config().updated({"commission": {"rate": 3}})
    with pytest.raises(ValueError, match="pool_split"):
        Config().updated({"commission": {"pool_split": "random"}})
