"""The shop-figure stage inside ``ca.audit``: tables present, hand-computed values, save/load, views."""

import pandas as pd
import pytest

import csaudit as ca
from csaudit.audit import SHOP_TABLES
from csaudit.model import schema
from tests.chat_builders import A, B, cat, msgs

TZ = "Asia/Shanghai"


def small_audit(config=None):
    m = cat(
        msgs([("customer", None, "10:00:00", "这个沙发有灰色吗"), ("agent", A, "10:01:00", "亲，有的，推荐您搭配同系列的抱枕"),
              ("customer", None, "10:10:00", "好的我拍了"), ("agent", A, "10:11:00", "好的亲"),
              ("agent", A, "10:40:00", "亲，看到您还没付款，记得付款哦")], conv="k1", customer="买家1"),
        msgs([("customer", None, "12:00:00", "太贵了"), ("agent", B, "12:01:00", "亲，这是活动价哦")], conv="k2", customer="买家2"),
    )
    orders = schema.conform(pd.DataFrame({
        "order_id": ["o1", "o2"], "shop": ["云栖家居"] * 2, "customer": ["买家1", "买家3"],
        "created": [pd.Timestamp("2026-11-10 10:30", tz=TZ), pd.Timestamp("2026-11-10 15:00", tz=TZ)],
        "paid": [pd.Timestamp("2026-11-10 11:00", tz=TZ), pd.Timestamp("2026-11-10 15:00", tz=TZ)],
        "amount": [300.0, 100.0], "refund": [0.0, 0.0]}), "orders")
    config = (config or ca.Config()).updated({"shop": {"enabled": True}})  # the shop figures are opt-in
    return ca.audit(m, orders=orders, config=config)


@pytest.fixture(scope="module")
def res():
    return small_audit()


def test_shop_tables_hand_computed(res):
    com = res.commission.set_index("agent")
    assert com.loc[A, "attributed_sales"] == 300 and com.loc[A, "commission"] == pytest.approx(3.0)
    assert com.loc[B, "commission"] == 0
    ev = res.commission_orders.set_index("order_id")
    assert ev.loc["o1", "conversation_id"] == "k1" and ev.loc["o1", "rule"] == "order"
    assert ev.loc["o2", "rule"] == "silent_pool"
    assert res.customers.set_index("customer")["tier"].to_dict() == {"买家1": "vip", "买家3": "potential", "买家2": "other"}
    rem = res.payment_reminders.set_index("order_id")
    assert rem.loc["o1", "reminded"] and rem.loc["o1", "reminder_delay_s"] == 600 and rem.loc["o1", "paid_after_reminder"]
    assert res.recommendations.set_index("conversation_id").loc["k1", "recommended"]
    lost = res.lost_reasons.set_index("conversation_id")
    assert lost.loc["k2", "reason"] == "price" and lost.loc["k2", "evidence_text"] == "太贵了"
    assert list(res.followups["conversation_id"]) == ["k2"]
    sa = res.shop_agents.set_index("agent")
    assert sa.loc[A, "remind_rate"] == 1.0 and sa.loc[A, "recommend_rate"] == 1.0 and sa.loc[B, "lost_price"] == 1
    assert res.workload.set_index(["agent", "weekday", "hour"]).loc[("(team)", 1, 10), "conversations"] == 1
    assert "shop" in res.meta["timings_s"]


def test_timeline_and_agent_view(res):
    t = res.timeline("h")
    assert set(t["agent"]) == {A, B, "(team)"}
    assert t.set_index(["agent", "period"]).loc[(B, pd.Timestamp("2026-11-10 12:00", tz=TZ)), "conversations"] == 1
    assert set(res.timeline("D", agent=A)["agent"]) == {A}
    va = res.agent(A)
    assert set(va.commission["agent"]) == {A} and list(va.payment_reminders["order_id"]) == ["o1"]
    assert set(va.customers["last_agent"]) == {A}


def test_settings_reach_the_stage():
    r = small_audit(ca.Config().updated({"commission": {"rate": 0.1, "silent_pool_share": 1.0}}))
    com = r.commission.set_index("agent")
    assert com.loc[A, "commission"] == pytest.approx(0.1 * (300 + 50))  # the 100 silent pool split in two
    assert com.loc[B, "pool_share"] == 50


def test_save_load_and_old_audits(res, tmp_path):
    res.save(tmp_path / "a")
    back = ca.Audit.load(tmp_path / "a")
    assert back == res
    for name in SHOP_TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(res, name), obj=name)
        (tmp_path / "a" / f"{name}.parquet").unlink()
    old = ca.Audit.load(tmp_path / "a")  # saved before the shop figures: tables load empty
    assert old.commission.empty and old.shop_agents.empty
    pd.testing.assert_frame_equal(old.agents, res.agents)


def test_every_shop_agents_column_is_in_the_readme(res):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Shop figures"):readme.index("## Settings and presets")]
    missing = [c for c in res.shop_agents.columns
               if c != "agent" and f"`{c}`" not in section and not (c.startswith("lost_") and "`lost_<reason>`" in section)]
    assert not missing, missing


def test_shop_figures_reconcile_on_the_sample(sample_shop_audit):
    a = sample_shop_audit
    ev = a.commission_orders
    assert len(ev) == len(a.orders)
    own = ev[ev["rule"].isin(["order", "payment"]) & ev["counted"]]
    assert a.commission["attributed_sales"].sum() == pytest.approx(own["sales"].sum())
    assert a.customers["orders"].sum() == len(a.orders)
    assert a.customers["conversations"].sum() == len(a.conversations)
    assert len(a.aftersales) == len(a.conversations)
    assert set(a.lost_reasons["conversation_id"]) == set(a.lost_inquiries["conversation_id"])
    assert a.lost_reasons["reason"].nunique() >= 4  # the sample's lost inquiries have several causes
    team = a.workload[a.workload["agent"] == "(team)"]
    assert team["conversations"].sum() == a.conversations["start"].notna().sum()
    assert team["rounds"].sum() == a.rounds["start"].notna().sum()
    daily = a.workload_daily[a.workload_daily["agent"] == "(team)"]
    assert daily["findings"].sum() == team["findings"].sum()
    assert set(a.shop_agents["agent"]) == set(a.agents["agent"])
