"""Qianniu web chat history (``qianniu-web``, DESIGN §4.2).

::

    2026年11月9日                 ← date line (also 2026-11-09, 2026/11/9)
    14:03:07                      ← time line: starts a message block
    这件毛衣起球吗                 ← content line(s)
    我平时穿M码
    jojo_2020                     ← sender line: the last non-blank line before the next time/date line
    14:03:30
    亲，不起球的哦～M码正合适
    小鹿服饰:晴晴

A block runs from a time line to the next time line, date line or end of file; its last
non-blank, non-system line is the sender and the lines between are the (multi-line) content.
Lines matching a system pattern are ``system`` rows wherever they stand. Rejected: non-blank lines
before the first date line (unless system lines), a time line before any date, and a block with no
sender line. Vectorised like :mod:`csaudit.io.qianniu_text` (one pass of Arrow kernels, no per-line
Python loop).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csaudit.io.base import Parsed, RawFile, ReadContext
from csaudit.io.qianniu_text import (
    SNIFF_CHARS,
    SNIFF_LINES,
    blank_mask,
    build_parsed,
    civil_to_ns,
    empty_parsed,
    ints,
    join_blocks,
    split_lines,
    system_mask,
    utf8_bytes,
)

NAME = "qianniu-web"

_WS = "[ \t\u3000]*"
DATE_RE = rf"^{_WS}(?P<y>\d{{4}})(?:[-/](?P<mo>\d{{1,2}})[-/](?P<d>\d{{1,2}})|年(?P<mo2>\d{{1,2}})月(?P<d2>\d{{1,2}})日){_WS}$"
TIME_RE = rf"^{_WS}(?P<h>\d{{1,2}}):(?P<mi>\d{{2}}):(?P<s>\d{{2}}){_WS}$"
_DATE_PY = re.compile(DATE_RE)
_TIME_PY = re.compile(TIME_RE)


def sniff(raw: RawFile, text: str | None) -> float:
    """High when the file has date lines and bare ``HH:MM:SS`` lines; 0 otherwise."""
    if text is None:
        return 0.0
    lines = [ln for ln in text[:SNIFF_CHARS].split("\n")[:SNIFF_LINES] if ln.strip()]
    if not lines:
        return 0.0
    dates = sum(1 for ln in lines if _DATE_PY.match(ln))
    times = sum(1 for ln in lines if _TIME_PY.match(ln))
    if dates == 0 or times == 0:
        return 0.0
    return min(1.0, 0.5 + 3.0 * times / len(lines))


def parse(raw: RawFile, ctx: ReadContext) -> Parsed:
    """Parse one web-history export (see module docstring)."""
    return parse_arrow(raw, ctx).to_pandas()


def parse_arrow(raw: RawFile, ctx: ReadContext) -> Parsed:
    """:func:`parse` with Arrow tables (used by ``read_chats`` to skip per-file pandas overhead)."""
    data, encoding = utf8_bytes(raw, ctx)
    return parse_bytes(data, ctx, encoding)


def parse_bytes(data: bytes, ctx: ReadContext, encoding: str = "utf-8") -> Parsed:
    """Parse web history given as UTF-8 bytes with ``\\n`` line ends."""
    lines = split_lines(data)
    n = len(lines)
    if n == 0:
        return empty_parsed(encoding)
    blank = blank_mask(lines)
    # only short lines can be date or time lines
    length = lines.end - lines.start
    short = np.flatnonzero((length > 0) & (length <= 24) & ~blank)
    is_date = np.zeros(n, dtype=bool)
    is_time = np.zeros(n, dtype=bool)
    d_y = d_mo = d_d = np.zeros(0, np.int64)
    t_h = t_mi = t_s = np.zeros(0, np.int64)
    if len(short):
        sub = lines.stripped(short)
        dx = pc.extract_regex(sub, DATE_RE)
        dm = dx.is_valid().to_numpy(zero_copy_only=False)
        is_date[short[dm]] = True
        if dm.any():
            dd = dx.filter(pa.array(dm))
            mo = pc.if_else(pc.equal(dd.field("mo"), ""), dd.field("mo2"), dd.field("mo"))
            dday = pc.if_else(pc.equal(dd.field("d"), ""), dd.field("d2"), dd.field("d"))
            d_y, d_mo, d_d = ints(dd.field("y")), ints(mo), ints(dday)
        rest = ~dm
        tx = pc.extract_regex(sub.filter(pa.array(rest)), TIME_RE)
        tm = tx.is_valid().to_numpy(zero_copy_only=False)
        t_idx = short[rest][tm]
        is_time[t_idx] = True
        if tm.any():
            tt = tx.filter(pa.array(tm))
            t_h, t_mi, t_s = ints(tt.field("h")), ints(tt.field("mi")), ints(tt.field("s"))

    is_sys = system_mask(lines, ctx.config.roles.system_patterns, candidates=~blank & ~is_date & ~is_time)

    # current date of every line (forward fill of the last date line)
    date_no = np.cumsum(is_date) - 1  # -1 before the first date line
    # blocks: each time line after some date line starts one
    starts = np.flatnonzero(is_time)
    time_rank = np.cumsum(is_time) - 1
    dated = date_no[starts] >= 0
    block_of_start = np.full(len(starts), -1, dtype=np.int64)
    block_of_start[dated] = np.arange(int(dated.sum()))
    bstarts = starts[dated]
    nb = len(bstarts)

    # owner block of each line: the last time line before it, reset by a date line
    boundary = is_time | is_date
    last_boundary = np.maximum.accumulate(np.where(boundary, np.arange(n), -1))
    owner_line = last_boundary  # the boundary line that rules this line
    in_block = (owner_line >= 0) & is_time[np.maximum(owner_line, 0)] & ~boundary
    owner = np.full(n, -1, dtype=np.int64)
    if in_block.any():
        owner[in_block] = block_of_start[time_rank[owner_line[in_block]]]
    in_block &= owner >= 0

    # sender line: the last non-blank, non-system line of each block
    cand = in_block & ~blank & ~is_sys
    ci = np.flatnonzero(cand)
    sender_line = np.full(nb, -1, dtype=np.int64)
    if len(ci):
        oc = owner[ci]
        last = np.ones(len(ci), dtype=bool)
        last[:-1] = oc[1:] != oc[:-1]
        sender_line[oc[last]] = ci[last]
    has_sender = sender_line >= 0
    is_sender = np.zeros(n, dtype=bool)
    is_sender[sender_line[has_sender]] = True
    content = in_block & ~is_sys & ~is_sender

    # timestamps
    if nb:
        d_of_block = date_no[bstarts]
        ts, valid = civil_to_ns(d_y[d_of_block], d_mo[d_of_block], d_d[d_of_block],
                                t_h[time_rank[bstarts]], t_mi[time_rank[bstarts]], t_s[time_rank[bstarts]])
    else:
        ts, valid = np.zeros(0, "datetime64[ns]"), np.zeros(0, bool)
    ok = valid & has_sender
    texts = join_blocks(lines, np.maximum(owner, 0), content & ok[np.maximum(owner, 0)] if nb else content, blank,
                        bstarts)
    senders = pc.utf8_trim_whitespace(lines.stripped(np.where(has_sender, sender_line, bstarts)))

    # rejects: every non-blank line that is neither a date line, a system line nor part of a good block
    ok_line = np.zeros(n, dtype=bool)
    if nb:
        good_start = np.zeros(n, dtype=bool)
        good_start[bstarts[ok]] = True
        ok_line = good_start | (in_block & ok[np.maximum(owner, 0)])
    rej_mask = ~blank & ~is_sys & ~is_date & ~ok_line
    rej = np.flatnonzero(rej_mask)
    reasons = np.empty(len(rej), dtype=object)
    reasons[:] = "line outside a message block (expected a time line HH:MM:SS first)"
    reasons[(date_no[rej] < 0)] = "text before the first date line (expected YYYY-MM-DD or YYYY年M月D日)"
    if nb and not ok.all():
        blk = owner[rej].copy()
        t_rej = is_time[rej]
        blk[t_rej] = block_of_start[time_rank[rej[t_rej]]]
        inb = blk >= 0
        sel = np.flatnonzero(inb)
        bad = ~ok[blk[sel]]
        nos = ~has_sender[blk[sel]]
        reasons[sel[bad & nos]] = "message without a sender line (expected content then SENDER)"
        reasons[sel[bad & ~nos]] = "message with an impossible date or time"
    keep = pa.array(ok)
    return build_parsed(
        lines,
        bstarts[ok],
        senders.filter(keep),
        ts[ok],
        texts.filter(keep),
        np.flatnonzero(is_sys),
        rej,
        reasons,
        encoding,
    )
