"""Qianniu/Wangwang client text export (``qianniu-text``, DESIGN §4.1).

::

    当前用户来自 手机淘宝 商品详情页          ← system line (belongs to what follows)
    jojo_2020 2026-11-09 14:03:07            ← header: SENDER date time
    这件毛衣起球吗                            ← content (one or more lines)
    我平时穿M码
    小鹿服饰：晴晴                             ← bare sender line ...
    2026-11-09 14:04:02                      ← ... with the timestamp on its own line
    需要帮您备注尺码吗？
    jojo_2020 撤回了一条消息                  ← system line
    jojo_20202026/11/9 14:05:10              ← no space before the date, YYYY/M/D, H:MM:SS

Every line is classified at once (no per-line Python loop): the decoded text is split into an Arrow
string array, one compiled RE2 pattern (``pyarrow.compute.extract_regex``) finds headers, a second
one system lines; the header index is forward-filled with ``cumsum``; each message's content lines
(blank lines at its start and end dropped, inner blank lines kept) are joined with ``\\n`` by one
``binary_join`` over a list array. A header whose date or time does not exist (month 13, 25:00)
is rejected together with its content lines; non-blank lines before the first header that are not
system lines are rejected too. Timestamps are naive shop-local times.

The helpers ``split_lines``, ``system_mask``, ``civil_to_ns`` and ``build_parsed`` are shared with
:mod:`csaudit.io.qianniu_web`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csaudit.io.base import PARSED_COLUMNS, Parsed, RawFile, ReadContext
from csaudit.io.detect import decode, is_plain_utf8

log = logging.getLogger(__name__)

NAME = "qianniu-text"

_WS = "[ \t\u3000]"
_DATE = r"(?P<y>\d{4})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})"
_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})"
HEADER_RE = rf"^(?:(?P<sender>\S.*?){_WS}*)?{_DATE}{_WS}+{_TIME}{_WS}*$"
"""A header line ``SENDER date time`` (sender empty: a bare timestamp line). RE2 syntax."""
_HEADER_PY = re.compile(HEADER_RE)
SNIFF_CHARS, SNIFF_LINES = 8192, 120
"""How much of a file the sniffer looks at."""
MAX_SENDER_CHARS = 64
"""A bare sender line (before a timestamp on its own line) is at most this many characters."""
SYSTEM_SENDER = "system"
"""``sender`` of system rows, which have none in the export."""


# -- shared line helpers ---------------------------------------------------------------------------


@dataclass
class Lines:
    """The lines of one decoded file, zero-copy over its UTF-8 bytes.

    ``arr[i]`` is line ``i`` *including* its ``\\n``; ``start[i]``/``end[i]`` are the byte offsets of
    its first byte and of its ``\\n`` in ``buf``.
    """

    arr: pa.StringArray
    buf: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.arr)

    def stripped(self, idx: np.ndarray | None = None) -> pa.Array:
        """Lines ``idx`` (default all) without their ``\\n``."""
        sub = self.arr if idx is None else self.arr.take(pa.array(np.asarray(idx, dtype=np.int64)))
        return pc.utf8_rtrim(sub, characters="\n")


def utf8_bytes(raw: RawFile, ctx: ReadContext) -> tuple[bytes, str]:
    """The file as UTF-8 bytes with ``\\n`` line ends (no BOM), and the detected encoding."""
    if ctx.encoding is None and is_plain_utf8(raw.data):  # what decode() would give, without a str
        return raw.data, "utf-8"
    text, encoding = decode(raw.data, raw.source, ctx.encoding)
    if encoding in ("utf-8", "utf-8-sig") and not text.endswith("\ufffd") and b"\x00" not in raw.data:
        # valid UTF-8 (and no NUL lines blanked by decode): use the bytes
        data = raw.data[3:] if encoding == "utf-8-sig" else raw.data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    else:
        data = text.encode("utf-8", errors="replace")
    return data, encoding


def split_lines(data: bytes | str) -> Lines:
    """Split UTF-8 ``data`` (``\\n`` line ends) into :class:`Lines` without copying each line."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if data and not data.endswith(b"\n"):
        data = data + b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    n = len(nl)
    starts = np.empty(n, dtype=np.int64)
    if n:
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
    big = len(data) >= 2**31 - 1
    offsets = np.empty(n + 1, dtype=np.int64 if big else np.int32)
    offsets[0] = 0
    offsets[1:] = nl + 1
    typ = pa.large_string() if big else pa.string()
    arr = pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    if big:  # pragma: no cover - files over 2 GB
        arr = arr.cast(pa.string())
    return Lines(arr=arr, buf=buf, start=starts, end=nl.astype(np.int64))


