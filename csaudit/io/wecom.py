"""WeCom customer-service message dumps (``wecom-kf``, DESIGN §4.4).

The ``sync_msg`` API's ``msg_list`` items, as saved by a shop's script::

    {"errcode": 0, "next_cursor": "...", "msg_list": [
      {"msgid": "m1", "open_kfid": "wkAbc", "external_userid": "wmXyz", "send_time": 1762668187,
       "origin": 3, "msgtype": "text", "text": {"content": "在吗"}},
      {"msgid": "m2", "open_kfid": "wkAbc", "external_userid": "wmXyz", "send_time": 1762668200,
       "origin": 5, "servicer_userid": "zhangsan", "msgtype": "text", "text": {"content": "在的"}}]}

Accepted containers: the object above, the same wrapped in other keys (``{"data": {"msg_list":
[...]}}``), a list of such pages, a bare list of messages, or JSON Lines (one message per line).

Columns: ``role`` from ``origin`` (3 customer, 4 system, 5 agent — :data:`ORIGIN_ROLES`);
``customer`` = ``external_userid``; ``agent`` = ``servicer_userid`` (agent rows only); ``shop`` =
``open_kfid``, else the name of the folder holding the file; ``sender`` = the customer, the servicer
(or the ``open_kfid`` when an agent-side message names no servicer), or ``system``; ``ts`` = ``send_time``
(epoch seconds, tz-aware in the requested tz). Event messages carry their ids inside ``event`` and
are read from there.

Texts of non-text messages (:func:`message_text`): ``[image]``, ``[voice]``, ``[video]``,
``[file] name``, ``[location] name address``, ``[link] title``, ``[miniprogram] title``,
``[business_card]``, ``[msgmenu] head …items… tail``, ``[event:enter_session]`` etc., and
``[<msgtype>]`` for anything else.

``line`` is the 1-based message number across the file's message lists (JSON Lines: the file
line). A message that is not an object, has no/invalid ``send_time``, an unknown ``origin``, no
customer, or an empty text becomes a reject with its JSON as ``raw``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from csaudit.io.base import Parsed, RawFile, ReadContext, rejects_frame
from csaudit.io.table import empty_parsed

log = logging.getLogger(__name__)

NAME = "wecom-kf"
ORIGIN_ROLES = {3: "customer", 4: "system", 5: "agent"}
"""WeCom ``origin`` code → role."""
SYSTEM_SENDER = "system"
_MAX_DEPTH = 3
_HEAD = re.compile(r'"(msg_list|send_time|origin|external_userid|open_kfid|servicer_userid|msgtype)"\s*:')


def sniff(raw: RawFile, text: str | None) -> float:
    """JSON with ``msg_list`` or several WeCom message keys near the start → up to 0.95."""
    if text is None:
        return 0.0
    head = text[:8192].lstrip("\ufeff \n\t\r")
    if head[:1] not in ("{", "["):
        return 0.0
    keys = set(_HEAD.findall(head))
    if "msg_list" in keys and len(keys) >= 2:
        return 0.95
    if {"send_time", "origin"} <= keys or {"external_userid", "open_kfid"} <= keys:
        return 0.9
    if keys:
        return 0.4
    return 0.0


def _find_messages(obj: object, depth: int = 0) -> list[object] | None:
    """The message items in ``obj``: ``msg_list`` lists found up to :data:`_MAX_DEPTH` levels down,
    concatenated in order, or the list itself when it is a list of messages."""
    if isinstance(obj, dict):
        if isinstance(obj.get("msg_list"), list):
            return list(obj["msg_list"])
        if depth >= _MAX_DEPTH:
            return None
        found: list[object] | None = None
        for v in obj.values():
            sub = _find_messages(v, depth + 1)
            if sub is not None:
                found = (found or []) + sub
        return found
    if isinstance(obj, list):
        if any(isinstance(x, dict) and "msg_list" in x for x in obj):
            out: list[object] = []
            for x in obj:
                sub = _find_messages(x, depth + 1)
                if sub is not None:
                    out.extend(sub)
            return out
        if any(isinstance(x, dict) and ("send_time" in x or "origin" in x or "msgtype" in x) for x in obj):
            return list(obj)
        return [] if not obj else None
    return None


def _s(v: object) -> str:
    return "" if v is None or isinstance(v, dict | list) else str(v).strip()


def message_text(m: dict) -> str:
    """The text of one message item (placeholders for non-text types, see module docstring)."""
    mtype = _s(m.get("msgtype")) or "text"
    body = m.get(mtype) if isinstance(m.get(mtype), dict) else {}
    if mtype == "text":
        return _s(body.get("content")) if body else _s(m.get("content"))
    if mtype == "event":
        return f"[event:{_s(body.get('event_type')) or 'unknown'}]"
    if mtype == "file":
        return " ".join(filter(None, ["[file]", _s(body.get("file_name"))]))
    if mtype == "location":
        return " ".join(filter(None, ["[location]", _s(body.get("name")), _s(body.get("address"))]))
    if mtype in ("link", "miniprogram", "channels", "channels_shop_product"):
        return " ".join(filter(None, [f"[{mtype}]", _s(body.get("title")) or _s(body.get("product_title"))]))
    if mtype == "msgmenu":
        items = [_s((i.get("click") or i.get("view") or i.get("miniprogram") or i.get("text") or {}).get("content")
                    or (i.get("view") or {}).get("title") or (i.get("miniprogram") or {}).get("title"))
                 for i in body.get("list", []) if isinstance(i, dict)]
        parts = [_s(body.get("head_content")), *filter(None, items), _s(body.get("tail_content"))]
        return " ".join(filter(None, ["[msgmenu]", *parts]))
    return f"[{mtype}]"


def _get(m: dict, key: str) -> str:
    """A top-level id, or the same key inside an ``event`` body."""
    v = _s(m.get(key))
    if not v and isinstance(m.get("event"), dict):
        v = _s(m["event"].get(key))
    return v


def _load(text: str) -> tuple[list[object] | None, list[int] | None, tuple[int, str, str] | None]:
    """(messages, their lines or None, error reject or None)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.split("\n")]
        if exc.msg == "Extra data" and lines[0].lstrip().startswith("{"):
            return _load_jsonl(lines)
        return None, None, (exc.lineno, text[:2000], f"not valid JSON: {exc.msg} (line {exc.lineno}, "
                                                     f"column {exc.colno})")
    msgs = _find_messages(data)
    if msgs is None:
        return None, None, (1, text[:2000], 'expected WeCom messages ({"msg_list": [...]} or a list of '
                                            "messages with send_time/origin)")
    return msgs, None, None


