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
``open_kfid``, else the name of the folder holding the file; ``sender`` = the customer, the servicer,
or ``system``; an agent-side message that names no servicer is kept under the shop's placeholder
account ``<shop>:<[io] unknown_agent>`` (``<[io] unknown_shop>`` when there is no shop either) and
counted in ``Parsed.unknown_agent``; ``ts`` = ``send_time``
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

from csaudit.config import IOConfig
from csaudit.io.base import Parsed, RawFile, ReadContext, json_head, rejects_frame
from csaudit.io.common import (
    EPOCH_MAX_S,
    empty_parsed,
    object_columns,
    scalar_text,
    text_column,
    times_from_ns,
)

log = logging.getLogger(__name__)

NAME = "wecom-kf"
ORIGIN_ROLES = {3: "customer", 4: "system", 5: "agent"}
"""WeCom ``origin`` code → role."""
SYSTEM_SENDER = "system"
LOOP_MAX = 2000
"""Files with at most this many messages are parsed by a loop, larger ones column-wise."""
_MAX_DEPTH = 3
_HEAD = re.compile(r'"(msg_list|send_time|origin|external_userid|open_kfid|servicer_userid|msgtype)"\s*:')


def sniff(raw: RawFile, text: str | None) -> float:
    """JSON with ``msg_list`` or several WeCom message keys near the start → up to 0.95."""
    head = json_head(text)
    if head is None:
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
    return scalar_text(v).strip()


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
    lines = np.asarray(where if where is not None else range(1, len(msgs) + 1), dtype="int64")
    messages, reasons = _frame(msgs, folder, ctx.tz, io_cfg=ctx.config.io)
    messages.insert(0, "line", lines)
    bad = reasons != ""
    bi = np.flatnonzero(bad)
    rejects = rejects_frame(
        [int(lines[i]) for i in bi],
        [msgs[i].raw if isinstance(msgs[i], _Broken) else json.dumps(msgs[i], ensure_ascii=False) for i in bi],
        [str(reasons[i]) for i in bi],
    )
    if bad.any():
        messages = messages.loc[~bad].reset_index(drop=True)
    unnamed = int(((messages["role"] == "agent") & messages["agent"].isna()).sum()) if len(messages) else 0
    if len(messages) == 0:
        messages = empty_parsed()
    return Parsed(messages, rejects, enc, unknown_agent=unnamed)


_KEYS = ("send_time", "origin", "external_userid", "servicer_userid", "open_kfid", "msgtype", "text", "event")


def _frame(msgs: list[object], folder: str, tz: str, loop_max: int | None = None, io_cfg: IOConfig | None = None,
           ) -> tuple[pd.DataFrame, np.ndarray]:
    """Message items → (parsed columns, reject reason per item or ""): a plain loop for up to
    ``loop_max`` items (default :data:`LOOP_MAX`; one sync_msg page holds at most 1000), column
    operations above."""
    io_cfg = io_cfg or IOConfig()
    if len(msgs) <= (LOOP_MAX if loop_max is None else loop_max):
        return _frame_loop(msgs, folder, tz, io_cfg)
    return _frame_columns(msgs, folder, tz, io_cfg)