_SPACE_LEAD = np.array([0x09, 0x0B, 0x0C, 0x20, 0xC2, 0xE1, 0xE2, 0xE3], dtype=np.uint8)
"""First bytes of lines that may be whitespace only (ASCII, NBSP, U+2000.., U+3000)."""


def blank_mask(lines: Lines) -> np.ndarray:
    """True for lines that are empty or whitespace only."""
    length = lines.end - lines.start
    blank = length == 0
    first = lines.buf[np.minimum(lines.start, max(len(lines.buf) - 1, 0))] if len(lines.buf) else np.zeros(0, np.uint8)
    maybe = (length > 0) & np.isin(first, _SPACE_LEAD)
    idx = np.flatnonzero(maybe)
    if len(idx):
        blank[idx] = pc.match_substring_regex(lines.stripped(idx), r"^\s*$").to_numpy(zero_copy_only=False)
    return blank


@lru_cache(maxsize=16)
def _system_regex(patterns: tuple[str, ...]) -> tuple[str, bool]:
    """One combined pattern and whether RE2 (Arrow) accepts it."""
    combined = "|".join(f"(?:{p})" for p in patterns)
    try:
        pc.match_substring_regex(pa.array(["x"]), combined)
        return combined, True
    except pa.ArrowInvalid:
        return combined, False


def system_mask(lines: Lines, patterns: list[str], candidates: np.ndarray) -> np.ndarray:
    """True for ``candidates`` lines that match any system pattern (searched anywhere in the line).

    Patterns that RE2 does not support (look-arounds, back-references) are run with Python ``re``
    once per distinct line.
    """
    n = len(lines)
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(candidates)
    if not patterns or len(idx) == 0:
        return out
    combined, re2 = _system_regex(tuple(patterns))
    sub = lines.stripped(idx)
    if re2:  # once per distinct line (content lines repeat: ≈ 1/4 of the regex work)
        enc = pc.dictionary_encode(sub)
        hit = pc.match_substring_regex(enc.dictionary, combined).to_numpy(zero_copy_only=False)[enc.indices.to_numpy()]
    else:
        rx = re.compile(combined)
        codes, uniq = pd.factorize(to_str_series(sub))
        hit = np.array([rx.search(u) is not None for u in uniq], dtype=bool)[codes]
    out[idx] = hit
    return out


_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)


