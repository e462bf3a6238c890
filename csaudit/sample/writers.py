"""One writer per export format (DESIGN §4). Each writer lays out one customer's messages, records
on every message where it landed (``source``, ``line``, ``sender_out``, ``ts_exported``) and returns
the file's text. Files are deterministic: their look depends only on the ``random.Random`` passed in.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import datetime

from csaudit.sample.scenes import Msg

CLIENT_DIR = "qianniu_client"
WEB_DIR = "qianniu_web"
JSON_ZIP = "qianniu_json.zip"
EXPORT_TIME = "2026-11-16 09:30:00"
ZIP_DATE = (2026, 11, 16, 9, 30, 0)


def _sender(m: Msg, full_width: bool) -> str:
    if m.role in ("agent", "auto_reply", "bot") and full_width:
        return m.sender.replace(":", "：", 1)
    return m.sender


def _sessions(msgs: list[Msg]) -> list[list[Msg]]:
    out: list[list[Msg]] = []
    for m in msgs:
        if not out or out[-1][-1].session != m.session:
            out.append([])
        out[-1].append(m)
    return out


def _dash(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S}"


def _slash(ts: datetime) -> str:
    return f"{ts.year}/{ts.month}/{ts.day} {ts.hour}:{ts.minute:02d}:{ts.second:02d}"


CLIENT_STYLES = ("dash", "dash", "dash", "slash", "nospace", "ownline")


def _system_line(m: Msg, lines: list[str]) -> None:
    """A system line is written as its text alone, with no sender or time (as the platforms export it)."""
    m.ts_exported = False
    m.sender_out = ""
    lines.append(m.text)
    m.line = len(lines)


def client_text(msgs: list[Msg], source: str, rng: random.Random) -> str:
    """Qianniu client text: ``SENDER TIMESTAMP`` headers in mixed variants, content lines below."""
    style = rng.choice(CLIENT_STYLES)
    full_width = rng.random() < 0.3
    lines: list[str] = []
    for k, sess in enumerate(_sessions(msgs)):
        if k:
            lines.append("")
        for m in sess:
            m.source = source
            if m.role == "system":
                _system_line(m, lines)
                continue
            s = style if rng.random() > 0.1 else rng.choice(CLIENT_STYLES)
            sender = _sender(m, full_width and rng.random() > 0.05)
            m.sender_out = sender
            m.line = len(lines) + 1
            if s == "dash":
                lines.append(f"{sender} {_dash(m.ts)}")
            elif s == "slash":
                lines.append(f"{sender} {_slash(m.ts)}")
            elif s == "nospace":
                lines.append(sender + (_dash(m.ts) if rng.random() < 0.5 else _slash(m.ts)))
            else:
                lines.append(sender)
                lines.append(_dash(m.ts))
            lines.extend(m.text.split("\n"))
    return "\r\n".join(lines) + "\r\n"


def web_text(msgs: list[Msg], source: str, rng: random.Random) -> str:
    """Qianniu web history: a date line per day, then blocks of time, content line(s), sender."""
    cn_date = rng.random() < 0.5
    full_width = rng.random() < 0.3
    lines: list[str] = []
    day = None
    for k, sess in enumerate(_sessions(msgs)):
        if k:
            lines.append("")
        for m in sess:
            m.source = source
            if m.role == "system":
                _system_line(m, lines)
                continue
            if m.ts.date() != day:
                day = m.ts.date()
                lines.append(f"{day.year}年{day.month}月{day.day}日" if cn_date else f"{day:%Y-%m-%d}")
            sender = _sender(m, full_width)
            m.sender_out = sender
            lines.append(f"{m.ts:%H:%M:%S}")
            m.line = len(lines)
            lines.extend(m.text.split("\n"))
            lines.append(sender)
    return "\n".join(lines) + "\n"


def json_export(msgs: list[Msg], customer: str, source: str, rng: random.Random) -> str:
    """Per-customer JSON: ``{"user", "exportTime", "chats": [{date, time, sender, text, imgUrl}]}``."""
    full_width = rng.random() < 0.3
    chats = []
    for i, m in enumerate(msgs, start=1):
        m.source = source
        m.line = i
        sender = "系统" if m.role == "system" else _sender(m, full_width)
        m.sender_out = sender
        img = f"https://img.example.com/chat/{abs(hash_text(customer + str(i))) % 10**8:08d}.jpg" if m.text == "[图片]" else ""
        chats.append({"date": f"{m.ts:%Y-%m-%d}", "time": f"{m.ts:%H:%M:%S}", "sender": sender, "text": m.text, "imgUrl": img})
    return json.dumps({"user": customer, "exportTime": EXPORT_TIME, "chats": chats}, ensure_ascii=False, indent=1) + "\n"


def hash_text(s: str) -> int:
    """A stable (process-independent) small hash, for invented image URLs."""
    h = 2166136261
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def zip_bytes(members: list[tuple[str, str]]) -> bytes:
    """A deterministic zip (fixed member dates, sorted input order kept) of UTF-8 text members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    return buf.getvalue()


ORDER_HEADER = ["订单号", "店铺", "买家", "下单时间", "付款时间", "实付金额", "退款金额"]


def orders_csv(orders: list[dict], shop: str) -> bytes:
    """orders.csv: UTF-8 with BOM, Chinese headers, empty 付款时间 when unpaid."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(ORDER_HEADER)
    for o in orders:
        w.writerow(
            [
                o["order_id"],
                shop,
                o["customer"],
                _dash(o["created"]),
                _dash(o["paid"]) if o["paid"] is not None else "",
                f"{o['amount']:.2f}",
                f"{o['refund']:.2f}",
            ]
        )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
