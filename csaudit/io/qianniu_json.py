"""Per-customer JSON chat exports (``qianniu-json``, DESIGN §4.3).

One file holds one buyer's history::

    {"user": "jojo_2020", "exportTime": "2026-11-10 09:00:00",
     "chats": [{"date": "2026-11-09", "time": "14:03:07", "sender": "jojo_2020",
                "text": "这件毛衣起球吗", "imgUrl": ""}, ...]}

Also accepted: a list of such objects (several buyers in one file; record numbers continue across
them), ``time`` holding a full date-time when ``date`` is absent, and an optional per-record
``role`` (values as in :data:`csaudit.io.common.ROLE_VALUES`). ``customer`` = ``user`` for every
record; ``role`` stays NA unless the record states it (the shared pipeline derives agents from
``店铺名:子账号`` senders).

Image-only records (empty ``text``, non-empty ``imgUrl``) become the text :data:`IMAGE_TEXT`
(``[图片]``, what Qianniu itself shows); a record with both keeps its text.

``line`` is the 1-based record number within ``chats``. A record that is not an object, lacks a
sender, has no text and no image, or has a date/time that cannot be parsed becomes a reject whose
``raw`` is the record's JSON. A file that is not valid JSON gives one reject at the line of the JSON
error; a JSON document of another shape gives one reject at line 1.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd

from csaudit.io.base import Parsed, RawFile, ReadContext, json_head, rejects_frame
from csaudit.io.common import (
    AGENT_SIDE,
    ROLE_VALUES,
    empty_parsed,
    join_date_time,
    join_date_time_one,
    map_roles,
    parse_time_one,
    parse_times,
    records_frame,
    scalar_text,
    times_from_ns,
)

log = logging.getLogger(__name__)

NAME = "qianniu-json"
IMAGE_TEXT = "[图片]"
"""Text of a message that only carries an image (``imgUrl``)."""

LOOP_MAX = 2000
"""Files with at most this many records are parsed by a loop, larger ones column-wise."""
_HEAD_CHATS = re.compile(r'"chats"\s*:\s*\[')
_HEAD_CHATS_ANY = re.compile(r'"chats"\s*:')
RECORD_FIELDS = ("sender", "date", "time", "text", "imgUrl", "role")
"""Record fields read; each must be a JSON string or number (null = absent)."""


def _json_type(v: object) -> str:
    return {dict: "object", list: "array", bool: "boolean", str: "string"}.get(type(v), type(v).__name__)


def field_problem(rec: dict) -> str:
    """Why a record's fields cannot be used ("" when they can): a field holding an array or object,
    NaN/Infinity, or a boolean date/time, is an error, never read as empty (``"time": ["10:00"]``
    would otherwise become midnight)."""
    for k in RECORD_FIELDS:
        v = rec.get(k)
        if v is None or isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
            continue
        if isinstance(v, float) and v == v and v not in (float("inf"), float("-inf")):
            continue
        if isinstance(v, bool) and k not in ("date", "time"):
            continue
        shown = "NaN" if isinstance(v, float) and v != v else repr(v) if isinstance(v, float) else f"a JSON {_json_type(v)}"
        return f"field {k!r} must be a string, found {shown}"
    return ""
_HEAD_FIELDS = ('"sender"', '"user"', '"date"', '"imgUrl"', '"exportTime"')


def sniff(raw: RawFile, text: str | None) -> float:
    """A JSON object with a ``"chats": [`` array and the record fields near the start → 0.95."""
    head = json_head(text)
    if head is None:
        return 0.0
    if not _HEAD_CHATS.search(head):
        # "chats" of another type: ours to reject with the reason (not "not a recognised chat export")
        return 0.5 if _HEAD_CHATS_ANY.search(head) and any(f in head for f in _HEAD_FIELDS) else 0.0
    hits = sum(f in head for f in _HEAD_FIELDS)
    return 0.95 if hits >= 2 else 0.6 if hits else 0.3


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"


def _documents(data: object) -> list[dict] | None:
    """The per-customer objects in a parsed file, or None when the shape is not ours."""
    if isinstance(data, dict) and isinstance(data.get("chats"), list):
        return [data]
    if isinstance(data, list) and data and all(isinstance(d, dict) and isinstance(d.get("chats"), list)
                                               for d in data):
        return data
    return None


def parse(raw: RawFile, ctx: ReadContext) -> Parsed:
    """Parse one per-customer JSON file (see module docstring)."""
    from csaudit.io.detect import decode

    text, enc = decode(raw.data, raw.source, forced=ctx.encoding)
    text = text.lstrip("\ufeff")
    if not text.strip():
        return Parsed(empty_parsed(), rejects_frame([], [], []), enc)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Parsed(empty_parsed(), rejects_frame([exc.lineno], [text[:2000]], [_json_error(exc)]), enc)
    docs = _documents(data)
    if docs is None:
        chats = data.get("chats", ...) if isinstance(data, dict) else ...
        if chats is not ...:
            found = "null" if chats is None else f"a JSON {_json_type(chats)}"
            return Parsed(empty_parsed(), rejects_frame([1], [text[:2000]], [f'"chats" must be a list of chat '
                                                                             f'records, found {found}']), enc)
        what = _json_type(data) if not isinstance(data, dict) else "object without a \"chats\" list"
        return Parsed(empty_parsed(), rejects_frame([1], [text[:2000]],
                                           [f'expected {{"user": ..., "chats": [...]}}, found a JSON {what}']), enc)
    records: list[object] = []
    users: list[str] = []
    for doc in docs:
        user = scalar_text(doc.get("user")).strip()
        records.extend(doc["chats"])
        users.extend([user] * len(doc["chats"]))
    return Parsed(*_parse_records(records, users, ctx.tz), enc)


def _parse_records(records: list[object], users: list[str], tz: str,
                   loop_max: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records → (messages, rejects): a plain loop for files of at most ``loop_max`` records
    (default :data:`LOOP_MAX`), column operations above."""
    if len(records) > (LOOP_MAX if loop_max is None else loop_max):
        return _parse_records_columns(records, users, tz)
    return _parse_records_loop(records, users, tz)


def _parse_records_loop(records: list[object], users: list[str], tz: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pass in Python: the records are Python dicts already and per-customer files are small,
    so this beats column operations, whose fixed cost (≈ 50 pandas calls) is paid per file."""
    cols: dict[str, list] = {k: [] for k in ("line", "sender", "text", "role", "customer", "agent")}
    ns_list: list[int | None] = []
    absolute: list[bool] = []
    rej_l: list[int] = []
    rej_r: list[str] = []
    rej_w: list[str] = []
    unknown_roles: set[str] = set()
    for line, (rec, user) in enumerate(zip(records, users, strict=True), start=1):
        why = ""
        if not isinstance(rec, dict):
            why = "a chat record must be a JSON object"
        elif problem := field_problem(rec):
            why = problem
        else:
            sender = scalar_text(rec.get("sender")).strip()
            text = scalar_text(rec.get("text"))
            if not text.strip():
                text = IMAGE_TEXT if scalar_text(rec.get("imgUrl")).strip() else ""
            ts_str = join_date_time_one(scalar_text(rec.get("date")), scalar_text(rec.get("time")))
            ns, ab = parse_time_one(ts_str)
            if not sender:
                why = "no sender"
            elif not text:
                why = "no text and no image"
            elif not ts_str:
                why = "no date/time"
            elif ns is None:
                why = f"date/time {ts_str!r} is not a date/time"
        if why:
            rej_l.append(line)
            rej_r.append(json.dumps(rec, ensure_ascii=False))
            rej_w.append(why)
            continue
        stated = scalar_text(rec.get("role")).strip()
        role = ROLE_VALUES.get(stated.lower()) if stated else None
        if stated and role is None:
            unknown_roles.add(stated)
        cols["line"].append(line)
        cols["sender"].append(sender)
        cols["text"].append(text)
        cols["role"].append(role)
        cols["customer"].append(user or None)
        cols["agent"].append(sender if role in AGENT_SIDE else None)
        ns_list.append(ns)
        absolute.append(ab)
    if unknown_roles:
        log.warning("unknown role value(s) in qianniu-json records: %s", ", ".join(sorted(unknown_roles)[:5]))
    rejects = rejects_frame(rej_l, rej_r, rej_w) if rej_l else _no_rejects()
    if not cols["line"]:
        return empty_parsed(), rejects
    n = len(cols["line"])
    na = pd.array([None] * n, dtype="str")
    messages = pd.DataFrame({  # arrays, not Series: no index alignment (this runs once per small file)
        "line": np.asarray(cols["line"], dtype="int64"),
        "sender": pd.array(cols["sender"], dtype="str"),
        "ts": times_from_ns(ns_list, absolute, tz).array,
        "text": pd.array(cols["text"], dtype="str"),
        "role": pd.array(cols["role"], dtype="str"),
        "shop": na,
        "customer": pd.array(cols["customer"], dtype="str"),
        "agent": pd.array(cols["agent"], dtype="str"),
        "conversation": na,
    })
    return messages, rejects


def _no_rejects() -> pd.DataFrame:
    """An empty rejects table (a copy of one built once)."""
    return _NO_REJECTS.copy()


_NO_REJECTS = rejects_frame([], [], [])


def _parse_records_columns(records: list[object], users: list[str], tz: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Column-wise twin of :func:`_parse_records_loop` for large files (same output)."""
    n = len(records)
    lines = list(range(1, n + 1))
    f, is_obj = records_frame(records, ("sender", "date", "time", "text", "imgUrl", "role"))
    f["sender"] = f["sender"].str.strip()
    f["img"] = f["imgUrl"].str.strip()
    f["line"] = pd.Series(lines, dtype="int64")
    f["customer"] = pd.Series(users, dtype="str")
    ts_str = join_date_time(f["date"], f["time"])
    ts, bad_ts = parse_times(ts_str, tz)
    text = f["text"].where(f["text"].str.strip() != "", "")
    image_only = (text == "") & (f["img"] != "")
    text = text.mask(image_only, IMAGE_TEXT)
    reason = np.full(n, "", dtype=object)
    no_ts = (ts_str == "").to_numpy(dtype=bool)
    reason[no_ts] = "no date/time"
    bad_idx = np.flatnonzero(bad_ts)
    reason[bad_idx] = [f"date/time {ts_str.iloc[i]!r} is not a date/time" for i in bad_idx]
    reason[(text == "").to_numpy(dtype=bool)] = "no text and no image"
    reason[(f["sender"] == "").to_numpy(dtype=bool)] = "no sender"
    reason[~is_obj] = "a chat record must be a JSON object"
    for i in np.flatnonzero(is_obj):
        if problem := field_problem(records[i]):
            reason[i] = problem
    bad = reason != ""
    role = map_roles(f["role"])
    stated = f["role"].str.strip() != ""
    if (stated & role.isna()).any():
        log.warning("unknown role value(s) in qianniu-json records, e.g. %r", f["role"][stated & role.isna()].iloc[0])
    messages = pd.DataFrame({
        "line": f["line"],
        "sender": f["sender"],
        "ts": ts,
        "text": text,
        "role": role,
        "shop": pd.Series(pd.NA, index=f.index, dtype="str"),
        "customer": f["customer"].where(f["customer"] != ""),
        "agent": f["sender"].where(role.isin(AGENT_SIDE)),
        "conversation": pd.Series(pd.NA, index=f.index, dtype="str"),
    }).loc[~bad].reset_index(drop=True)
    bi = np.flatnonzero(bad)
    rejects = rejects_frame(
        [lines[i] for i in bi],
        [json.dumps(records[i], ensure_ascii=False) for i in bi],
        [str(reason[i]) for i in bi],
    )
    return messages, rejects
