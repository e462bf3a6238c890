"""Simulate one customer-service session (what was said, by whom, when).

A *session* is what the generator plans: one customer contacting the shop once. The audit's
conversations are derived later from the timestamps (idle gap, midnight), so a planned session with a
long pause, or one running over midnight, becomes two conversations in the ground truth.

Everything random comes from the generator's ``random.Random``; no wall clock is read.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from csaudit.sample import texts as T
from csaudit.sample.personas import Persona

AGENT_SEP = ":"
INQUIRY_KINDS = ("presale", "bargain", "sizing")
AFTER_SALES_KINDS = ("logistics", "complaint", "angry", "address")


def agent_account(name: str) -> str:
    """``店铺名:子账号`` with the half-width colon (the normalised form)."""
    return f"{T.SHOP}{AGENT_SEP}{name}"


@dataclass
class Msg:
    """One generated message. ``sender`` is the normalised sender; writers may vary the colon."""

    customer: str
    role: str  # customer, agent, auto_reply, bot, system
    sender: str
    agent: str  # 店铺名:子账号 for agent-side rows, "" otherwise
    ts: datetime
    text: str
    session: int
    transfer: tuple[str, str] | None = None  # (from account, to account) for transfer lines
    # filled by writers
    source: str = ""
    line: int = 0
    sender_out: str = ""
    ts_exported: bool = True


@dataclass
class Customer:
    nick: str
    traditional: bool
    busy_until: datetime = datetime(2000, 1, 1)
    sessions: list[int] = field(default_factory=list)
    fmt: str = ""


@lru_cache(maxsize=1)
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """Simplified → Traditional, falling back per character to keep the text GBK-encodable."""
    out = _s2t().convert(text)
    if len(out) != len(text):
        out = "".join(_s2t().convert(ch) for ch in text)
    chars = []
    for o, s in zip(out, text, strict=False):
        try:
            o.encode("gbk")
            chars.append(o)
        except UnicodeEncodeError:
            chars.append(s)
    return "".join(chars)


_QUESTION = re.compile("吗|么|多少|哪|什么|几|怎么|能不能|有没有|会不会|可以|是不是")
_END_PUNCT = ("？", "?", "～", "~", "。", "！", "!", "」", "]", ">")


def vary_customer(rng: random.Random, text: str) -> str:
    """Customers ask the same question in many small ways: a lead-in word, a trailing particle."""
    if "\n" in text or not _QUESTION.search(text) or rng.random() < 0.35:
        return text
    if rng.random() < 0.3:
        text = rng.choice(T.CUST_LEADS) + text
    if text.endswith(("吗", "么", "呢")):
        text += rng.choice(["？", "？？", ""])
    elif not text.endswith(_END_PUNCT):
        text += rng.choice(T.CUST_TAILS)
    return text


def vary_agent(rng: random.Random, text: str) -> str:
    """Agents' quick replies get a small personal touch now and then (never on planted phrases)."""
    if "\n" in text or rng.random() < 0.5:
        return text
    if rng.random() < 0.4:
        text = rng.choice(T.AGENT_LEADS) + text
    if not text.endswith(_END_PUNCT) and rng.random() < 0.6:
        text += rng.choice(T.AGENT_TAILS)
    return text


