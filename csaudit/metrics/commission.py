"""Agent commission (提成) from the attributed orders, with order-level evidence (issue 14, item 1).

Definitions (``CommissionConfig``; money in the currency of ``orders.amount``):

Counted order
    An order of the audit's ``orders`` table (ORDERS + attribution columns of
    :mod:`csaudit.metrics.conversion`) that is paid (``paid`` not NA) — or any order when
    ``paid_only = false``. ``sales`` = its ``amount`` when counted, else 0; ``refunds`` = its
    ``refund`` when counted, else 0.
Rule (evidence)
    ``order`` / ``payment`` — the attribution rule that gave the order to the agent of inquiry
    ``conversation_id`` (``orders.attributed_by``); ``silent_pool`` — a silent order (静默下单), whose
    net amount (sales − refunds) goes to the team pool; ``no_agent`` — attributed to an inquiry nobody
    answered (counts for no one).
Period
    ``all`` (``period = ""``), the ISO week ``2026-W46`` (``W``) or the month ``2026-11`` (``M``) of
    the order's creation in local time.
Pool
    ``silent_pool_share`` × Σ (sales − refunds) of the period's silent orders, shared among the pool
    agents (every agent of the audit) equally (``pool_split = "equal"``) or in proportion to their
    attributed sales in the period (``"sales"``; equally when nobody sold).
Commission, per agent and period
    ``rate`` × (attributed_sales + pool_share) − ``refund_deduction_rate`` × refunds, where
    ``attributed_sales`` / ``refunds`` = Σ sales / refunds of the counted orders attributed to the
    agent. It may be negative when refunds exceed sales.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from csaudit.config import CommissionConfig

log = logging.getLogger(__name__)

EVIDENCE_COLUMNS = (
    "order_id", "shop", "customer", "agent", "conversation_id", "rule", "period", "created", "paid",
    "amount", "refund", "counted", "sales", "refunds", "commission",
)
COLUMNS = ("agent", "period", "n_orders", "attributed_sales", "refunds", "pool_share", "commission")


def _cfg(cfg: object | None) -> CommissionConfig:
    if cfg is None:
        return CommissionConfig()
    return getattr(cfg, "commission", cfg)  # type: ignore[return-value]


def period_labels(ts: pd.Series, freq: str, tz: str) -> pd.Series:
    """``all`` / ISO week ``YYYY-Www`` / month ``YYYY-MM`` of each local timestamp (NA for NaT)."""
    if freq == "":
        return pd.Series("all", index=ts.index, dtype="str")
    local = ts.dt.tz_convert(tz) if ts.dt.tz is not None else ts
    if freq == "W":
        iso = local.dt.isocalendar()
        lab = iso["year"].astype("str") + "-W" + iso["week"].astype("Int64").astype("str").str.zfill(2)
    else:
        lab = local.dt.strftime("%Y-%m")
    return lab.astype("str").where(local.notna())


def commission_orders(orders: pd.DataFrame, cfg: object | None = None, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Order-level evidence, one row per order: :data:`EVIDENCE_COLUMNS` (module docstring).
    ``commission`` is the order's own part: rate × sales − deduction × refunds for an agent's order,
    share × (sales − refunds) put into the pool for a silent one, 0 for ``no_agent``."""
    c = _cfg(cfg)
    o = orders.reset_index(drop=True)
    attributed = o["attributed"].astype(bool) if "attributed" in o else pd.Series(False, index=o.index)
    agent = o["agent"].astype("str") if "agent" in o else pd.Series(pd.NA, index=o.index, dtype="str")
    by = o["attributed_by"].astype("str") if "attributed_by" in o else pd.Series(pd.NA, index=o.index, dtype="str")
    rule = np.where(~attributed, "silent_pool", np.where(agent.isna(), "no_agent", by.fillna("order")))
    counted = o["paid"].notna() if c.paid_only else pd.Series(True, index=o.index)
    amount = o["amount"].astype("float64")
    refund = o["refund"].astype("float64").fillna(0.0)
    sales = amount.where(counted, 0.0)
    refunds = refund.where(counted, 0.0)
    part = np.where(
        rule == "silent_pool",
        c.silent_pool_share * (sales - refunds),
        np.where(rule == "no_agent", 0.0, c.rate * sales - c.refund_deduction_rate * refunds),
    )
    out = pd.DataFrame(
        {
            "order_id": o["order_id"].astype("str"),
            "shop": o["shop"].astype("str"),
            "customer": o["customer"].astype("str"),
            "agent": agent.where(attributed),
            "conversation_id": (o["conversation_id"].astype("str") if "conversation_id" in o
                                else pd.Series(pd.NA, index=o.index, dtype="str")).where(attributed),
            "rule": pd.Series(rule, index=o.index, dtype="str"),
            "period": period_labels(o["created"], c.period, tz),
            "created": o["created"],
            "paid": o["paid"],
            "amount": amount,
            "refund": refund,
            "counted": counted.astype(bool),
            "sales": sales.astype("float64"),
            "refunds": refunds.astype("float64"),
            "commission": pd.Series(part, index=o.index, dtype="float64"),
        }
    )
    return out[list(EVIDENCE_COLUMNS)]


