"""Chat tables (``table``): CSV, TSV and XLSX exports, one message per row.

Columns are found by an explicit mapping (``ReadContext.columns``, *our name → their header*, e.g.
``{"ts": "发送时间", "text": "聊天内容"}``) and, for everything not mapped, by recognising common
headers (:data:`CHAT_HEADERS`, compared after NFKC, lower-casing and removing spaces, ``_`` and
``-``). Our names:

============== ==================================================================================
``ts``         timestamp (``2026-11-09 14:03:07``, ``2026/11/9 14:03``, ``2026年11月9日 14:03:07``,
               12-hour ``2026/11/9 下午 2:03``/``2:03 PM``, ISO 8601 with ``T``/offset, epoch seconds
               or milliseconds); optional — all NaT is fine
``date``       a separate date column; joined with a time-of-day ``ts`` column (``14:03:07``)
``sender``     who sent the row (as exported)
``text``       the message (required)
``customer``   the buyer of the conversation
``agent``      the serving sub-account
``role``       who sent it: ``1``/``0`` (1 = agent), ``客服``/``顾客``/``买家``, ``agent``/``visitor``/
               ``customer``/``admin``/``bot``… (:data:`ROLE_VALUES`); unknown values → NA
``conversation`` the export's own session key
``shop``       the shop
============== ==================================================================================

Without a ``sender`` column the sender is taken from ``agent``/``customer`` according to ``role``;
without a ``role`` column a row whose sender equals its ``customer``/``agent`` cell gets that role.
``agent`` is only kept on agent-side rows (agent, auto_reply, bot, or role unknown).

Line numbers: CSV rows carry the physical line where the record starts (header = line 1; quoted
cells spanning several lines are counted), XLSX rows their sheet row number. Rows without text,
without a sender, with a time that cannot be parsed, with more cells than the header, or that
cannot be split (an unterminated quote) become rejects; so do title lines above the header row
(the header is the first of the leading rows with two recognised names). Blank rows are skipped.
Only the first sheet of a workbook is read; old binary ``.xls`` is refused with a clear error.

Splitting: the csv module for small texts (≤ :data:`SMALL_CSV_CHARS`), Arrow's CSV parser for large
ones (pandas' C parser when the text has blank lines or Arrow refuses it, the csv module when rows
are ragged). The delimiter is the most frequent of ``, TAB ; |`` in the header line (or Excel's
``sep=`` hint line). A header-only file gives zero messages.

The table plumbing (headers, grids, timestamps) lives in :mod:`csaudit.io.common`, shared with
:mod:`csaudit.io.orders` and the JSON readers.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from csaudit.io.base import InputError, Parsed, RawFile, ReadContext, rejects_frame
from csaudit.io.common import (
    AGENT_SIDE,
    CHAT_HEADERS,
    HEADER_SEARCH_ROWS,
    ORDER_HEADERS,
    empty_parsed,
    is_xlsx,
    join_date_time,
    map_roles,
    match_headers,
    norm_header,
    parse_times,
    read_grid,
    sniff_delimiter,
)

log = logging.getLogger(__name__)

NAME = "table"

# --------------------------------------------------------------------------------------------------
# the reader


def _chat_columns(header: list[str]) -> dict[str, int]:
    return match_headers(header, CHAT_HEADERS, None, "", fuzzy=True)


def is_orders_table(raw: RawFile, text: str | None) -> bool:
    """True when ``raw`` looks like an orders export (an order-id header plus amount/created)."""
    header = _header_of(raw, text)
    if not header:
        return False
    found = match_headers(header, ORDER_HEADERS, None, raw.source, fuzzy=False)
    return "order_id" in found and ("amount" in found or "created" in found)


def _header_of(raw: RawFile, text: str | None) -> list[str]:
    """The header cells of a table, or [] when it is not one: among the first non-blank rows, the
    first with two or more recognised chat/orders headers, else the first row."""
    known = {a for names in (*CHAT_HEADERS.values(), *ORDER_HEADERS.values()) for a in names}
    rows: list[list[str]] = []
    if text is None:
        if not is_xlsx(raw.data):
            return []
        try:
            df = pd.read_excel(io.BytesIO(raw.data), sheet_name=0, header=None, nrows=HEADER_SEARCH_ROWS,
                               dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception:  # noqa: BLE001 - a sniffer never raises
            return []
        rows = [[str(v).strip() for v in r] for r in df.fillna("").itertuples(index=False)]
    else:
        for line in text[:65536].lstrip("\ufeff").split("\n", 200)[:200]:
            if not line.strip():
                continue
            sep = sniff_delimiter(line, raw.source)
            try:
                rows.append([c.strip() for c in next(csv.reader([line], delimiter=sep or ","))])
            except (csv.Error, StopIteration):
                rows.append([line.strip()])
            if len(rows) >= HEADER_SEARCH_ROWS:
                break
    rows = [r for r in rows if any(r)]
    for r in rows:
        if sum(norm_header(c) in known for c in r) >= 2:
            return r
    return rows[0] if rows else []


def sniff(raw: RawFile, text: str | None) -> float:
    """Confidence that ``raw`` is a chat table: recognised headers (text + ts/sender/role) → 0.95."""
    if text is not None:
        head = text.lstrip("\ufeff \n\t")
        if head[:1] in ("{", "["):
            return 0.0
    header = _header_of(raw, text)
    if len(header) < 2:
        return 0.0
    if is_orders_table(raw, text):
        return 0.05
    found = _chat_columns(header)
    if "text" in found and ({"ts", "sender", "role", "customer", "agent"} & found.keys()):
        return 0.95
    if found:
        return 0.5
    suffix = PurePosixPath(raw.source).suffix.lower()
    return 0.3 if suffix in (".csv", ".tsv", ".xlsx", ".tab") else 0.15


def parse(raw: RawFile, ctx: ReadContext) -> Parsed:
    """Parse one chat table (see module docstring)."""
    grid = read_grid(raw, ctx.encoding, aliases=CHAT_HEADERS, columns=ctx.columns)
    src = raw.source
    notes: list[str] = []
    if src.lower().endswith(".xlsx") and not grid.is_xlsx:
        notes.append("not a workbook but a text table: read as CSV/TSV")
        log.warning("%s: %s", src, notes[-1])
    rej_lines = [ln for ln, _ in grid.preamble] + [b[0] for b in grid.bad]
    rej_raw = [r for _, r in grid.preamble] + [b[1] for b in grid.bad]
    rej_why = ["line before the header row"] * len(grid.preamble) + [b[2] for b in grid.bad]
    if not grid.header:
        return Parsed(empty_parsed(), rejects_frame(rej_lines, rej_raw, rej_why), grid.encoding)
    cols = match_headers(grid.header, CHAT_HEADERS, ctx.columns, src)
    log.info("%s: table columns %s", src, ", ".join(f"{k}={grid.header[v]!r}" for k, v in cols.items()))
    if grid.headerless:
        note = (f"no header row (the first row looks like data): {len(grid.header)} columns read by position"
                + (", " + ", ".join(f"{k}={v}" for k, v in cols.items()) if cols else ""))
        log.warning("%s: %s", src, note)
        notes.append(note)
        if "text" not in cols:
            first = ", ".join(repr(v) for v in grid.cells.iloc[0].tolist()[:8]) if len(grid.cells) else ""
            raise InputError(src, None, f"a table without a header row ({len(grid.header)} columns; the first "
                                        f"row {first} looks like data): map its "
                                        "columns by header name or 0-based position, e.g. columns={'conversation': 0, "
                                        "'customer': 1, 'role': 2, 'text': 6} (CLI: --columns "
                                        "conversation=0,customer=1,role=2,text=6)")
    if "text" not in cols:
        raise InputError(src, grid.header_line, "a text/content column (内容/消息内容/text/content…); "
                                                f"headers are {', '.join(map(repr, grid.header))} — "
                                                "map one with columns={'text': ...} (CLI: --columns text=NAME_OR_POSITION)")
    if "sender" not in cols and "role" not in cols:
        raise InputError(src, grid.header_line, "a sender column (发送人/sender…) or a role column "
                                                "(角色/发送方/role…, with a customer column for the buyer); "
                                                f"headers are {', '.join(map(repr, grid.header))}")
    c = grid.cells
    n = len(c)
    na = pd.Series(pd.array([pd.NA], dtype="str").take(np.zeros(n, dtype="int64")), index=c.index)

    def col(name: str) -> pd.Series | None:
        return c[cols[name]].astype("str").str.strip() if name in cols else None

    def nonempty(s: pd.Series | None) -> pd.Series:
        return na if s is None else s.where(s != "")

    text = c[cols["text"]].astype("str")
    sender = nonempty(col("sender"))
    customer, agent = nonempty(col("customer")), nonempty(col("agent"))
    role_cells = col("role")
    if role_cells is not None:
        role = map_roles(role_cells)
        unknown = (role_cells != "") & role.isna()
        if unknown.any():
            log.warning("%s: %d row(s) with an unknown role value (e.g. %r); role left to the sender rules",
                        src, int(unknown.sum()), role_cells[unknown].iloc[0])
    else:
        role = na
    # role from the sender when the row names its customer/agent
    for other, name in ((agent, "agent"), (customer, "customer")):
        if other is not na and sender is not na:
            cond = role.isna() & (sender == other).fillna(False)
            if cond.any():
                role = role.mask(cond, name)
    # sender from role when absent
    if sender.isna().any():
        for cond, fill in ((role.isin(AGENT_SIDE), agent), (role == "customer", customer), (role == "system", "system")):
            cond = sender.isna() & cond.fillna(False)
            if cond.any():
                sender = sender.mask(cond, fill)
    # agent-side rows whose account the export does not name: kept under the shop's placeholder
    unnamed = (sender.isna() & role.isin(AGENT_SIDE)).to_numpy(dtype=bool)
    if unnamed.any():
        sender = sender.mask(pd.Series(unnamed, index=c.index),
                             placeholder_accounts(nonempty(col("shop")), sender, ctx))
    if "agent" in cols:
        agent_out = agent.where(role.isin(AGENT_SIDE) | role.isna())
    else:
        agent_out = sender.where(role.isin(AGENT_SIDE))
    if "ts" in cols or "date" in cols:
        ts_str = join_date_time(col("date") if "date" in cols else pd.Series("", index=c.index, dtype="str"),
                                col("ts") if "ts" in cols else pd.Series("", index=c.index, dtype="str")
                                ) if "date" in cols else col("ts")
        ts, bad_ts = parse_times(ts_str, ctx.tz)
    else:
        ts, bad_ts = pd.Series(pd.NaT, index=c.index, dtype="datetime64[ns]"), np.zeros(n, dtype=bool)
        ts_str = None
    no_text = (text.str.strip() == "").to_numpy(dtype=bool, na_value=True)
    no_sender = sender.isna().to_numpy(dtype=bool)
    bad = no_text | bad_ts | no_sender
    bad_rows = np.flatnonzero(bad)
    cap = ctx.config.io.max_rejects_per_file
    omitted = max(0, len(bad_rows) - cap)
    for i in bad_rows[:cap]:  # the rest is counted (sources.rejects_omitted), not built
        if no_text[i]:
            why = "no text"
        elif bad_ts[i]:
            why = f"time {ts_str.iloc[i]!r} is not a date/time"
        else:
            why = "no sender (empty sender cell and no role/customer/agent to derive it from)"
        rej_lines.append(int(grid.lines[i]))
        rej_raw.append(grid.raw(i))
        rej_why.append(why)
    messages = pd.DataFrame({
        "line": pd.Series(grid.lines, dtype="int64", index=c.index),
        "sender": sender,
        "ts": ts,
        "text": text,
        "role": role,
        "shop": nonempty(col("shop")),
        "customer": customer,
        "agent": agent_out,
        "conversation": nonempty(col("conversation")),
    })
    if bad.any():
        messages = messages.loc[~bad].reset_index(drop=True)
    rejects = rejects_frame(rej_lines, rej_raw, rej_why).sort_values("line", kind="stable").reset_index(drop=True)
    n_unnamed = int((unnamed & ~bad).sum())
    if n_unnamed:
        log.info("%s: %d agent-side row(s) name no agent account: kept under %s", src, n_unnamed,
                 ", ".join(sorted(set(sender[unnamed & ~bad].tolist()))[:3]))
    return Parsed(messages, rejects, grid.encoding, unknown_agent=n_unnamed, notes=notes, omitted_rejects=omitted)


def placeholder_accounts(shop: pd.Series, sender: pd.Series, ctx: ReadContext) -> pd.Series:
    """The placeholder account ``店铺名:<[io] unknown_agent>`` for each row (used where an agent-side
    row names no account): the row's shop, else the most common shop among the file's
    ``店铺名:子账号`` senders, else ``[io] unknown_shop``."""
    from csaudit.model.roles import split_account

    io_cfg = ctx.config.io
    counts = sender.dropna().value_counts()
    shops: dict[str, int] = {}
    for name, k in counts.items():
        acct = split_account(str(name), ctx.config.roles.agent_separators)
        if acct is not None:
            shops[acct[0]] = shops.get(acct[0], 0) + int(k)
    file_shop = max(shops, key=lambda x: shops[x]) if shops else io_cfg.unknown_shop
    return shop.fillna(file_shop).astype("str") + ":" + io_cfg.unknown_agent
