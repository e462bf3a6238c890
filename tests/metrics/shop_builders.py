"""Small hand-written tables for the shop-figure tests (orders with attribution, conversations)."""

from __future__ import annotations

import pandas as pd

TZ = "Asia/Shanghai"
A = "云栖家居:阿青"
B = "云栖家居:小白"
SHOP = "云栖家居"


def ts(s: str | None) -> pd.Timestamp:
    return pd.NaT if s is None else pd.Timestamp(s, tz=TZ)


def orders(rows) -> pd.DataFrame:
    """rows: (order_id, customer, created, paid or None, amount, refund, agent or None, conversation_id or None,
    attributed_by or None) → the Audit's orders table (attributed when attributed_by is given)."""
    recs = []
    for oid, cust, created, paid, amount, refund, agent, conv, by in rows:
        recs.append({
            "order_id": oid, "shop": SHOP, "customer": cust, "created": ts(created), "paid": ts(paid),
            "amount": float(amount), "refund": float(refund), "conversation_id": conv, "agent": agent,
            "attributed": by is not None, "silent": by is None, "attributed_by": by,
        })
    out = pd.DataFrame(recs)
    for c in ("order_id", "shop", "customer", "conversation_id", "agent", "attributed_by"):
        out[c] = out[c].astype("str")
    return out


def conversations(rows) -> pd.DataFrame:
    """rows: (conversation_id, customer, agent, start, end, is_inquiry) → a CONVERSATIONS subset."""
    out = pd.DataFrame(
        [{"conversation_id": c, "shop": SHOP, "customer": cu, "agent": a, "start": ts(s), "end": ts(e),
          "is_inquiry": bool(i), "after_sales": not bool(i)} for c, cu, a, s, e, i in rows]
    )
    for c in ("conversation_id", "shop", "customer", "agent"):
        out[c] = out[c].astype("str")
    return out