class Scene:
    """Builds the messages of one session; ``t`` is the running clock (naive local time)."""

    def __init__(
        self,
        rng: random.Random,
        sid: int,
        customer: Customer,
        persona: Persona | None,
        start: datetime,
        kind: str,
        converts: bool,
        oid: str = "",
        extras: dict | None = None,
    ):
        self.rng = rng
        self.sid = sid
        self.cust = customer
        self.persona = persona
        self.t = start.replace(microsecond=0)
        self.kind = kind
        self.converts = converts
        self.msgs: list[Msg] = []
        self.extras = extras or {}
        self.round_start: datetime | None = None
        self.last_customer_text = ""
        self.agent_spoke = False
        self.used: set[str] = set()
        prod = rng.choice(T.PRODUCTS)
        self.product = prod
        honorific = persona.honorific_p if persona else 1.0
        self.ctx = {
            "shop": T.SHOP,
            "name": persona.name if persona else T.BOT,
            "n": "您" if rng.random() < honorific else "你",
            "p": prod[0],
            "price": prod[1],
            "s": rng.choice(prod[2]),
            "c": rng.choice(prod[3]),
            "oid": oid,
            "w": rng.choice(["1.8", "2.4", "3", "3.6"]),
            "h": rng.choice(["2.5", "2.7", "2.8"]),
            "w2": rng.choice(["3", "4", "5"]),
            "area": rng.choice(["15", "20", "25", "30"]),
            "cut": rng.choice(["5", "10", "15"]),
            "city": rng.choice(["杭州", "上海", "南京", "合肥", "郑州", "长沙", "广州"]),
            "surname": rng.choice(T.SURNAMES),
            "phone": "1380013" + f"{rng.randrange(10000):04d}",
            "addr": rng.choice(T.ADDRESSES).format(
                num=rng.randrange(1, 400), b=rng.randrange(1, 30), u=rng.randrange(1, 6)
            ),
            "repeat": "",
        }

    # -- low-level emitters ------------------------------------------------------------------
    def fill(self, template: str) -> str:
        return template.format_map(self.ctx)

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=max(1, int(round(seconds))))

    def _emit(self, role: str, sender: str, agent: str, text: str, transfer=None) -> Msg:
        assert self.t.microsecond == 0 and (not self.msgs or self.t > self.msgs[-1].ts)
        m = Msg(self.cust.nick, role, sender, agent, self.t, text, self.sid, transfer)
        self.msgs.append(m)
        return m

    def customer(self, text: str, gap: tuple[float, float] = (3, 40), vary: bool = True) -> None:
        if self.msgs:
            self.advance(self.rng.uniform(*gap))
        text = self.fill(text) if "{" in text else text
        if vary:
            text = vary_customer(self.rng, text)
        self.last_customer_text = text
        if self.cust.traditional:
            text = to_traditional(text)
        if self.round_start is None:
            self.round_start = self.t
        self._emit("customer", self.cust.nick, "", text)

    def agent(self, persona: Persona, text: str, at: datetime | None = None) -> None:
        if at is not None:
            at = at.replace(microsecond=0)
        if at is not None and at > self.t:
            self.t = at
        else:
            self.advance(self.rng.uniform(2, 6) if self.msgs else 0)
        acc = agent_account(persona.name)
        self._emit("agent", acc, acc, self.fill(text))
        self.round_start = None
        self.agent_spoke = True

    def auto(self, persona: Persona, text: str) -> None:
        self.advance(1)
        acc = agent_account(persona.name)
        self._emit("auto_reply", acc, acc, self.fill(text))

    def bot(self, text: str) -> None:
        self.advance(self.rng.uniform(1, 3))
        acc = agent_account(T.BOT)
        self._emit("bot", acc, acc, self.fill(text))

    def system(self, text: str, transfer=None, gap: float = 1) -> None:
        if self.msgs:
            self.advance(gap)
        self._emit("system", "系统", "", text, transfer)

    # -- behaviour ---------------------------------------------------------------------------
    def latency(self, persona: Persona) -> float:
        lat = persona.latency_median_s * math.exp(self.rng.gauss(0, persona.latency_sigma))
        return min(max(lat, 3.0), 1500.0)

    def reply(self, persona: Persona, core: str, first: bool = False, extra: str | None = None) -> None:
        """Answer the open round (or speak if none is open) the way ``persona`` does."""
        rng = self.rng
        p = persona
        start = self.round_start or self.t
        if rng.random() < p.auto_reply_p and self.round_start is not None:
            bank = T.AUTO_REPLIES_AFTER_SALES if self.kind in AFTER_SALES_KINDS else T.AUTO_REPLIES
            self.auto(p, rng.choice(bank))
        if self.extras.get("bot_first") and first:
            self.bot(rng.choice(T.BOT_REPLIES[:3]))
        lat = self.latency(p)
        due = start + timedelta(seconds=lat)
        # the customer grows impatient while waiting
        if lat > 90 and rng.random() < 0.45:
            wait_at = start + timedelta(seconds=rng.uniform(40, lat - 20))
            if wait_at > self.t + timedelta(seconds=2):
                self.t = wait_at.replace(microsecond=0)
                if lat > 200 and rng.random() < 0.4 and self.last_customer_text:
                    self.ctx["repeat"] = self.last_customer_text.split("\n")[0][:20]
                    self.customer(rng.choice(T.REPEAT), gap=(0, 0))
                else:
                    self.customer(rng.choice(T.WAITING), gap=(0, 0))
        if lat > 150 and p.kind == "slow" and rng.random() < 0.3:
            self.system(T.SYS_TIMEOUT)
        if due <= self.t:
            due = self.t + timedelta(seconds=rng.uniform(2, 8))
        waited = (due - start).total_seconds()
        parts: list[str] = []
        if first and rng.random() < p.greet_p:
            g = rng.choice(T.GREETING_NIGHT if p.kind == "night_shift" and rng.random() < 0.4 else T.GREETING)
            parts.append(g)
        elif first and p.kind == "curt_slang" and rng.random() < 0.5:
            parts.append(rng.choice(T.GREETING_PLAIN))
        prefix = ""
        if waited > 180 and rng.random() < p.apology_p:
            prefix = rng.choice(T.APOLOGY_WAIT)
        body = vary_agent(rng, core)
        if p.slang_p and rng.random() < p.slang_p:
            body = rng.choice(T.SLANG)
        elif p.curt_p and rng.random() < p.curt_p:
            body = rng.choice(T.CURT)
        elif p.refusal_p and rng.random() < p.refusal_p:
            body = rng.choice(T.REFUSAL)
        elif p.kind == "curt_slang" and rng.random() < 0.03:
            body = rng.choice(T.IMPATIENT)
        elif p.kind == "deflector" and rng.random() < 0.05:
            body = rng.choice(T.CONTRADICTION)
        hold = rng.random() < p.hold_p
        if hold:
            self.agent(p, rng.choice(T.HOLD), at=due)
            if rng.random() < p.hold_nofollow_p:
                gap = rng.uniform(16 * 60, 25 * 60)
            else:
                gap = rng.uniform(20, 300)
            # the customer may ask again during a long hold
            if gap > 120 and rng.random() < 0.3:
                self.customer(rng.choice(T.WAITING), gap=(gap * 0.4, gap * 0.6))
            self.agent(p, rng.choice(T.HOLD_FOLLOWUP) + body, at=due + timedelta(seconds=gap))
        else:
            if parts and rng.random() < 0.5:
                self.agent(p, parts[0], at=due)
                self.agent(p, prefix + body)
            else:
                lead = (parts[0] + ("" if parts[0].endswith(("？", "～")) else "，")) if parts else ""
                self.agent(p, lead + prefix + body, at=due)
        if extra:
            self.agent(p, extra)
        elif p.kind not in ("curt_slang", "deflector") and rng.random() < 0.18:
            self.agent(p, rng.choice(T.ANYTHING_ELSE))
        if p.push_p and rng.random() < p.push_p:
            unused = [x for x in T.SELLER_PUSH if x not in self.used]
            if unused:
                push = rng.choice(unused)
                self.used.add(push)
                self.agent(p, push)