def civil_to_ns(y, mo, d, h, mi, s) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised calendar → ``datetime64[ns]`` (naive). Returns ``(values, valid)``.

    Inputs are int64 arrays; impossible dates/times (Feb 30, 24:00:00, year < 1970 or > 2200) are
    ``NaT`` with ``valid`` False.
    """
    y, mo, d, h, mi, s = (np.asarray(a, dtype=np.int64) for a in (y, mo, d, h, mi, s))
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    moc = np.clip(mo, 1, 12)
    dim = mdays[moc] + ((moc == 2) & leap)
    valid = (
        (y >= 1970) & (y <= 2200) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim)
        & (h >= 0) & (h < 24) & (mi >= 0) & (mi < 60) & (s >= 0) & (s < 60)
    )
    yy = y - 1
    days = (y - 1970) * 365 + (yy // 4 - yy // 100 + yy // 400) - (1969 // 4 - 1969 // 100 + 1969 // 400)
    days = days + _DAYS_BEFORE_MONTH[moc] + ((moc > 2) & leap) + d - 1
    ns = ((days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000_000).astype("int64")
    ns = np.where(valid, ns, np.iinfo(np.int64).min)
    return ns.view("datetime64[ns]"), valid


def ints(arr: pa.Array) -> np.ndarray:
    """Digit strings (``""`` → 0) to an int64 numpy array."""
    arr = pc.if_else(pc.equal(arr, ""), "0", arr)
    return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)


def join_blocks(lines: Lines, owner: np.ndarray, content: np.ndarray, blank: np.ndarray, block_start: np.ndarray) -> pa.Array:
    """Text of each block: its ``content`` lines joined with ``\\n``, blank lines at both ends dropped.

    ``owner[i]`` is the block of content line ``i``; ``block_start[b]`` is a line index at or before
    block ``b``'s first content line and after the previous block's last one (e.g. its header).
    Returns one string per block (``""`` when it has no content).
    """
    n_blocks = len(block_start)
    nonblank = content & ~blank
    safe_owner = np.where(content, owner, 0)
    total = np.bincount(safe_owner[nonblank], minlength=n_blocks)
    cum = np.cumsum(nonblank)  # non-blank content lines up to and including line i
    base = cum[block_start] - nonblank[block_start] if n_blocks else np.zeros(0, np.int64)
    before = cum - base[safe_owner] if n_blocks else cum
    after = total[safe_owner] - before if n_blocks else cum
    keep = content & (~blank | ((before > 0) & (after > 0)))
    counts = np.bincount(owner[keep], minlength=n_blocks) if keep.any() else np.zeros(n_blocks, dtype=np.int64)
    offsets = np.zeros(n_blocks + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    values = lines.arr.filter(pa.array(keep))
    listarr = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pc.utf8_rtrim(pc.binary_join(listarr, ""), characters="\n")


def to_str_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """Arrow strings → a pandas ``str`` Series."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return pd.Series(arr.to_pandas(), dtype="str")


ArrowParsed = Parsed
"""The Arrow flavour of the one reader output type (kept as a name for older imports)."""


def build_parsed(
    lines: Lines,
    msg_lines: np.ndarray,
    senders: pa.Array,
    ts: np.ndarray,
    texts: pa.Array,
    sys_lines: np.ndarray,
    rej_lines: np.ndarray,
    rej_reasons: list[str] | np.ndarray,
    encoding: str,
) -> Parsed:
    """Assemble the output from message rows, system-line rows and rejected lines (0-based)."""
    n_m, n_s = len(msg_lines), len(sys_lines)
    sys_text = pc.utf8_trim_whitespace(lines.stripped(sys_lines)) if n_s else pa.array([], pa.string())
    line_no = np.concatenate([msg_lines, sys_lines]).astype(np.int64) + 1
    sender = pa.concat_arrays([senders.cast(pa.string()), pa.array([SYSTEM_SENDER] * n_s, pa.string())])
    text = pa.concat_arrays([texts.cast(pa.string()), sys_text.cast(pa.string())])
    ts_all = np.concatenate([ts.astype("datetime64[ns]"), np.full(n_s, np.datetime64("NaT", "ns"))])
    role = pa.concat_arrays([pa.nulls(n_m, pa.string()), pa.array(["system"] * n_s, pa.string())])
    nat = np.isnat(ts_all)
    cols = {
        "line": pa.array(line_no, type=pa.int64()),
        "sender": sender,
        "ts": pa.array(ts_all.view(np.int64), type=pa.int64(), mask=nat).cast(pa.timestamp("ns")),
        "text": text,
        "role": role,
    }
    table = pa.table(cols)
    if n_s:
        table = table.take(pa.array(np.argsort(line_no, kind="stable")))
    nulls = pa.nulls(len(table), pa.string())
    for col in PARSED_COLUMNS:
        if col not in cols:
            table = table.append_column(col, nulls)
    rej_lines = np.asarray(rej_lines, dtype=np.int64)
    rejects = pa.table(
        {
            "line": pa.array(rej_lines + 1, type=pa.int64()),
            "raw": lines.stripped(rej_lines).cast(pa.string()) if len(rej_lines) else pa.array([], pa.string()),
            "reason": pa.array(list(rej_reasons), type=pa.string()),
        }
    )
    return Parsed(messages=table, rejects=rejects, encoding=encoding)


