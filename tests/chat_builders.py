"""Hand-built MESSAGES tables for metric tests (one conversation per call, rows in order)."""

from __future__ import annotations

import pandas as pd

from csaudit.model import schema

TZ = "Asia/Shanghai"
A = "云栖家居:阿青"
B = "云栖家居:小白"


def msgs(rows, conv="c1", customer="买家1", day="2026-11-10"):
    """rows: (role, agent, "HH:MM:SS" or None or a full timestamp, text) → a MESSAGES table."""
    recs = []
    for i, (role, agent, t, text) in enumerate(rows):
        if t is None:
            ts = pd.NaT
        elif len(t) <= 8:
            ts = pd.Timestamp(f"{day} {t}", tz=TZ)
        else:
            ts = pd.Timestamp(t, tz=TZ)
        recs.append(
            {
                "message_id": f"{conv}-{i}",
                "conversation_id": conv,
                "shop": "云栖家居",
                "customer": customer,
                "sender": agent or customer,
                "agent": agent,
                "role": role,
                "ts": ts,
                "text": text,
                "source": "t.txt",
                "line": i + 1,
            }
        )
    return schema.conform(pd.DataFrame(recs), "messages")


def cat(*frames):
    """Several ``msgs`` tables as one."""
    return schema.conform(pd.concat(frames, ignore_index=True), "messages")


# DESIGN §5 worked example: asks 10:10:15 and 10:15:20, reply 10:18:10 (475 s); ask 10:18:30, reply 10:19:00 (30 s)
WORKED = [
    ("customer", None, "10:10:15", "在吗"),
    ("customer", None, "10:15:20", "这个沙发有灰色吗"),
    ("agent", A, "10:18:10", "亲，有的"),
    ("customer", None, "10:18:30", "几天发货"),
    ("agent", A, "10:19:00", "48小时内发货哦"),
]