def _exchanges(sc: Scene) -> list[tuple[list[str], str, str | None]]:
    """(customer lines, agent answer, optional extra agent message) per exchange of the session."""
    rng = sc.rng
    kind = sc.kind
    out: list[tuple[list[str], str, str | None]] = []
    presale = rng.sample(T.PRESALE_QA, k=min(len(T.PRESALE_QA), 4))
    if kind == "presale":
        for q, a in presale[: rng.choice([1, 2, 3, 3, 4, 4])]:
            lines = [q]
            if rng.random() < 0.25:
                lines.append(rng.choice(T.CUST_DETAIL))
            out.append((lines, a, None))
    elif kind == "bargain":
        q, a = presale[0]
        out.append(([q], a, None))
        for q in rng.sample(T.BARGAIN_Q, k=rng.choice([1, 2])):
            extra = T.INFO_MULTILINE if rng.random() < 0.15 else None
            out.append(([q], rng.choice(T.ANSWER_BARGAIN), extra))
        if rng.random() < 0.1:
            out.append(([rng.choice(T.CUST_CANT)], "点商品页的“领券”，领完再下单就会自动抵扣", None))
    elif kind == "sizing":
        q, a = rng.choice(T.SIZING_QA)
        lines = [q]
        if rng.random() < 0.3:
            lines.append(rng.choice(["想买两套换着用", "给爸妈买的", "新家刚装修好", "想一次买齐"]))
        out.append((lines, a, T.SIZE_CHART if rng.random() < 0.25 else None))
        if rng.random() < 0.5:
            q, a = presale[0]
            out.append(([q], a, None))
    elif kind == "logistics":
        out.append(([rng.choice(T.AFTERSALE_LOGISTICS)], rng.choice(T.ANSWER_LOGISTICS), None))
        if rng.random() < 0.4:
            out.append(([rng.choice(["那大概什么时候能到", "能不能催一下", "好慢啊"])], rng.choice(T.ANSWER_LOGISTICS), None))
    elif kind == "complaint":
        q, a = rng.choice(T.AFTERSALE_COMPLAINT)
        lines = [q]
        if rng.random() < 0.4:
            lines.append(T.CUST_IMAGE)
        if rng.random() < 0.3:
            lines.append("订单号{oid}")
        out.append((lines, a, None))
        if rng.random() < 0.5:
            q, a = rng.choice(T.COMPLAINT_FOLLOWUP)
            out.append(([q], a, None))
        if rng.random() < 0.15:
            out.append(([rng.choice(T.CUST_CANT)], "在订单页点“申请售后”，选好原因提交就可以", None))
    elif kind == "angry":
        lines = rng.sample(T.ANGRY, k=2)
        out.append((lines, rng.choice(T.ANSWER_ANGRY), None))
        q, a = rng.choice(T.AFTERSALE_COMPLAINT)
        out.append(([q], a, None))
        if rng.random() < 0.45:
            out.append(([rng.choice(T.ESCALATE)], rng.choice(T.ANSWER_ANGRY), None))
        else:
            out.append(([rng.choice(T.CALM)], rng.choice(T.THANKS), None))
    elif kind == "address":
        out.append(([rng.choice(T.CUST_ADDRESS)], rng.choice(T.ANSWER_ADDRESS), None))
    return out


