"""Deterministic sample data: one shop, eight agent personas, two weeks of chats in three export
formats, an orders file, and the ground truth that tests check the pipeline against.

>>> from csaudit.sample import generate
>>> summary = generate("data/sample_chats", seed=7)      # doctest: +SKIP

Same seed ⇒ byte-identical files: all randomness comes from one ``random.Random(seed)``, dates are
fixed (2026-11-02 … 2026-11-15, ISO weeks 2026-W45 and W46), no wall clock is read. Chat text is
written for csaudit (see :mod:`csaudit.sample.texts`). Ground truth goes to ``truth_out`` (default:
the sibling folder ``sample_truth`` of ``out``), so reading ``out`` never reads the truth; see
``data/sample_truth/README.md`` for its files and definitions.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import random
from datetime import date, datetime, timedelta
from pathlib import Path

from csaudit.sample import texts as T
from csaudit.sample import truth as TR
from csaudit.sample import writers as W
from csaudit.sample.personas import EXPECTED, PERSONAS, Persona, on_shift
from csaudit.sample.readme import TRUTH_README
from csaudit.sample.scenes import AFTER_SALES_KINDS, INQUIRY_KINDS, Customer, Msg, Scene, agent_account, play

log = logging.getLogger(__name__)

__all__ = ["generate", "DEFAULT_CONVERSATIONS", "START_DATE", "DAYS"]

DEFAULT_CONVERSATIONS = 3600
"""Planned sessions at the default size (night pick-ups and idle-gap splits add conversations)."""
START_DATE = date(2026, 11, 2)
DAYS = 14

# relative traffic per local hour (0..23)
HOURLY = [3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 3, 6, 8, 8, 6, 7, 8, 8, 7, 6, 5, 6, 8, 9, 8, 5]
KINDS = {"presale": 38, "bargain": 14, "sizing": 12, "logistics": 12, "complaint": 12, "angry": 5, "address": 7}
FORMAT_SHARES = (("client", 0.60), ("web", 0.25), ("json", 0.15))
RETURNING_P = 0.3
TRADITIONAL_P = 0.04


class _Planner:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.customers: list[Customer] = []
        self.nicks: set[str] = set()
        self.order_ids: set[str] = set()
        self.orders: list[dict] = []

    # -- names -------------------------------------------------------------------------------
    def nick(self) -> str:
        rng = self.rng
        while True:
            r = rng.random()
            if r < 0.3:
                n = rng.choice(T.CUSTOMER_NICK_PARTS_A) + rng.choice(T.CUSTOMER_NICK_PARTS_B)
            elif r < 0.5:
                n = rng.choice(T.CUSTOMER_NICK_PARTS_A) + rng.choice(T.CUSTOMER_NICK_PARTS_B) + str(rng.randrange(1990, 2024))
            elif r < 0.7:
                n = f"{rng.choice(T.LATIN_NICKS)}_{rng.randrange(100, 99999)}"
            elif r < 0.85:
                n = f"tb{rng.randrange(10**7, 10**9)}"
            else:
                n = rng.choice(T.LATIN_NICKS) + rng.choice(T.CUSTOMER_NICK_PARTS_A)
            if n not in self.nicks:
                self.nicks.add(n)
                return n

    def new_customer(self) -> Customer:
        c = Customer(self.nick(), self.rng.random() < TRADITIONAL_P)
        self.customers.append(c)
        return c

    def pick_customer(self, start: datetime) -> Customer:
        if self.customers and self.rng.random() < RETURNING_P:
            for _ in range(4):
                c = self.rng.choice(self.customers)
                if c.busy_until <= start:
                    return c
        return self.new_customer()

    # -- orders ------------------------------------------------------------------------------
    def order(self, customer: str, created: datetime, paid_p: float = 0.9, refund_p: float = 0.05) -> dict:
        rng = self.rng
        while True:
            oid = str(rng.randrange(10**18, 10**19))
            if oid not in self.order_ids:
                self.order_ids.add(oid)
                break
        prod = rng.choice(T.PRODUCTS)
        amount = prod[1] * rng.choice([1, 1, 1, 2]) - rng.choice([0, 0, 10, 20])
        paid = created + timedelta(seconds=rng.uniform(20, 900)) if rng.random() < paid_p else None
        refund = 0.0
        if paid is not None and rng.random() < refund_p:
            refund = float(amount) if rng.random() < 0.7 else round(amount / 2, 2)
        o = {"order_id": oid, "customer": customer, "created": created.replace(microsecond=0), "paid": paid.replace(microsecond=0) if paid else None, "amount": float(amount), "refund": refund}
        self.orders.append(o)
        return o


def _session_starts(rng: random.Random, n: int) -> list[datetime]:
    starts = []
    for _ in range(n):
        d = rng.randrange(DAYS)
        h = rng.choices(range(24), weights=HOURLY)[0]
        if d == DAYS - 1 and h >= 23:
            h = rng.randrange(9, 22)
        starts.append(datetime.combine(START_DATE + timedelta(days=d), datetime.min.time()) + timedelta(hours=h, seconds=rng.randrange(3600)))
    starts.sort()
    return starts


def _choose_persona(rng: random.Random, roster: list[Persona], kind: str) -> Persona:
    weights = []
    for p in roster:
        w = 1.0
        if p.kind == "seller":
            w = 2.2 if kind in INQUIRY_KINDS else 0.5
        weights.append(w)
    return rng.choices(roster, weights=weights)[0]


def simulate(seed: int = 7, n_conversations: int = DEFAULT_CONVERSATIONS) -> tuple[list[Customer], list[Msg], list[dict]]:
    """Plan and play every session: (customers, messages in time order per customer, orders)."""
    rng = random.Random(seed)
    plan = _Planner(rng)
    msgs: list[Msg] = []
    starts = _session_starts(rng, n_conversations)
    script_at = n_conversations // 2
    script_done = False
    sid = 0
    for i, start in enumerate(starts):
        roster = on_shift(start.hour + start.minute / 60)
        if roster:
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            persona: Persona | None = _choose_persona(rng, roster, kind)
        else:
            kind, persona = "night_bot", None
        cust = plan.pick_customer(start)
        converts = kind in INQUIRY_KINDS and persona is not None and rng.random() < persona.convert_p
        oid = ""
        prior = None
        if kind in AFTER_SALES_KINDS:
            created = start - timedelta(days=rng.uniform(0.5, 10))
            prior = plan.order(cust.nick, created, paid_p=1.0, refund_p=0.0)
            oid = prior["order_id"]
        extras = {"bot_first": rng.random() < 0.05}
        if not script_done and i >= script_at and kind == "presale":
            extras["script"] = True
            script_done = True
        sc = Scene(rng, sid, cust, persona, start, kind, converts, oid, extras)
        play(sc, roster)
        sid += 1
        msgs.extend(sc.msgs)
        end = sc.msgs[-1].ts
        cust.sessions.append(sc.sid)
        cust.busy_until = end + timedelta(hours=1)
        if prior is not None and kind in ("complaint", "angry") and rng.random() < 0.5:
            prior["refund"] = prior["amount"] if rng.random() < 0.7 else round(prior["amount"] / 2, 2)
        if converts:
            if rng.random() < 0.65:
                created = end + timedelta(seconds=rng.uniform(30, 1800))
            else:
                created = start + timedelta(hours=rng.uniform(2, 40))
            plan.order(cust.nick, created)
        elif kind in INQUIRY_KINDS and rng.random() < 0.05:
            plan.order(cust.nick, start + timedelta(hours=rng.uniform(50, 110)))
        if kind == "night_bot" and rng.random() < 0.5:
            pick = datetime.combine(start.date(), datetime.min.time()) + timedelta(hours=8, seconds=rng.uniform(0, 5400))
            if pick >= end + timedelta(minutes=35):
                p2 = _choose_persona(rng, on_shift(pick.hour + pick.minute / 60), "pickup")
                sc2 = Scene(rng, sid, cust, p2, pick, "pickup", False)
                play(sc2, on_shift(pick.hour))
                sid += 1
                msgs.extend(sc2.msgs)
                cust.sessions.append(sc2.sid)
                cust.busy_until = sc2.msgs[-1].ts + timedelta(hours=1)
    # silent orders: buyers who never chatted
    n_silent = max(5, len(plan.orders) // 8)
    for _ in range(n_silent):
        nick = plan.nick()
        created = datetime.combine(START_DATE, datetime.min.time()) + timedelta(seconds=rng.uniform(0, DAYS * 86400))
        plan.order(nick, created.replace(microsecond=0))
    plan.orders.sort(key=lambda o: (o["created"], o["order_id"]))
    return plan.customers, msgs, plan.orders


def _assign_formats(rng: random.Random, customers: list[Customer]) -> None:
    order = list(customers)
    rng.shuffle(order)
    total = sum(len(c.sessions) for c in order)
    done = 0
    for c in order:
        share = done / max(total, 1)
        acc = 0.0
        for fmt, f in FORMAT_SHARES:
            acc += f
            if share < acc:
                c.fmt = fmt
                break
        else:
            c.fmt = FORMAT_SHARES[-1][0]
        done += len(c.sessions)


def _csv_bytes(rows: list[dict], columns: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k)) for k in columns})
    return buf.getvalue().encode("utf-8")


def _fmt(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat() + "+08:00"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "|".join(v)
    return v


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def generate(
    out: str | Path = "data/sample_chats",
    seed: int = 7,
    truth_out: str | Path | None = None,
    n_conversations: int = DEFAULT_CONVERSATIONS,
) -> dict:
    """Write the sample exports to ``out`` and the ground truth to ``truth_out``.

    ``n_conversations`` is the number of planned sessions (≥ 3,000 conversations and ≈ 40k messages
    at the default). Returns a summary dict (counts per format, role, agent; file sizes in bytes).
    Existing files of the sample layout in ``out`` are replaced; other files are left alone.
    """
    out = Path(out)
    truth_dir = Path(truth_out) if truth_out is not None else out.parent / "sample_truth"
    customers, msgs, orders = simulate(seed, n_conversations)
    for m in msgs:
        try:
            m.text.encode("gbk")
            m.sender.encode("gbk")
        except UnicodeEncodeError as exc:  # pragma: no cover - guards the phrase banks
            raise ValueError(f"sample text not GBK-encodable: {m.text!r}") from exc
    layout_rng = random.Random(seed * 1009 + 1)
    _assign_formats(layout_rng, customers)
    by_customer: dict[str, list[Msg]] = {}
    for m in msgs:
        by_customer.setdefault(m.customer, []).append(m)
    for lst in by_customer.values():
        lst.sort(key=lambda m: m.ts)

    # clear previous output of our own layout only
    for sub in (W.CLIENT_DIR, W.WEB_DIR):
        d = out / sub
        if d.exists():
            for f in d.glob("*.txt"):
                f.unlink()
    members: list[tuple[str, str]] = []
    written: list[Msg] = []
    for c in sorted(customers, key=lambda c: c.nick):
        cm = by_customer.get(c.nick)
        if not cm:
            continue
        if c.fmt == "client":
            src = f"{W.CLIENT_DIR}/{c.nick}.txt"
            _write(out / src, W.client_text(cm, src, layout_rng).encode("gbk"))
        elif c.fmt == "web":
            src = f"{W.WEB_DIR}/{c.nick}.txt"
            _write(out / src, W.web_text(cm, src, layout_rng).encode("utf-8"))
        else:
            src = f"{W.JSON_ZIP}/{c.nick}.json"
            members.append((f"{c.nick}.json", W.json_export(cm, c.nick, src, layout_rng)))
        written.extend(cm)
    _write(out / W.JSON_ZIP, W.zip_bytes(members))
    _write(out / "orders.csv", W.orders_csv(orders, T.SHOP))

    # ground truth
    convs: list[TR.Conv] = []
    for c in sorted(customers, key=lambda c: c.nick):
        if c.nick in by_customer:
            convs.extend(TR.split_conversations(by_customer[c.nick]))
    rounds = [r for cv in convs for r in TR.rounds(cv)]
    hits = [h for m in written for h in TR.planted_hits(m)]
    inquiries, order_rows = TR.conversions(convs, orders)
    msg_rows = [
        {
            "source": m.source,
            "line": m.line,
            "role": m.role,
            "sender": m.sender_out,
            "agent": m.agent,
            "customer": m.customer,
            "ts": m.ts if m.ts_exported else None,
            "text": m.text,
        }
        for m in written
    ]
    conv_rows = [
        {
            "conversation": cv.key,
            "customer": cv.customer,
            "source": cv.msgs[0].source,
            "start": cv.start,
            "end": cv.end,
            "agent": cv.agent,
            "agents": cv.agents,
            "n_messages": len(cv.msgs),
            "n_customer": sum(m.role == "customer" for m in cv.msgs),
            "n_agent": sum(m.role == "agent" for m in cv.msgs),
            "is_inquiry": TR.is_inquiry(cv),
        }
        for cv in convs
    ]
    truth_dir.mkdir(parents=True, exist_ok=True)
    _write(truth_dir / "README.md", TRUTH_README.encode("utf-8"))
    _write(truth_dir / "messages.csv.gz", _gz(_csv_bytes(msg_rows, ["source", "line", "role", "sender", "agent", "customer", "ts", "text"])))
    _write(truth_dir / "conversations.csv.gz", _gz(_csv_bytes(conv_rows, list(conv_rows[0]))))
    _write(
        truth_dir / "rounds.csv.gz",
        _gz(_csv_bytes(rounds, ["conversation", "customer", "agent", "round", "start", "reply", "response_s", "in_hours", "transfer"])),
    )
    _write(
        truth_dir / "planted_hits.csv.gz",
        _gz(_csv_bytes(hits, ["source", "line", "role", "side", "agent", "category", "term", "start", "end"])),
    )
    _write(
        truth_dir / "conversions.csv",
        _csv_bytes(inquiries, ["conversation", "customer", "start", "agent", "order_id", "created", "paid", "converted_48h", "paid_48h"]),
    )
    _write(
        truth_dir / "orders.csv",
        _csv_bytes(order_rows, ["order_id", "customer", "created", "paid", "amount", "refund", "inquiry_conversation", "attributed_agent", "silent"]),
    )
    personas = {
        "shop": T.SHOP,
        "bot": agent_account(T.BOT),
        "agents": {agent_account(p.name): {"persona": p.kind, "shift": list(p.shift)} for p in PERSONAS},
        "expected": {k: agent_account(v) for k, v in EXPECTED.items()},
        "seed": seed,
        "n_sessions": n_conversations,
        "period": [START_DATE.isoformat(), (START_DATE + timedelta(days=DAYS - 1)).isoformat()],
    }
    _write(truth_dir / "personas.json", (json.dumps(personas, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))

    summary = {
        "conversations": len(convs),
        "messages": len(written),
        "customers": len(by_customer),
        "orders": len(orders),
        "rounds": len(rounds),
        "planted_hits": len(hits),
        "by_format": {f: sum(1 for m in written if m.source.startswith(p)) for f, p in (("client", W.CLIENT_DIR), ("web", W.WEB_DIR), ("json", W.JSON_ZIP))},
        "by_role": {r: sum(1 for m in written if m.role == r) for r in ("customer", "agent", "auto_reply", "bot", "system")},
        "truth_dir": str(truth_dir),
    }
    log.info("sample: %(conversations)d conversations, %(messages)d messages, %(orders)d orders", summary)
    return summary