def empty_parsed(encoding: str | None) -> Parsed:
    """An output with no rows."""
    lines = split_lines(b"")
    e = np.zeros(0, dtype=np.int64)
    return build_parsed(lines, e, pa.array([], pa.string()), e.view("datetime64[ns]"), pa.array([], pa.string()),
                        e, e, [], encoding or "utf-8")


# -- reader interface ------------------------------------------------------------------------------


def sniff(raw: RawFile, text: str | None) -> float:
    """Share of the first non-blank lines that are ``SENDER date time`` headers, mapped to 0..1."""
    if text is None:
        return 0.0
    lines = [ln for ln in text[:SNIFF_CHARS].split("\n")[:SNIFF_LINES] if ln.strip()]
    if not lines:
        return 0.0
    heads = 0
    for i, ln in enumerate(lines):
        m = _HEADER_PY.match(ln)
        if m and (m.group("sender") or (i > 0 and not _HEADER_PY.match(lines[i - 1]))):
            heads += 1
    if heads == 0:
        return 0.0
    return min(1.0, 0.5 + 2.0 * heads / len(lines))


def parse(raw: RawFile, ctx: ReadContext) -> Parsed:
    """Parse one client-text export (see module docstring)."""
    return parse_arrow(raw, ctx).to_pandas()


def parse_arrow(raw: RawFile, ctx: ReadContext) -> Parsed:
    """:func:`parse` with Arrow tables (used by ``read_chats`` to skip per-file pandas overhead)."""
    data, encoding = utf8_bytes(raw, ctx)
    return parse_bytes(data, ctx, encoding)


_DIGIT_POS = (19, 18, 17, 16, 14, 13, 11, 10, 8, 7, 5, 4, 2, 1)  # bytes before "\n" that are digits