def play(sc: Scene, roster: list[Persona]) -> Persona | None:
    """Run a session; returns the persona that handled it last (after transfers)."""
    rng = sc.rng
    p = sc.persona
    if rng.random() < 0.35:
        sc.system(rng.choice(T.SYS_FROM))
    if sc.kind == "night_bot":
        _night_bot(sc, roster)
        return None
    if sc.kind == "pickup":
        assert p is not None
        sc.system(T.SYS_OFFLINE)
        sc.agent(p, rng.choice(T.MORNING_PICKUP) + rng.choice(T.PRESALE_QA)[1])
        sc.customer(rng.choice(T.CUST_THANKS), gap=(30, 600))
        _ending(sc, p, inquiry=False)
        return p
    assert p is not None
    if rng.random() < 0.05:
        sc.system(f"由 服务助手 转交给 {agent_account(p.name)}")
    if rng.random() < 0.55:
        sc.customer(rng.choice(T.CUST_HELLO))
    if sc.extras.get("script"):
        sc.customer(T.SCRIPT_MESSAGE, gap=(2, 6), vary=False)
    elif rng.random() < 0.008:
        sc.customer(rng.choice(T.CUST_HTML), gap=(2, 6))
    exchanges = _exchanges(sc)
    gap_at = rng.randrange(1, len(exchanges)) if len(exchanges) > 1 and rng.random() < 0.12 else -1
    transfer_at = 0 if sc.kind in ("complaint", "logistics", "angry") and rng.random() < 0.12 else -1
    wechat_at = rng.randrange(len(exchanges)) if p.wechat_p and rng.random() < p.wechat_p else -1
    absolute_at = rng.randrange(len(exchanges)) if p.absolute_p and rng.random() < p.absolute_p else -1
    cur = p
    for i, (lines, core, extra) in enumerate(exchanges):
        if i == gap_at:
            sc.advance(rng.uniform(35 * 60, 100 * 60))
            sc.customer(rng.choice(T.CUST_BACK), gap=(0, 0))
        for j, line in enumerate(lines):
            sc.customer(line, gap=(2, 25) if (i == 0 or j > 0) else (5, 120))
            if rng.random() < 0.02:
                sc.system(T.SYS_RECALL.format(who=sc.cust.nick), gap=rng.uniform(3, 20))
                sc.customer(line, gap=(3, 15))
        first = not sc.agent_spoke
        if i == transfer_at:
            others = [q for q in roster if q.name != cur.name]
            if others:
                nxt = rng.choice(others)
                a, b = agent_account(cur.name), agent_account(nxt.name)
                if rng.random() < 0.75:
                    sc.reply(cur, rng.choice(T.TRANSFER_NOTE), first=first)
                    sc.system(T.SYS_TRANSFER.format(a=a, b=b), transfer=(a, b), gap=rng.uniform(5, 30))
                    sc.ctx["name"] = nxt.name
                    sc.agent(nxt, rng.choice(T.TRANSFER_HELLO), at=sc.t + timedelta(seconds=rng.uniform(20, 90)))
                    sc.agent(nxt, core)
                else:
                    sc.advance(rng.uniform(60, 200))
                    sc.system(T.SYS_TRANSFER.format(a=a, b=b), transfer=(a, b), gap=0)
                    sc.customer(rng.choice(T.WAITING), gap=(20, 60))
                    sc.round_start = sc.t
                    sc.ctx["name"] = nxt.name
                    sc.reply(nxt, core, first=True)
                cur = nxt
                continue
        sc.reply(cur, core, first=first, extra=extra)
        if rng.random() < 0.01:
            sc.system(T.SYS_RECALL.format(who=agent_account(cur.name)), gap=rng.uniform(3, 20))
        if i == wechat_at and cur.wechat_p:
            sc.agent(cur, rng.choice(T.WECHAT))
        if i == absolute_at and cur.absolute_p:
            bank = T.SELLER_ABSOLUTE if cur.kind == "seller" else T.RISKY_PROMISE
            sc.agent(cur, rng.choice(bank))
    _ending(sc, cur, inquiry=sc.kind in INQUIRY_KINDS)
    return cur


