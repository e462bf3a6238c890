"""Sales actions: payment reminders (催付), recommendations (搭配) and why inquiries were lost
(issue 14, item 3).

Phrases are data: ``csaudit/lexicons/sales.toml`` (categories ``payment_reminder``,
``recommendation``, ``busy_notice`` on the agent side; ``lost_price``, ``lost_considering``,
``lost_stock_size`` on the customer side) plus the shop's ``[sales] lexicon_files``, matched by
:func:`csaudit.metrics.lexicon.find_hits` (same normalisation and longest-match rules as the QA
lexicons). These hits are kept apart from ``Audit.hits``: they cost no QA points.

Definitions (``SalesConfig``):

Pending order (待付款) and reminder
    An attributed order with an agent that was not paid within ``pending_after_min`` minutes of its
    creation (``paid`` NA or later). It is ``reminded`` when that agent sent a ``payment_reminder``
    phrase to the same customer (same shop, any conversation) after the creation, at most
    ``remind_within_h`` hours after it, and not after the payment. The first such message is the
    evidence (``reminder_message_id, reminder_ts, reminder_text``); ``reminder_delay_s`` = creation
    → reminder; ``paid_after_reminder`` = reminded and paid afterwards.
    Per agent: ``pending_orders``, ``reminded_orders``, ``remind_rate`` (reminded ÷ pending),
    ``reminded_paid_rate`` (paid ÷ reminded), ``unreminded_paid_rate`` (paid ÷ pending not reminded).
Recommendation (搭配)
    Per inquiry conversation: ``n_recommendations`` = agent messages with a ``recommendation`` phrase;
    ``recommended`` = at least one (first one is the evidence). Per agent and for the team
    (``agent`` = ``(team)``): ``inquiries``, ``recommended``, ``recommend_rate``;
    ``conversion_with`` / ``conversion_without`` — share of ``ordered`` inquiries with / without a
    recommendation; ``aov_with`` / ``aov_without`` (客单价) — mean ``order_amount`` over the inquiries
    with / without one that have attributed sales (> 0).
Lost-inquiry reason
    For each lost inquiry, the reasons that apply: ``no_reply`` — the conversation's last round got no
    valid reply (evidence: the round's first customer message); ``after_refusal`` — an agent hit of a
    ``refusal_categories`` lexicon category in the conversation (``Audit.hits``); ``price`` /
    ``considering`` (考虑/收藏) / ``stock_size`` (stock or size) — a customer ``lost_*`` phrase. The
    evidence of a phrase reason is its last occurrence. The first reason in ``lost_reason_order``
    that applies wins; none → ``other`` (evidence: the lost inquiry's last customer text).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from csaudit.config import Config, SalesConfig
from csaudit.metrics.shoputil import isin

log = logging.getLogger(__name__)

SALES_LEXICON = Path(__file__).resolve().parent.parent / "lexicons" / "sales.toml"
TEAM = "(team)"
REMINDER_COLUMNS = (
    "order_id", "shop", "customer", "agent", "conversation_id", "created", "paid", "amount", "reminded",
    "reminder_message_id", "reminder_ts", "reminder_text", "reminder_delay_s", "paid_after_reminder",
)
RECOMMENDATION_COLUMNS = (
    "conversation_id", "agent", "recommended", "n_recommendations", "message_id", "term", "ordered", "order_amount",
)
LOST_COLUMNS = ("conversation_id", "customer", "agent", "start", "reason", "message_id", "term", "evidence_text")
_LOST_CATEGORY = {"lost_price": "price", "lost_considering": "considering", "lost_stock_size": "stock_size"}


def _cfg(cfg: object | None) -> SalesConfig:
    if cfg is None:
        return SalesConfig()
    return getattr(cfg, "sales", cfg)  # type: ignore[return-value]


def sales_lexicon(config: Config | None = None):
    """The sales lexicon: ``sales.toml`` then ``config.sales.lexicon_files`` (relative to ``config.base_dir``)."""
    from csaudit.metrics.lexicon import Lexicon

    config = config or Config()
    base = Path(config.base_dir)
    files = [SALES_LEXICON, *(p if Path(p).is_absolute() else base / p for p in config.sales.lexicon_files)]
    return Lexicon.from_files(files, builtin=False)


def sales_hits(messages: pd.DataFrame, config: Config | None = None) -> pd.DataFrame:
    """HITS of the sales lexicon in ``messages`` (rule ``lexicon:<category>``)."""
    from csaudit.metrics.lexicon import find_hits

    return find_hits(messages, sales_lexicon(config))


def _conv_keys(messages: pd.DataFrame) -> pd.DataFrame:
    return messages[["conversation_id", "shop", "customer"]].drop_duplicates("conversation_id")


def payment_reminders(
    orders: pd.DataFrame, messages: pd.DataFrame, hits: pd.DataFrame, cfg: object | None = None
) -> pd.DataFrame:
    """One row per pending order (:data:`REMINDER_COLUMNS`, module docstring); ``hits`` = :func:`sales_hits`."""
    c = _cfg(cfg)
    o = orders
    if len(o):
        att = o["attributed"].astype(bool) & o["agent"].notna()
        late = o["paid"].isna() | (o["paid"] > o["created"] + pd.Timedelta(minutes=c.pending_after_min))
        o = o.loc[att & late.astype(bool)]
    o = o[["order_id", "shop", "customer", "agent", "conversation_id", "created", "paid", "amount"]].reset_index(drop=True)
    rem = hits.loc[hits["category"] == "payment_reminder", ["message_id", "conversation_id", "agent", "ts", "text"]]
    rem = rem.merge(_conv_keys(messages), on="conversation_id", how="inner").drop(columns="conversation_id")
    rem = rem.rename(columns={"message_id": "reminder_message_id", "ts": "reminder_ts", "text": "reminder_text"})
    rem = rem.drop_duplicates("reminder_message_id")
    pairs = o[["order_id", "shop", "customer", "agent", "created", "paid"]].merge(rem, on=["shop", "customer", "agent"])
    within = (pairs["reminder_ts"] > pairs["created"]) & (
        pairs["reminder_ts"] <= pairs["created"] + pd.Timedelta(hours=c.remind_within_h))
    within &= pairs["paid"].isna() | (pairs["reminder_ts"] <= pairs["paid"])
    first = pairs.loc[within.fillna(False).astype(bool)].sort_values(["reminder_ts"], kind="stable")
    first = first.drop_duplicates("order_id")[["order_id", "reminder_message_id", "reminder_ts", "reminder_text"]]
    out = o.merge(first, on="order_id", how="left")
    out["reminded"] = out["reminder_message_id"].notna()
    out["reminder_delay_s"] = ((out["reminder_ts"] - out["created"]).dt.total_seconds()).astype("float64")
    out["paid_after_reminder"] = out["reminded"] & out["paid"].notna()
    for col in ("reminder_message_id", "reminder_text"):
        out[col] = out[col].astype("str")
    return out[list(REMINDER_COLUMNS)]


def reminder_agents(reminders: pd.DataFrame) -> pd.DataFrame:
    """Per agent: ``agent, pending_orders, reminded_orders, remind_rate, reminded_paid_rate, unreminded_paid_rate``."""
    r = reminders.assign(_paid=reminders["paid"].notna(), _r=reminders["reminded"].astype(bool))
    g = r.groupby("agent")
    out = pd.DataFrame({"pending_orders": g.size(), "reminded_orders": g["_r"].sum()}).astype("int64")
    out["remind_rate"] = out["reminded_orders"] / out["pending_orders"]
    rp = r[r["_r"]].groupby("agent")["_paid"].mean()
    up = r[~r["_r"]].groupby("agent")["_paid"].mean()
    out["reminded_paid_rate"] = rp.reindex(out.index).astype("float64")
    out["unreminded_paid_rate"] = up.reindex(out.index).astype("float64")
    out.index = out.index.astype("str")
    return out.reset_index()


def recommendations(conversations: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """One row per inquiry conversation (:data:`RECOMMENDATION_COLUMNS`, module docstring)."""
    inq = conversations.loc[conversations["is_inquiry"].astype(bool),
                            ["conversation_id", "agent", "ordered", "order_amount"]].reset_index(drop=True)
    rec = hits.loc[(hits["category"] == "recommendation") & (hits["side"] == "agent"),
                   ["conversation_id", "message_id", "term"]]
    n = rec.drop_duplicates("message_id").groupby("conversation_id").size()
    first = rec.drop_duplicates("conversation_id").set_index("conversation_id")
    out = inq.copy()
    out["n_recommendations"] = out["conversation_id"].map(n).fillna(0).astype("int64")
    out["recommended"] = out["n_recommendations"] > 0
    out["message_id"] = out["conversation_id"].map(first["message_id"]).astype("str")
    out["term"] = out["conversation_id"].map(first["term"]).astype("str")
    out["ordered"] = out["ordered"].astype("boolean")
    out["order_amount"] = out["order_amount"].astype("float64")
    return out[list(RECOMMENDATION_COLUMNS)]


def recommendation_agents(recs: pd.DataFrame) -> pd.DataFrame:
    """Per agent and ``(team)``: ``agent, inquiries, recommended, recommend_rate, conversion_with,
    conversion_without, aov_with, aov_without`` (module docstring)."""
    r = recs.assign(_o=recs["ordered"].astype("float64"), _amt=recs["order_amount"].where(recs["order_amount"] > 0))
    r = pd.concat([r[r["agent"].notna()], r.assign(agent=TEAM)], ignore_index=True)
    g = r.groupby("agent")
    out = pd.DataFrame({"inquiries": g.size(), "recommended": g["recommended"].sum()}).astype("int64")
    out["recommend_rate"] = out["recommended"] / out["inquiries"]
    w, wo = r[r["recommended"]].groupby("agent"), r[~r["recommended"]].groupby("agent")
    out["conversion_with"] = w["_o"].mean().reindex(out.index).astype("float64")
    out["conversion_without"] = wo["_o"].mean().reindex(out.index).astype("float64")
    out["aov_with"] = w["_amt"].mean().reindex(out.index).astype("float64")
    out["aov_without"] = wo["_amt"].mean().reindex(out.index).astype("float64")
    out.index = out.index.astype("str")
    return out.reset_index()


def lost_reasons(
    lost_inquiries: pd.DataFrame,
    messages: pd.DataFrame,
    rounds: pd.DataFrame,
    hits: pd.DataFrame,
    sales: pd.DataFrame,
    cfg: object | None = None,
) -> pd.DataFrame:
    """One row per lost inquiry (:data:`LOST_COLUMNS`): the reason that wins and its evidence message.
    ``hits`` = ``Audit.hits`` (refusals), ``sales`` = :func:`sales_hits`."""
    c = _cfg(cfg)
    lost = lost_inquiries[["conversation_id", "customer", "agent", "start", "text"]].reset_index(drop=True)
    ids = lost["conversation_id"]
    cand = []
    # no_reply: the last round of the conversation is unanswered
    r = rounds[isin(rounds["conversation_id"], ids)].sort_values(["conversation_id", "round"], kind="stable")
    last = r.drop_duplicates("conversation_id", keep="last")
    last = last[~last["answered"].astype(bool)]
    if len(last):
        mid = last["start_message_id"] if "start_message_id" in last else pd.Series(pd.NA, index=last.index, dtype="str")
        need = messages.loc[isin(messages["message_id"], mid), ["message_id", "text"]]
        text = mid.map(need.drop_duplicates("message_id").set_index("message_id")["text"])
        cand.append(pd.DataFrame({"conversation_id": last["conversation_id"].to_numpy(), "reason": "no_reply",
                                  "message_id": mid.to_numpy(), "term": pd.NA, "evidence_text": text.to_numpy(),
                                  "_ts": last["start"].to_numpy()}))
    ref = hits[isin(hits["conversation_id"], ids) & (hits["side"] == "agent") & hits["category"].isin(c.refusal_categories)]
    sal = sales[isin(sales["conversation_id"], ids) & sales["category"].isin(list(_LOST_CATEGORY))]
    for h, reason in ((ref, pd.Series("after_refusal", index=ref.index)), (sal, sal["category"].map(_LOST_CATEGORY))):
        if len(h):
            cand.append(pd.DataFrame({"conversation_id": h["conversation_id"].to_numpy(), "reason": reason.to_numpy(),
                                      "message_id": h["message_id"].to_numpy(), "term": h["term"].to_numpy(),
                                      "evidence_text": h["text"].to_numpy(), "_ts": h["ts"].to_numpy()}))
    rank = {name: i for i, name in enumerate(c.lost_reason_order)}
    if cand:
        cd = pd.concat(cand, ignore_index=True)
        cd["_rank"] = cd["reason"].map(rank)
        cd = cd[cd["_rank"].notna()]
        # the winning reason; of its occurrences the last one (hits are in message order)
        cd["_seq"] = np.arange(len(cd))
        cd = cd.sort_values(["conversation_id", "_rank", "_seq"], ascending=[True, True, False], kind="stable")
        best = cd.drop_duplicates("conversation_id").set_index("conversation_id")
    else:
        best = pd.DataFrame(columns=["reason", "message_id", "term", "evidence_text"])
    out = lost[["conversation_id", "customer", "agent", "start"]].copy()
    out["reason"] = out["conversation_id"].map(best["reason"]).fillna("other").astype("str")
    for col in ("message_id", "term"):
        out[col] = out["conversation_id"].map(best[col]).astype("str")
    out["evidence_text"] = out["conversation_id"].map(best["evidence_text"]).astype("str").fillna(lost["text"].astype("str"))
    log.info("lost reasons: %s", out["reason"].value_counts().to_dict())
    return out[list(LOST_COLUMNS)]