def _canonical_headers(lines: Lines) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fast path for ``...YYYY-MM-DD HH:MM:SS`` / ``YYYY/MM/DD`` line ends (fixed byte positions).

    Returns ``(idx, comps, loose)``: canonical line indices, their (6, k) int64 date/time
    components, and a mask of other lines that may still be headers (checked by the regex).
    """
    buf, e, st = lines.buf, lines.end, lines.start
    length = e - st
    n = len(e)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((6, 0), np.int64), np.zeros(0, bool), np.zeros(0, bool)
    safe = np.where(length >= 6, e, 6) if len(buf) >= 6 else np.full(n, 6)
    colons = (length >= 6) & (buf[safe - 3] == 58) & (buf[safe - 6] == 58) if len(buf) >= 6 else np.zeros(n, bool)
    last = buf[np.maximum(e - 1, 0)]
    trailing_ws = (length > 0) & ((last == 32) | (last == 9) | (last == 0x80))
    cand = np.flatnonzero(colons & (length >= 19))
    ec = e[cand]
    ok = np.ones(len(cand), dtype=bool)
    for k in _DIGIT_POS:
        ok &= (buf[ec - k] - np.uint8(48)) < 10  # uint8 wrap-around: one compare per digit
    sep1, sep2 = buf[ec - 15], buf[ec - 12]
    ok &= ((sep1 == 45) & (sep2 == 45)) | ((sep1 == 47) & (sep2 == 47))
    ok &= buf[ec - 9] == 32
    ok &= (length[cand] == 19) | ((buf[st[cand]] != 32) & (buf[st[cand]] != 9))
    idx = cand[ok]
    eo = ec[ok]

    def num(*ks: int) -> np.ndarray:
        v = np.zeros(len(eo), dtype=np.int64)
        for k in ks:
            v = v * 10 + (buf[eo - k].astype(np.int64) - 48)
        return v

    comps = np.stack([num(19, 18, 17, 16), num(14, 13), num(11, 10), num(8, 7), num(5, 4), num(2, 1)])
    fast = np.zeros(n, dtype=bool)
    fast[idx] = True
    loose = (colons & ~fast) | trailing_ws
    return idx, comps, loose, fast


def find_headers(lines: Lines) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Header lines: ``(idx, comps, senders)`` sorted by line; ``senders`` is ``""`` for a bare timestamp."""
    idx, comps, loose, _ = _canonical_headers(lines)
    senders = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(lines.arr.take(pa.array(idx, type=pa.int64())), 0, -20)) if len(idx) else pa.array([], pa.string())
    bare_fast = (lines.end[idx] - lines.start[idx]) == 19
    if bare_fast.any():
        senders = pc.if_else(pa.array(bare_fast), "", senders)
    lidx = np.flatnonzero(loose)
    if len(lidx):
        ex = pc.extract_regex(pc.utf8_rtrim_whitespace(lines.stripped(lidx)), HEADER_RE)
        okm = ex.is_valid().to_numpy(zero_copy_only=False)
        if okm.any():
            exm = ex.filter(pa.array(okm))
            # (required groups: never empty in a match, so a plain cast, not ints())
            comps2 = np.stack([pc.cast(exm.field(k), pa.int64()).to_numpy(zero_copy_only=False)
                               for k in ("y", "mo", "d", "h", "mi", "s")])
            s2 = pc.utf8_trim_whitespace(exm.field("sender"))
            idx = np.concatenate([idx, lidx[okm]])
            comps = np.concatenate([comps, comps2], axis=1)
            senders = pa.concat_arrays([senders.cast(pa.string()), s2.cast(pa.string())])
            order = np.argsort(idx, kind="stable")
            idx, comps = idx[order], comps[:, order]
            senders = senders.take(pa.array(order))
    return idx, comps, senders


def sender_candidates(cand: pa.Array, one_line_senders: pa.Array, separators: list[str],
                      not_first_content: np.ndarray) -> np.ndarray:
    """Which lines standing before a bare timestamp line are sender lines of a two-line header: an
    agent account (``店铺名:子账号``), a sender that also heads a one-line header of the file, or a
    line that is not the first content line of a message (a message has content: the line right
    under a header is that content, so ``jojo 2026-11-09 10:00:00 / 我的订单 / 2026-11-08 09:00:00``
    is one message whose text holds the typed date)."""
    seps = "|".join(re.escape(x) for x in separators if x) or ":"
    account = pc.fill_null(pc.match_substring_regex(cand, rf"^[^\s].*?(?:{seps})\S"), False)
    ok = account.to_numpy(zero_copy_only=False) | not_first_content
    if not ok.all() and len(one_line_senders):
        ok |= pc.fill_null(pc.is_in(cand, value_set=pc.unique(one_line_senders)), False).to_numpy(zero_copy_only=False)
    return ok