def _ending(sc: Scene, p: Persona, inquiry: bool) -> None:
    rng = sc.rng
    if rng.random() < p.unanswered_end_p:
        sc.customer(rng.choice(T.CUST_THINK if inquiry else T.CUST_THANKS + T.WAITING), gap=(5, 90))
        return
    if inquiry and sc.converts:
        sc.customer(rng.choice(T.CUST_ORDER), gap=(10, 120))
        sc.reply(p, rng.choice(T.CONFIRM_ORDER))
    elif inquiry:
        sc.customer(rng.choice(T.CUST_THINK), gap=(10, 120))
        sc.reply(p, rng.choice(T.REPLY_THINK))
    else:
        sc.customer(rng.choice(T.CUST_THANKS), gap=(10, 120))
        sc.reply(p, rng.choice(T.ANSWER_TO_THANKS))
    closing = rng.random() < p.closing_p
    rating = rng.random() < p.rating_p and not (inquiry and not sc.converts)
    if closing and rating and rng.random() < 0.5:
        r = rng.choice(T.RATING)
        sc.agent(p, r + ("" if r.endswith(("～", "呀")) else "～") + rng.choice(T.CLOSING))
    else:
        if rating:
            sc.agent(p, rng.choice(T.RATING))
        if closing:
            sc.agent(p, rng.choice(T.CLOSING))
    if rng.random() < 0.25:
        sc.system(T.SYS_CLOSE, gap=rng.uniform(60, 600))


def _night_bot(sc: Scene, roster: list[Persona]) -> None:
    """02:00–08:00: only the robot and the night account's offline auto-reply answer."""
    rng = sc.rng
    sc.customer(rng.choice(T.CUST_HELLO))
    q, _ = rng.choice(T.PRESALE_QA)
    sc.customer(q, gap=(2, 20))
    sc.bot(rng.choice(T.BOT_REPLIES))
    night = [q for q in roster if q.kind == "night_shift"]
    if night and rng.random() < 0.6:
        sc.auto(night[0], T.AUTO_REPLY_OFFLINE)
    if rng.random() < 0.5:
        sc.customer(rng.choice(["好吧", "那我明天再问", "人工客服呢"]), gap=(10, 60))
        if rng.random() < 0.5:
            sc.bot(T.BOT_REPLIES[3])
