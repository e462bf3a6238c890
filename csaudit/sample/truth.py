"""Ground truth of the sample, computed from what the generator knows it wrote.

Definitions follow DESIGN §5 with the default (taobao) settings:

* conversation: same customer; a new one after an idle gap > 30 min or at local midnight, judged on
  the messages that carry a timestamp in their export; a header-less system line belongs to the
  conversation of the next timed message when that one starts a new conversation, else the current;
* round (首问首答): opened by the first customer message after the last agent reply, closed by the
  first ``agent`` (human) message; auto_reply/bot/system never close it. A transfer line
  ``由 A 转交给 B`` closes an open round as unanswered for A; the next customer message opens B's round.
  An unanswered round is credited to the last human agent who spoke in the conversation before it
  (A for a transfer), else empty. A customer message that is only an acknowledgement (好的, 谢谢 …:
  ``latency.acknowledgements``, decided by ``csaudit.model.rounds.acknowledgement_mask``) opens no
  round;
* primary agent: the first ``agent`` message of the conversation;
* inquiry: the conversation has a customer message and no customer text contains an after-sales
  keyword (matched on ``csaudit.text.normalize_one``);
* conversion: an order of the customer created in ``[start, start + 48 h]`` of the inquiry; an order
  is attributed to the agent of the customer's latest inquiry that started at most 48 h before it
  (else it is silent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache

from csaudit.config import Config
from csaudit.sample import texts as T
from csaudit.sample.scenes import Msg
from csaudit.text import normalize_one

_CFG = Config()
IDLE_GAP_S = _CFG.session.idle_gap_min * 60
WINDOW = timedelta(hours=_CFG.conversion.window_h)
SERVICE_START = time.fromisoformat(_CFG.latency.service_start)
SERVICE_END = time.fromisoformat(_CFG.latency.service_end)


@dataclass
class Conv:
    key: str
    customer: str
    start: datetime
    end: datetime
    msgs: list[Msg] = field(default_factory=list)

    @property
    def agent(self) -> str:
        return next((m.agent for m in self.msgs if m.role == "agent"), "")

    @property
    def agents(self) -> list[str]:
        seen: list[str] = []
        for m in self.msgs:
            if m.role == "agent" and m.agent not in seen:
                seen.append(m.agent)
        return seen


def split_conversations(msgs: list[Msg]) -> list[Conv]:
    """Split one customer's messages (in time order) into conversations."""
    convs: list[Conv] = []
    pending: list[Msg] = []
    cur: Conv | None = None
    last: datetime | None = None
    for m in msgs:
        if not m.ts_exported:
            pending.append(m)
            continue
        new = last is None or (m.ts - last).total_seconds() > IDLE_GAP_S or m.ts.date() != last.date()
        if new:
            if cur is not None:
                convs.append(cur)
            cur = Conv(f"{m.customer}|{m.ts:%Y-%m-%dT%H:%M:%S}", m.customer, m.ts, m.ts)
        assert cur is not None
        cur.msgs.extend(pending)
        pending = []
        cur.msgs.append(m)
        cur.end = m.ts
        last = m.ts
    if cur is not None:
        cur.msgs.extend(pending)
        convs.append(cur)
    return convs


def in_hours(ts: datetime) -> bool:
    return SERVICE_START <= ts.time() < SERVICE_END


@cache
def is_acknowledgement(text: str) -> bool:
    """The text only acknowledges (opens no round), with the default settings."""
    import pandas as pd

    from csaudit.model.rounds import acknowledgement_mask

    return bool(acknowledgement_mask(pd.Series([text], dtype="str"), _CFG.latency.acknowledgements)[0])