def _load_jsonl(lines: list[str]) -> tuple[list[object], list[int], None]:
    msgs: list[object] = []
    where: list[int] = []
    for i, ln in enumerate(lines, start=1):
        if not ln.strip():
            continue
        try:
            msgs.append(json.loads(ln))
        except json.JSONDecodeError as exc:
            msgs.append(_Broken(ln, f"not valid JSON: {exc.msg} (column {exc.colno})"))
        where.append(i)
    return msgs, where, None


class _Broken:
    """A JSON Lines line that did not parse (becomes a reject)."""

    def __init__(self, raw: str, reason: str):
        self.raw, self.reason = raw, reason


def parse(raw: RawFile, ctx: ReadContext) -> Parsed:
    """Parse one WeCom dump (see module docstring)."""
    from csaudit.io.detect import decode

    text, enc = decode(raw.data, raw.source, forced=ctx.encoding)
    text = text.lstrip("\ufeff")
    if not text.strip():
        return Parsed(empty_parsed(), rejects_frame([], [], []), enc)
    msgs, where, err = _load(text)
    if err is not None:
        return Parsed(empty_parsed(), rejects_frame([err[0]], [err[1]], [err[2]]), enc)
    assert msgs is not None
    folder = PurePosixPath(raw.source.replace("\\", "/")).parent.name
    lines = where if where is not None else list(range(1, len(msgs) + 1))
    rows = {k: [] for k in ("line", "sender", "ts", "text", "role", "shop", "customer", "agent")}
    rej_l: list[int] = []
    rej_r: list[str] = []
    rej_w: list[str] = []
    for line, m in zip(lines, msgs, strict=True):
        if isinstance(m, _Broken):
            rej_l.append(line), rej_r.append(m.raw), rej_w.append(m.reason)
            continue
        why, row = _row(m, folder)
        if why:
            rej_l.append(line)
            rej_r.append(json.dumps(m, ensure_ascii=False))
            rej_w.append(why)
            continue
        row["line"] = line
        for k, v in row.items():
            rows[k].append(v)
    ts = pd.to_datetime(pd.Series(rows["ts"], dtype="int64"), unit="ns", utc=True)
    messages = pd.DataFrame({
        "line": pd.Series(rows["line"], dtype="int64"),
        "sender": pd.Series(rows["sender"], dtype="str"),
        "ts": ts.dt.tz_convert(ctx.tz).dt.as_unit("ns"),
        "text": pd.Series(rows["text"], dtype="str"),
        "role": pd.Series(rows["role"], dtype="str"),
        "shop": pd.Series(rows["shop"], dtype="str"),
        "customer": pd.Series(rows["customer"], dtype="str"),
        "agent": pd.Series(rows["agent"], dtype="str"),
        "conversation": pd.Series(pd.NA, index=range(len(rows["line"])), dtype="str"),
    })
    if len(messages) == 0:
        messages = empty_parsed()
    return Parsed(messages, rejects_frame(rej_l, rej_r, rej_w), enc)


def _row(m: object, folder: str) -> tuple[str, dict]:
    """(reject reason or "", parsed fields) of one message item."""
    if not isinstance(m, dict):
        return "a message must be a JSON object", {}
    st = m.get("send_time")
    try:
        t = float(st) if not isinstance(st, bool) else float("nan")
    except (TypeError, ValueError):
        t = float("nan")
    if not np.isfinite(t) or t <= 0:
        return f"send_time {st!r} is not epoch seconds", {}
    if t > 1e11:  # milliseconds
        ns = int(t) * 1_000_000 if float(t).is_integer() else round(t * 1000) * 1000
    else:
        ns = int(t) * 1_000_000_000 if float(t).is_integer() else round(t * 1e6) * 1000
    origin = m.get("origin")
    try:
        role = ORIGIN_ROLES[int(origin)]
    except (TypeError, ValueError, KeyError):
        return f"unknown origin {origin!r} (expected 3 customer, 4 system, 5 agent)", {}
    customer = _get(m, "external_userid")
    if not customer:
        return "no external_userid (no customer to file this message under)", {}
    servicer = _get(m, "servicer_userid")
    shop = _get(m, "open_kfid") or folder or None
    text = message_text(m)
    if not text:
        return "empty text", {}
    if role == "customer":
        sender = customer
    elif role == "agent":
        sender = servicer or shop or ""
        if not sender:
            return "agent message without servicer_userid or open_kfid", {}
    else:
        sender = SYSTEM_SENDER
    return "", {
        "sender": sender,
        "ts": ns,
        "text": text,
        "role": role,
        "shop": shop,
        "customer": customer,
        "agent": (servicer or None) if role == "agent" else None,
    }