def commission(
    evidence: pd.DataFrame, agents: list[str] | pd.Series | None = None, cfg: object | None = None
) -> pd.DataFrame:
    """Per agent and period: :data:`COLUMNS` from :func:`commission_orders`'s ``evidence``.

    ``agents`` — the pool agents (default: the agents named in the evidence); every pool agent gets a
    row for every period with orders, also without sales of their own."""
    c = _cfg(cfg)
    ev = evidence
    own = ev[ev["rule"].isin(["order", "payment"]) & ev["agent"].notna()]
    pool_agents = sorted(set(pd.Series(agents, dtype="str").dropna()) if agents is not None else set(own["agent"]))
    pool_agents = sorted(set(pool_agents) | set(own["agent"]))
    periods = sorted(ev["period"].dropna().unique().tolist())
    if not pool_agents or not periods:
        return pd.DataFrame({k: pd.Series(dtype=t) for k, t in zip(
            COLUMNS, ("str", "str", "int64", "float64", "float64", "float64", "float64"), strict=True)})
    idx = pd.MultiIndex.from_product([pool_agents, periods], names=["agent", "period"])
    g = own[own["counted"]].groupby(["agent", "period"])
    out = pd.DataFrame(index=idx)
    out["n_orders"] = g.size().reindex(idx, fill_value=0).astype("int64")
    out["attributed_sales"] = g["sales"].sum().reindex(idx, fill_value=0.0).astype("float64")
    out["refunds"] = g["refunds"].sum().reindex(idx, fill_value=0.0).astype("float64")
    silent = ev[ev["rule"] == "silent_pool"]
    pool = (c.silent_pool_share * (silent["sales"] - silent["refunds"])).groupby(silent["period"]).sum()
    pool = pool.reindex(periods, fill_value=0.0)
    n = len(pool_agents)
    if c.pool_split == "sales":
        tot = out["attributed_sales"].groupby(level="period").transform("sum")
        weight = (out["attributed_sales"] / tot.where(tot > 0)).fillna(1.0 / n)
    else:
        weight = pd.Series(1.0 / n, index=idx)
    out["pool_share"] = (weight * pool.reindex(idx.get_level_values("period")).to_numpy()).astype("float64")
    out["commission"] = (
        c.rate * (out["attributed_sales"] + out["pool_share"]) - c.refund_deduction_rate * out["refunds"]
    ).astype("float64")
    out = out.reset_index()
    out["agent"] = out["agent"].astype("str")
    out["period"] = out["period"].astype("str")
    log.info("commission: %d agent rows, pool %.2f", len(out), float(pool.sum()))
    return out[list(COLUMNS)]