def _epoch_ns(v: object) -> int | None:
    """``send_time`` (epoch seconds, or milliseconds when > 1e11) → ns, exact to the microsecond."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        t = float(v)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(t) or t <= 0:
        return None
    sec = t / 1000.0 if t > 1e11 else t
    if sec >= EPOCH_MAX_S:
        return None
    whole = int(np.floor(sec))
    return whole * 1_000_000_000 + int(np.round((sec - whole) * 1e6)) * 1000


def _frame_loop(msgs: list[object], folder: str, tz: str, io_cfg: IOConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """The per-item twin of :func:`_frame_columns` (same output), cheaper for small files."""
    n = len(msgs)
    out: dict[str, list] = {k: [None] * n for k in ("sender", "text", "role", "shop", "customer", "agent")}
    ns_list: list[int | None] = [None] * n
    reasons = np.full(n, "", dtype=object)
    for i, m in enumerate(msgs):
        if isinstance(m, _Broken):
            reasons[i] = m.reason
            continue
        if not isinstance(m, dict):
            reasons[i] = "a message must be a JSON object"
            continue
        ns = _epoch_ns(m.get("send_time"))
        origin = m.get("origin")
        try:
            role = None if isinstance(origin, bool) else ORIGIN_ROLES.get(int(float(origin)))
        except (TypeError, ValueError, OverflowError):
            role = None
        customer, servicer = _get(m, "external_userid"), _get(m, "servicer_userid")
        shop = _get(m, "open_kfid") or folder or None
        mtype = _s(m.get("msgtype"))
        if mtype in ("", "text"):
            body = m.get("text")
            text = _s(body.get("content")) if isinstance(body, dict) else ""
        else:
            text = message_text(m)
        sender = (customer if role == "customer" else SYSTEM_SENDER if role == "system"
                  else servicer or f"{shop or io_cfg.unknown_shop}:{io_cfg.unknown_agent}")
        if ns is None:
            reasons[i] = f"send_time {m.get('send_time')!r} is not epoch seconds"
        elif role is None:
            reasons[i] = f"unknown origin {origin!r} (expected 3 customer, 4 system, 5 agent)"
        elif not customer:
            reasons[i] = "no external_userid (no customer to file this message under)"
        elif not text:
            reasons[i] = "empty text"
        out["sender"][i], out["text"][i], out["role"][i] = sender, text, role
        out["shop"][i], out["customer"][i] = shop, customer
        out["agent"][i] = servicer if role == "agent" and servicer else None
        ns_list[i] = ns
    ts = times_from_ns(ns_list, [True] * n, tz) if n else pd.Series([], dtype=f"datetime64[ns, {tz}]")
    frame = pd.DataFrame({
        "sender": pd.array(out["sender"], dtype="str"),
        "ts": ts.array,
        "text": pd.array(out["text"], dtype="str"),
        "role": pd.array(out["role"], dtype="str"),
        "shop": pd.array(out["shop"], dtype="str"),
        "customer": pd.array(out["customer"], dtype="str"),
        "agent": pd.array(out["agent"], dtype="str"),
        "conversation": pd.array([None] * n, dtype="str"),
    })
    return frame, reasons


def _frame_columns(msgs: list[object], folder: str, tz: str, io_cfg: IOConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Column-wise parse of the message items → (parsed columns, reject reason per item or "")."""
    n = len(msgs)
    is_obj = np.fromiter((isinstance(m, dict) for m in msgs), dtype=bool, count=n)
    objs = msgs if is_obj.all() else [m if isinstance(m, dict) else {} for m in msgs]
    raw = object_columns(objs, _KEYS)
    ids = {k: text_column(raw[k]).str.strip() for k in ("external_userid", "servicer_userid", "open_kfid", "msgtype")}
    # ids of event messages live inside "event"
    has_event = np.fromiter((isinstance(e, dict) for e in raw["event"]), dtype=bool, count=n)
    for k in ("external_userid", "servicer_userid", "open_kfid"):
        fix = np.flatnonzero(has_event & (ids[k] == "").to_numpy(dtype=bool))
        if len(fix):
            ids[k] = ids[k].copy()
            ids[k].iloc[fix] = [str(raw["event"].iat[i].get(k) or "").strip() for i in fix]
    # time: epoch seconds (or milliseconds), exact to the microsecond
    st = raw["send_time"]
    is_bool = np.fromiter((isinstance(v, bool) for v in st), dtype=bool, count=n)
    t = pd.to_numeric(st.where(~is_bool), errors="coerce").astype("float64").to_numpy()
    ok_t = np.isfinite(t) & (t > 0)
    ms = ok_t & (t > 1e11)
    sec = np.where(ms, t / 1000.0, t)
    ok_t &= sec < EPOCH_MAX_S
    whole = np.floor(np.where(ok_t, sec, 0)).astype("int64")
    micro = np.round((np.where(ok_t, sec, 0) - whole) * 1e6).astype("int64")
    ns = whole * 1_000_000_000 + micro * 1000
    ts = pd.to_datetime(pd.Series(np.where(ok_t, ns, 0), dtype="int64"), unit="ns", utc=True)
    ts = ts.where(ok_t).dt.tz_convert(tz).dt.as_unit("ns")
    # role from origin
    origin = pd.to_numeric(raw["origin"].where(~np.fromiter((isinstance(v, bool) for v in raw["origin"]),
                                                              dtype=bool, count=n)), errors="coerce")
    role = pd.Series(origin.map(ORIGIN_ROLES), dtype="str")
    # text: text.content for text messages, placeholders for the rest
    mtype = ids["msgtype"]
    is_text = ((mtype == "text") | (mtype == "")).to_numpy(dtype=bool)
    content = [(b.get("content") if isinstance(b, dict) else None) if it else None
               for b, it in zip(raw["text"], is_text, strict=True)]
    text = text_column(pd.Series(content, dtype=object)).str.strip()
    other = np.flatnonzero(~is_text & is_obj)
    if len(other):
        text = text.copy()
        text.iloc[other] = [message_text(msgs[i]) for i in other]
    customer, servicer, shop = ids["external_userid"], ids["servicer_userid"], ids["open_kfid"]
    shop = shop.where(shop != "", folder or None)
    placeholder = shop.fillna(io_cfg.unknown_shop).astype("str") + ":" + io_cfg.unknown_agent
    sender = customer.where(role == "customer", servicer.where(servicer != "", placeholder))
    sender = sender.mask(role == "system", SYSTEM_SENDER)
    reasons = np.full(n, "", dtype=object)
    checks = [
        ((text == "").to_numpy(dtype=bool), lambda i: "empty text"),
        ((customer == "").to_numpy(dtype=bool), lambda i: "no external_userid (no customer to file this message under)"),
        (role.isna().to_numpy(dtype=bool),
         lambda i: f"unknown origin {objs[i].get('origin')!r} (expected 3 customer, 4 system, 5 agent)"),
        (~ok_t, lambda i: f"send_time {objs[i].get('send_time')!r} is not epoch seconds"),
        (~is_obj, lambda i: "a message must be a JSON object"),
    ]
    for mask, why in checks:  # the last check that fails names the reason
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons[i] = why(i)
    broken = [i for i, m in enumerate(msgs) if isinstance(m, _Broken)]
    for i in broken:
        reasons[i] = msgs[i].reason
    frame = pd.DataFrame({
        "sender": pd.Series(sender, dtype="str"),
        "ts": ts,
        "text": text,
        "role": role,
        "shop": pd.Series(shop, dtype="str"),
        "customer": customer,
        "agent": servicer.where((role == "agent") & (servicer != "")),
        "conversation": pd.Series(pd.NA, index=raw.index, dtype="str"),
    })
    return frame, reasons
