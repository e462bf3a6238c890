"""The shop-figure stage of the audit (issue 14): one call computing every table of
:mod:`commission`, :mod:`customers`, :mod:`sales_actions`, :mod:`workload`, :mod:`aftersales` and
:mod:`service_depth` from the audit's own tables, and ``shop_agents``: their per-agent figures in one
row per agent.

``shop_agents`` columns (definitions in each module's docstring): ``commission``, ``attributed_sales``,
``pool_share`` (whole-audit roll-up of :mod:`commission`); ``buyers, repeat_buyers, repeat_rate,
high_interest, vip`` (:mod:`customers`); ``pending_orders, reminded_orders, remind_rate,
reminded_paid_rate, unreminded_paid_rate`` (催付); ``recommended, recommend_rate,
conversion_with_rec, conversion_without_rec, aov_with_rec, aov_without_rec`` (搭配);
``busy_conversations, busy_notified, busy_notice_rate``; ``presales, after_sales, after_sales_share,
after_sales_handling_s, recontact_rate, after_sales_refunds, after_sales_sentiment_end``;
``emoticons_per100, emoticon_message_share, quick_reply_share, csat_with_quick, csat_without_quick,
typing_cpm, typing_samples``; ``lost_<reason>`` counts of lost inquiries by reason.
"""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd

from csaudit.config import Config

log = logging.getLogger(__name__)

#: tables this stage adds to an Audit (saved as ``<name>.parquet``; absent in audits saved before it)
SHOP_TABLES = (
    "commission",
    "commission_orders",
    "customers",
    "followups",
    "payment_reminders",
    "recommendations",
    "lost_reasons",
    "workload",
    "workload_daily",
    "busy_notices",
    "aftersales",
    "quick_replies",
    "shop_agents",
)


def shop_figures(
    messages: pd.DataFrame,
    conversations: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    orders: pd.DataFrame,
    lost_inquiries: pd.DataFrame,
    agents: pd.Series,
    config: Config | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of :data:`SHOP_TABLES` (inputs are the Audit's tables; none is modified)."""
    from csaudit.metrics import aftersales, commission, customers, sales_actions, service_depth, workload

    cfg = config or Config()
    tz = cfg.latency.timezone
    out: dict[str, pd.DataFrame] = {}
    ev = commission.commission_orders(orders, cfg, tz)
    out["commission_orders"] = ev
    out["commission"] = commission.commission(ev, agents, cfg)
    out["customers"] = customers.customers(conversations, orders, cfg)
    out["followups"] = customers.followups(out["customers"], conversations, messages, lost_inquiries)
    sh = sales_actions.sales_hits(messages, cfg)
    out["payment_reminders"] = sales_actions.payment_reminders(orders, messages, sh, cfg)
    out["recommendations"] = sales_actions.recommendations(conversations, sh)
    out["lost_reasons"] = sales_actions.lost_reasons(lost_inquiries, messages, rounds, hits, sh, cfg)
    out["workload"] = workload.workload(conversations, rounds, hits, cfg, tz, by="hour_weekday")
    out["workload_daily"] = workload.workload(conversations, rounds, hits, cfg, tz, by="day")
    out["busy_notices"] = workload.busy_notices(conversations, messages, sh, cfg, tz)
    out["aftersales"] = aftersales.aftersales(conversations, messages, orders, cfg)
    out["quick_replies"] = service_depth.quick_replies(messages, cfg)
    out["shop_agents"] = _agent_figures(out, agents, conversations, messages, orders, cfg)
    return out


def _agent_figures(t: dict[str, pd.DataFrame], agents: pd.Series, conversations: pd.DataFrame,
                   messages: pd.DataFrame, orders: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    from csaudit.metrics import aftersales, commission, customers, sales_actions, service_depth, workload

    names = pd.Index(pd.Series(agents, dtype="str").dropna().unique(), dtype="str", name="agent")
    whole = dataclasses.replace(cfg.commission, period="")
    com = commission.commission(t["commission_orders"].assign(period="all"), names, whole)
    com = com.set_index("agent")[["commission", "attributed_sales", "pool_share"]]
    cust = customers.customer_agents(t["customers"], orders, cfg).set_index("agent")
    rem = sales_actions.reminder_agents(t["payment_reminders"]).set_index("agent")
    rec = sales_actions.recommendation_agents(t["recommendations"]).set_index("agent")
    rec = rec.drop(columns="inquiries").rename(columns={
        "conversion_with": "conversion_with_rec", "conversion_without": "conversion_without_rec",
        "aov_with": "aov_with_rec", "aov_without": "aov_without_rec"})
    busy = workload.busy_agents(t["busy_notices"]).set_index("agent")
    aft = aftersales.aftersales_agents(t["aftersales"]).set_index("agent").drop(columns="conversations")
    aft = aft.rename(columns={"median_handling_s": "after_sales_handling_s", "refund_linked": "after_sales_refunds",
                              "refund_orders": "after_sales_refund_orders", "sentiment_end": "after_sales_sentiment_end"})
    dep = service_depth.service_depth(messages, conversations, cfg).set_index("agent")
    dep = dep.drop(columns=["agent_messages", "emoticons", "quick_reply_messages"])
    lost = t["lost_reasons"]
    lr = pd.crosstab(lost["agent"], lost["reason"]).add_prefix("lost_") if len(lost) else pd.DataFrame()
    out = pd.DataFrame(index=names)
    for part in (com, cust, rem, rec, busy, aft, dep, lr):
        out = out.join(part, how="left")
    counts = [c for c in out.columns if c.startswith(("lost_", "busy_conversations", "busy_notified", "pending_orders",
                                                      "reminded_orders", "recommended", "presales", "after_sales_refund_orders",
                                                      "typing_samples", "buyers", "repeat_buyers", "high_interest", "vip"))
              or c == "after_sales"]
    for c in counts:
        out[c] = out[c].fillna(0).astype("int64")
    return out.reset_index()