def rounds(conv: Conv) -> list[dict]:
    """首问首答 rounds of one conversation (see module docstring)."""
    out: list[dict] = []
    open_start: datetime | None = None
    last_agent = ""

    def close(reply: datetime | None, agent: str, transfer: bool) -> None:
        nonlocal open_start
        assert open_start is not None
        out.append(
            {
                "conversation": conv.key,
                "customer": conv.customer,
                "agent": agent,
                "round": len(out) + 1,
                "start": open_start,
                "reply": reply,
                "response_s": None if reply is None else int((reply - open_start).total_seconds()),
                "in_hours": in_hours(open_start),
                "transfer": transfer,
            }
        )
        open_start = None

    for m in conv.msgs:
        if m.role == "customer":
            if open_start is None and not is_acknowledgement(m.text):
                open_start = m.ts
        elif m.role == "agent":
            if open_start is not None:
                close(m.ts, m.agent, False)
            last_agent = m.agent
        elif m.transfer is not None:
            a, b = m.transfer
            if open_start is not None:
                close(None, a, True)
            last_agent = a
    if open_start is not None:
        close(None, last_agent, False)
    return out


_AFTER_SALES = re.compile("|".join(map(re.escape, _CFG.conversion.after_sales_keywords)))


def is_inquiry(conv: Conv) -> bool:
    cust = [m.text for m in conv.msgs if m.role == "customer"]
    return bool(cust) and not any(_AFTER_SALES.search(normalize_one(t)) for t in cust)


def conversions(convs: list[Conv], orders: list[dict]) -> tuple[list[dict], list[dict]]:
    """(one row per inquiry, one row per order with its attribution)."""
    by_customer: dict[str, list[dict]] = {}
    for o in sorted(orders, key=lambda o: o["created"]):
        by_customer.setdefault(o["customer"], []).append(o)
    inquiries = sorted((c for c in convs if is_inquiry(c)), key=lambda c: c.start)
    inq_rows = []
    inq_by_customer: dict[str, list[Conv]] = {}
    for c in inquiries:
        inq_by_customer.setdefault(c.customer, []).append(c)
        hit = [o for o in by_customer.get(c.customer, []) if c.start <= o["created"] <= c.start + WINDOW]
        paid = [o for o in by_customer.get(c.customer, []) if o["paid"] is not None and c.start <= o["paid"] <= c.start + WINDOW]
        first = hit[0] if hit else None
        inq_rows.append(
            {
                "conversation": c.key,
                "customer": c.customer,
                "start": c.start,
                "agent": c.agent,
                "order_id": first["order_id"] if first else "",
                "created": first["created"] if first else None,
                "paid": first["paid"] if first else None,
                "converted_48h": bool(hit),
                "paid_48h": bool(paid),
            }
        )
    order_rows = []
    for o in sorted(orders, key=lambda o: (o["created"], o["order_id"])):
        cands = [c for c in inq_by_customer.get(o["customer"], []) if c.start <= o["created"] <= c.start + WINDOW]
        latest = cands[-1] if cands else None
        order_rows.append(
            {
                **o,
                "inquiry_conversation": latest.key if latest else "",
                "attributed_agent": latest.agent if latest else "",
                "silent": latest is None,
            }
        )
    return inq_rows, order_rows


def _term_pattern(terms: dict[str, list[str]]) -> tuple[re.Pattern, dict[str, str]]:
    cat = {t: c for c, ts in terms.items() for t in ts}
    pat = re.compile("|".join(re.escape(t) for t in sorted(cat, key=lambda t: (-len(t), t))))
    return pat, cat


_AGENT_PAT, _AGENT_CAT = _term_pattern(T.AGENT_TERMS)
_CUST_PAT, _CUST_CAT = _term_pattern(T.CUSTOMER_TERMS)


def planted_hits(m: Msg) -> list[dict]:
    """Terms of interest in one agent or customer message, with offsets in the stored text."""
    if m.role == "agent":
        bare = m.text.strip(" 。.!！～~")
        if bare in T.CURT_TERMS:
            i = m.text.index(bare)
            return [_hit(m, "agent", "curt", bare, i)]
        pat, cat, side = _AGENT_PAT, _AGENT_CAT, "agent"
    elif m.role == "customer":
        pat, cat, side = _CUST_PAT, _CUST_CAT, "customer"
    else:
        return []
    return [_hit(m, side, cat[x.group()], x.group(), x.start()) for x in pat.finditer(m.text)]


def _hit(m: Msg, side: str, category: str, term: str, start: int) -> dict:
    return {
        "source": m.source,
        "line": m.line,
        "role": m.role,
        "side": side,
        "agent": m.agent,
        "category": category,
        "term": term,
        "start": start,
        "end": start + len(term),
    }