def parse_bytes(data: bytes, ctx: ReadContext, encoding: str = "utf-8") -> Parsed:
    """Parse client text given as UTF-8 bytes with ``\\n`` line ends."""
    roles = ctx.config.roles
    lines = split_lines(data)
    n = len(lines)
    if n == 0:
        return empty_parsed(encoding)
    h_idx, comps, h_send = find_headers(lines)
    matched = np.zeros(n, dtype=bool)
    matched[h_idx] = True
    has_sender = pc.not_equal(h_send, "").to_numpy(zero_copy_only=False) if len(h_idx) else np.zeros(0, bool)
    is_h1 = np.zeros(n, dtype=bool)
    is_h1[h_idx[has_sender]] = True
    is_bare = matched & ~is_h1
    blank = blank_mask(lines)

    # system lines: non-blank lines that are not headers
    is_sys = system_mask(lines, roles.system_patterns, candidates=~matched & ~blank)

    # timestamp on its own line: the line before it is the sender line (non-blank, not a header, not a
    # system line, at most MAX_SENDER_CHARS long) when it is a sender candidate (sender_candidates);
    # otherwise both are content
    two = np.zeros(n, dtype=bool)  # marks the sender line of a two-line header
    bare_idx = np.flatnonzero(is_bare)
    bare_idx = bare_idx[bare_idx > 0]
    if len(bare_idx):
        prev = bare_idx - 1
        prev = prev[~blank[prev] & ~matched[prev] & ~is_sys[prev]]
        if len(prev):
            cand = pc.utf8_trim_whitespace(lines.stripped(prev))
            short = pc.less_equal(pc.utf8_length(cand), MAX_SENDER_CHARS).to_numpy(zero_copy_only=False)
            # the nearest non-blank line above: a header there makes this line its first content line
            last_nb = np.maximum.accumulate(np.where(~blank, np.arange(n), -1))
            above = np.where(prev > 0, last_nb[np.maximum(prev - 1, 0)], -1)
            first_content = (above >= 0) & matched[np.maximum(above, 0)]
            ok = short & sender_candidates(cand, h_send.filter(pa.array(has_sender)) if len(h_idx) else h_send,
                                           roles.agent_separators, ~first_content)
            two[prev[ok]] = True
    consumed = np.zeros(n, dtype=bool)
    consumed[np.flatnonzero(two) + 1] = True
    start = is_h1 | two
    hs = np.flatnonzero(start)
    m_count = len(hs)
    owner = np.cumsum(start) - 1  # message of each line, -1 before the first header

    # header fields: position of each message's timestamp among the matched header lines
    ts_line = np.where(two[hs], hs + 1, hs)
    pos = np.searchsorted(h_idx, ts_line)
    ts, valid = civil_to_ns(*comps[:, pos]) if m_count else (np.zeros(0, "datetime64[ns]"), np.zeros(0, bool))
    if m_count:
        s1 = h_send.take(pa.array(pos))
        two_m = two[hs]
        if two_m.any():
            s2 = pc.utf8_trim_whitespace(lines.stripped(hs))
            senders = pc.if_else(pa.array(two_m), s2, s1)
        else:
            senders = s1
    else:
        senders = pa.array([], pa.string())

    bad_of_msg = ~valid
    if bad_of_msg.any():
        line_bad = (owner >= 0) & bad_of_msg[np.maximum(owner, 0)] & ~is_sys & ~blank
    else:
        line_bad = np.zeros(n, dtype=bool)
    content = (owner >= 0) & ~start & ~consumed & ~is_sys & ~line_bad
    texts = join_blocks(lines, np.maximum(owner, 0), content, blank, hs)

    # rejects: orphan lines before the first header, and impossible headers with their content
    orphan = (owner < 0) & ~blank & ~is_sys
    rej = np.flatnonzero(orphan | line_bad)
    reasons = np.empty(len(rej), dtype=object)
    if len(rej):
        is_orphan = orphan[rej]
        reasons[is_orphan] = "text before the first message header (expected 'SENDER YYYY-MM-DD HH:MM:SS')"
        hdr = line_bad[rej] & (start[rej] | consumed[rej])
        reasons[hdr] = "message header with an impossible date or time"
        cont = ~is_orphan & ~hdr
        if cont.any():
            reasons[cont] = [f"content of the rejected header at line {h}" for h in hs[owner[rej[cont]]] + 1]
    if m_count and not valid.all():
        keep = pa.array(valid)
        hs, senders, ts, texts = hs[valid], senders.filter(keep), ts[valid], texts.filter(keep)
    return build_parsed(lines, hs, senders, ts, texts, np.flatnonzero(is_sys), rej, reasons, encoding)
