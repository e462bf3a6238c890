"""What every reader shares: header names, grids of cells, timestamps, JSON records, roles.

Nothing here is one export format; the readers (:mod:`csaudit.io.table`, :mod:`csaudit.io.orders`,
:mod:`csaudit.io.qianniu_json`, :mod:`csaudit.io.wecom`, …) import from this module and never from
each other, so the io package has no import cycle.

* **headers** — :data:`CHAT_HEADERS` and :data:`ORDER_HEADERS` (recognised header names, compared
  by :func:`norm_header`), :func:`match_headers` (an explicit ``columns=`` mapping by name or
  0-based position wins, then recognition);
* **grids** — :func:`read_grid`: a CSV/TSV text (any encoding) or XLSX workbook → :class:`Grid`
  of string cells with the line (or sheet row) of each row, the header row found below title lines,
  or none (:func:`looks_like_data`), rows that cannot be split kept as ``bad``;
* **timestamps** — :func:`parse_times` (vectorised) and :func:`parse_time_one` (scalar) with
  :data:`EPOCH_MAX_S`, :func:`join_date_time`;
* **records** — :func:`records_frame`, :func:`object_columns`, :func:`text_column`, :func:`scalar_text`
  for JSON exports;
* **roles** — :data:`ROLE_VALUES`, :func:`map_roles`; :func:`empty_parsed` (a reader's empty output).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from csaudit.arrays import arrow_series
from csaudit.io.base import InputError, RawFile
from csaudit.io.detect import decode

log = logging.getLogger(__name__)

CHAT_HEADERS: dict[str, tuple[str, ...]] = {
    "ts": ("时间", "发送时间", "消息时间", "聊天时间", "日期时间", "time", "timestamp", "datetime",
           "sendtime", "msgtime", "createdat", "createtime"),
    "date": ("日期", "发送日期", "消息日期", "date"),
    "sender": ("发送人", "发送账号", "发送者", "发言人", "发送人账号", "发送人昵称", "sender", "from",
               "fromuser", "speaker", "nick"),
    "text": ("内容", "消息内容", "发送内容", "聊天内容", "消息", "文本", "text", "content", "message",
             "msg", "body"),
    "customer": ("客户", "买家", "顾客", "访客", "客户昵称", "买家昵称", "买家账号", "买家旺旺",
                 "customer", "buyer", "visitor", "buyernick", "customerid", "userid"),
    "agent": ("客服", "客服账号", "客服昵称", "接待客服", "子账号", "agent", "servicer", "staff",
              "agentid"),
    "role": ("角色", "发送方", "是否客服发送", "发送者角色", "发送人角色", "消息方向", "role",
             "sendertype", "fromtype", "waitersend", "isagent", "fromagent"),
    "conversation": ("会话", "会话编号", "会话id", "会话号", "conversation", "conversationid",
                     "session", "sessionid", "chatid"),
    "shop": ("店铺", "店铺名", "店铺名称", "shop", "store", "shopname"),
}
"""Recognised chat headers (normalised form, see :func:`norm_header`), best first per column."""

ROLE_VALUES: dict[str, str] = {
    **dict.fromkeys(("1", "true", "是", "y", "yes", "客服", "agent", "admin", "seller", "卖家", "商家",
                     "servicer", "staff", "service", "kf", "out", "outgoing", "发出", "人工"), "agent"),
    **dict.fromkeys(("0", "false", "否", "n", "no", "顾客", "买家", "客户", "访客", "customer", "visitor",
                     "buyer", "user", "client", "in", "incoming", "接收"), "customer"),
    **dict.fromkeys(("bot", "robot", "机器人", "智能客服", "店小蜜"), "bot"),
    **dict.fromkeys(("auto_reply", "autoreply", "auto", "自动回复"), "auto_reply"),
    **dict.fromkeys(("system", "sys", "系统", "系统消息", "event"), "system"),
}
"""Role cell values (lower-cased, stripped) → role. For ``0/1`` columns 1 means the agent sent it."""

AGENT_SIDE = ("agent", "auto_reply", "bot")
OUR_CHAT_COLUMNS = tuple(CHAT_HEADERS)
_DELIMITERS = (",", "\t", ";", "|")
_EXACT_ONLY = frozenset({"消息", "文本"})
"""Aliases too generic for the contains-match (``消息类型`` is not the message text)."""
HEADER_SEARCH_ROWS = 10
"""A header row is looked for among this many leading non-blank rows (title lines may precede it)."""
SMALL_CSV_CHARS = 65_536
"""Texts up to this many characters are split by the csv module, larger ones by Arrow/pandas."""
_ARROW_BLOCK = 1 << 24
"""Arrow CSV block size (bytes): a cell must fit in one block, else pandas' parser is used."""


# --------------------------------------------------------------------------------------------------
# headers


def norm_header(name: object) -> str:
    """Header comparison form: NFKC, lower-case, without spaces, ``_``, ``-``, ``.``, BOM and quotes."""
    s = unicodedata.normalize("NFKC", str(name)).lower()
    return re.sub(r"[\s_\-.\ufeff\"'`:：()（）\[\]【】]", "", s)


def _has_cjk(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def match_headers(
    header: list[str],
    aliases: dict[str, tuple[str, ...]],
    columns: dict[str, str] | None,
    source: str,
    fuzzy: bool = True,
) -> dict[str, int]:
    """Map our column names → positions in ``header``.

    ``columns`` (ours → theirs) wins; *theirs* is a header name or a 0-based column position (an
    ``int``, or a string of digits that is not a header of the file). An unknown key, a header that
    is not in the file or a position past the last column raises :class:`InputError` naming the
    file and the available headers. The other columns are
    recognised from ``aliases``: exact (normalised) matches first, then — with ``fuzzy`` — headers
    that contain a Chinese alias (e.g. ``消息发送时间`` ⊃ ``发送时间``). Each header is used once.
    """
    normed = [norm_header(h) for h in header]
    found: dict[str, int] = {}
    used: set[int] = set()
    available = ", ".join(repr(h) for h in header if str(h).strip()) or "(none)"
    for ours, theirs in (columns or {}).items():
        if ours not in aliases:
            raise InputError(source, None, f"columns= names unknown column {ours!r}; "
                                           f"known: {', '.join(aliases)}")
        pos = [] if isinstance(theirs, int) else [i for i, h in enumerate(header) if str(h).strip() == str(theirs).strip()]
        if not pos and not isinstance(theirs, int):
            pos = [i for i, h in enumerate(normed) if h == norm_header(theirs)]
        if not pos and (isinstance(theirs, int) or str(theirs).strip().isdigit()):
            k = int(theirs)
            if not 0 <= k < len(header):
                raise InputError(source, None, f"column position {k} (mapped to {ours!r}) is past the last "
                                               f"column; the file has {len(header)} columns (0..{len(header) - 1})")
            pos = [k]
        if not pos:
            raise InputError(source, None, f"column {theirs!r} (mapped to {ours!r}) is not in the file; "
                                           f"available headers: {available}")
        found[ours] = pos[0]
        used.add(pos[0])
    for ours, names in aliases.items():
        if ours in found:
            continue
        for alias in names:
            pos = [i for i, h in enumerate(normed) if h == alias and i not in used]
            if pos:
                found[ours] = pos[0]
                used.add(pos[0])
                break
    if fuzzy:
        for ours, names in aliases.items():
            if ours in found:
                continue
            for alias in names:
                if len(alias) < 2 or not _has_cjk(alias) or alias in _EXACT_ONLY:
                    continue
                pos = [i for i, h in enumerate(normed) if alias in h and i not in used]
                if pos:
                    found[ours] = pos[0]
                    used.add(pos[0])
                    break
    return found


# --------------------------------------------------------------------------------------------------
# reading a grid of cells (CSV/TSV/XLSX) with line numbers


@dataclass
class Grid:
    """A file's cells as strings: ``header`` names, ``cells`` (positional int columns, str, ``""`` =
    empty), ``lines`` (start line / sheet row of each row), plus ``bad`` rows that could not be split
    (``line``, ``raw``, ``reason``) and the decoded ``encoding`` (None for XLSX)."""

    header: list[str]
    cells: pd.DataFrame
    lines: np.ndarray
    text: str | None
    """The decoded text (CSV/TSV; line ``k`` is ``text.split("\\n")[k - 1]``), None for XLSX."""
    encoding: str | None
    is_xlsx: bool
    header_line: int = 1
    bad: list[tuple[int, str, str]] = field(default_factory=list)
    preamble: list[tuple[int, str]] = field(default_factory=list)
    headerless: bool = False
    """No header row: the first row is data; ``header`` is the positions ``"0", "1", …``."""

    @cached_property
    def raw_lines(self) -> list[str] | None:
        """The text's physical lines (split on first use: only rejects need them)."""
        return None if self.text is None else self.text.split("\n")

    def raw(self, i: int) -> str:
        """The raw text of row ``i`` (CSV: its physical lines; XLSX: cells joined by tabs)."""
        return grid_raw_row(self, self.cells.iloc[i].tolist(), int(self.lines[i]))


def is_xlsx(data: bytes) -> bool:
    """True when ``data`` is an Office Open XML workbook (a zip holding ``xl/workbook.xml``)."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def sniff_delimiter(first_line: str, source: str = "") -> str | None:
    """The delimiter of a header line: the most frequent of ``, \\t ; |`` (TSV files prefer tab)."""
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    if source.lower().endswith((".tsv", ".tab")) and counts["\t"]:
        return "\t"
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else None


def _first_line(text: str) -> tuple[int, str]:
    """(0-based index, content) of the first non-blank line."""
    for i, ln in enumerate(text[:65536].split("\n", 50)):
        if ln.strip():
            return i, ln
    return 0, ""


def _record_lines(cells: pd.DataFrame, text: str) -> np.ndarray:
    """Start line of each row when every physical record is a row (no blank lines were skipped):
    row ``i`` starts after the rows before it and the newlines inside their quoted cells."""
    n = len(cells)
    base = 1 + np.arange(n, dtype="int64")
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    if total == n:  # no cell holds a newline
        return base
    extra = np.zeros(n, dtype="int64")
    for c in cells.columns:
        counts = cells[c].str.count("\n").to_numpy(dtype="int64", na_value=0)
        if counts.any():
            extra += counts
    return base + np.concatenate(([0], np.cumsum(extra)[:-1]))


def _csv_cells_fast(text: str, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Arrow's multi-threaded CSV parser, or pandas' C parser when the text has blank lines (Arrow
    skips them, which would shift line numbers). Raises on ragged rows (the caller falls back to
    :func:`_csv_cells_slow`)."""
    if text.count('"') % 2:
        raise ValueError("unbalanced quotes")  # Arrow would silently swallow the rest of the file
    data = text.encode("utf-8")
    if "\n\n" in text or text.startswith("\n"):
        return _csv_cells_pandas(data, text, sep)
    try:
        return _csv_cells_arrow(data, text, sep)
    except ValueError as exc:  # pyarrow.ArrowInvalid: ragged rows, whitespace-only lines, huge cells
        log.debug("arrow CSV parse failed (%s); trying pandas", exc)
        return _csv_cells_pandas(data, text, sep)


def _csv_cells_pandas(data: bytes, text: str, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(
        io.BytesIO(data), encoding="utf-8", sep=sep, header=None, dtype=str,
        keep_default_na=False, skip_blank_lines=False, index_col=False, engine="c", na_filter=False,
    )
    df.columns = range(df.shape[1])
    return df.fillna(""), _record_lines(df, text)


def _csv_cells_arrow(data: bytes, text: str, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    head = pacsv.read_csv(
        io.BytesIO(data[: data.find(b"\n") + 1 or len(data)]),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
    )
    names = head.column_names
    tbl = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=_ARROW_BLOCK),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    df = pd.DataFrame({i: pd.Series(tbl.column(i).to_pandas(), dtype="str") for i in range(tbl.num_columns)})
    return df, _record_lines(df, text)


MAX_RESYNC = 1000
"""At most this many unbalanced quotes per file are skipped by re-reading from the next line; after
that, a broken row takes the rest of its record with it (bounded work on hostile input)."""


def _csv_cells_slow(text: str, sep: str) -> tuple[pd.DataFrame, np.ndarray, list[tuple[int, str, str]], np.ndarray]:
    """Python csv module: tolerates ragged rows (padded to the widest) and reports broken quoting.

    An unbalanced quote costs only its own line: when a record that spans several lines fails to
    split, or has another number of cells than the first row, its first line is rejected and the
    file is read again from the next line (at most :data:`MAX_RESYNC` times). "Another number of
    cells" means other than the widest one-line row read so far (the header, past any title line)."""
    lines_of = text.split("\n")
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # one cell may be the whole file
    rows: list[list[str]] = []
    starts: list[int] = []
    bad: list[tuple[int, str, str]] = []
    width: int | None = None
    base, restarts = 0, 0  # base: 0-based line where the current reader starts
    while True:
        rest = text if base == 0 else "\n".join(lines_of[base:])
        reader = csv.reader(io.StringIO(rest), delimiter=sep, strict=True)
        prev, resync = 0, None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start = base + prev + 1
                if reader.line_num - prev > 1 and restarts < MAX_RESYNC:
                    bad.append((start, lines_of[start - 1], f"cannot split this row into cells: {exc} "
                                                           "(an unbalanced quote?)"))
                    resync = start
                    break
                raw = "\n".join(lines_of[start - 1 : base + reader.line_num]).strip("\n")
                bad.append((start, raw, f"cannot split this row into cells: {exc}"))
                prev = reader.line_num
                continue
            start = base + prev + 1
            if reader.line_num - prev == 1 and row:  # the widest one-line row so far (the header, usually)
                width = max(width or 0, len(row))
            if (reader.line_num - prev > 1 and width is not None and len(row) != width
                    and '"' in lines_of[start - 1] and restarts < MAX_RESYNC):
                bad.append((start, lines_of[start - 1], f"cannot split this row into cells: a quote opened here "
                                                       f"runs over {reader.line_num - prev} lines into "
                                                       f"{len(row)} cells (rows above have {width})"))
                resync = start
                break
            starts.append(start)
            prev = reader.line_num
            rows.append(row)
        if resync is None:
            break
        base, restarts = resync, restarts + 1
    widths = np.fromiter((len(r) for r in rows), dtype="int64", count=len(rows))
    width = int(widths.max()) if len(rows) else 0
    rows = [r + [""] * (width - len(r)) for r in rows]
    df = pd.DataFrame(rows, columns=range(width), dtype="str") if rows else pd.DataFrame(
        {i: pd.Series([], dtype="str") for i in range(width)})
    return df, np.asarray(starts, dtype="int64"), bad, widths


def _blank_mask(cells: pd.DataFrame) -> np.ndarray:
    """Rows whose cells are all empty or whitespace (checked fully only where the first cell is)."""
    n = len(cells)
    if cells.shape[1] == 0:
        return np.ones(n, dtype=bool)
    first = cells[cells.columns[0]]
    cand = np.flatnonzero((first.str.strip() == "").to_numpy(dtype=bool, na_value=True))
    mask = np.zeros(n, dtype=bool)
    if len(cand):
        sub = cells.iloc[cand]
        blank = np.ones(len(cand), dtype=bool)
        for c in sub.columns:
            blank &= (sub[c].fillna("").str.strip() == "").to_numpy(dtype=bool)
        mask[cand] = blank
    return mask


def _read_xlsx(data: bytes, source: str) -> pd.DataFrame:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if "xl/workbook.xml" not in zf.namelist():
                raise InputError(source, None, "a zip that is not an XLSX workbook")
        sheets = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        if len(sheets.sheet_names) > 1:
            log.info("%s: reading the first of %d sheets (%s)", source, len(sheets.sheet_names),
                     sheets.sheet_names[0])
        df = pd.read_excel(sheets, sheet_name=0, header=None, dtype=str, keep_default_na=False, na_filter=False)
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many types on corrupt workbooks
        raise InputError(source, None, f"an XLSX workbook (openpyxl could not read it: {exc})") from exc
    df.columns = range(df.shape[1])
    return df.fillna("").astype("str")


def read_grid(raw: RawFile, encoding: str | None = None, aliases: dict[str, tuple[str, ...]] | None = None,
              columns: dict[str, str | int] | None = None) -> Grid:
    """Read ``raw`` (CSV/TSV text in any encoding, or XLSX) into a :class:`Grid`.

    The header is the first non-blank row, or — when ``aliases`` are given — the first of the
    leading :data:`HEADER_SEARCH_ROWS` rows that has at least two recognised headers (rows above it
    go to ``Grid.preamble``). When none has two and the first row holds no recognised header at
    all, the file has no header row if ``columns`` maps by position only or the first row looks
    like the rows below it (:func:`looks_like_data`): every row is then data and ``Grid.header`` is
    the positions. Blank rows are dropped.
    """
    if raw.data.startswith(b"\xd0\xcf\x11\xe0"):
        if "EncryptedPackage".encode("utf-16-le") in raw.data[:1 << 20] or b"EncryptedPackage" in raw.data[:1 << 20]:
            raise InputError(raw.source, None, "an XLSX workbook without a password; this one is encrypted "
                                               "(save it again without a password, or as .csv)")
        raise InputError(raw.source, None, "an XLSX or CSV file; old binary .xls is not supported "
                                           "(save it as .xlsx or .csv)")
    if raw.data.startswith(b"PK\x03\x04") and not is_xlsx(raw.data):
        raise InputError(raw.source, None, "an XLSX workbook or a text table; found a zip that is not a "
                                           "readable workbook (damaged or truncated?)")
    if is_xlsx(raw.data):
        cells = _read_xlsx(raw.data, raw.source)
        lines = 1 + np.arange(len(cells), dtype="int64")
        widths = None
        text, enc, bad = None, None, []
    else:
        text, enc = decode(raw.data, raw.source, forced=encoding)
        if text.startswith("\ufeff"):
            text = text[1:]
        if "\x00" in text:
            raise InputError(raw.source, None, "a text table (CSV/TSV); found binary data")
        offset = 0
        m = re.match(r"sep=(.)\n", text)  # Excel's delimiter hint line
        if m:
            sep, text, offset = m.group(1), text[m.end():], 1
        else:
            _, first = _first_line(text)
            sep = sniff_delimiter(first, raw.source) or ","
        if not text or text.isspace():
            cells, lines, bad, widths = pd.DataFrame(), np.zeros(0, dtype="int64"), [], None
        else:
            try:
                if len(text) <= SMALL_CSV_CHARS:  # the csv module has no set-up cost
                    raise ValueError("small file")
                cells, lines = _csv_cells_fast(text, sep)
                bad, widths = [], None
            except (pd.errors.ParserError, ValueError, ArithmeticError) as exc:  # ArrowInvalid is a ValueError
                log.debug("%s: fast CSV parse failed (%s); using the csv module", raw.source, exc)
                cells, lines, bad, widths = _csv_cells_slow(text, sep)
        lines = lines + offset
        bad = [(ln + offset, r, why) for ln, r, why in bad]
        if offset:
            text = "\n" * offset + text
    keep = ~_blank_mask(cells)
    cells = cells.loc[keep].reset_index(drop=True)
    lines = lines[keep]
    widths = np.full(len(cells), cells.shape[1], dtype="int64") if widths is None else widths[keep]
    if len(cells) == 0:
        return Grid([], cells, lines, text, enc, is_xlsx=text is None, bad=bad)
    h = 0
    if aliases:
        known = {a for names_ in aliases.values() for a in names_}
        for i in range(min(HEADER_SEARCH_ROWS, len(cells))):
            names = [norm_header(v) for v in cells.iloc[i].tolist()]
            if sum(n in known for n in names) >= 2:
                h = i
                break
        else:
            first = [norm_header(v) for v in cells.iloc[0].tolist()]
            by_position = bool(columns) and all(_is_position(v) for v in columns.values())
            named = [norm_header(v) for v in (columns or {}).values() if not _is_position(v)]
            names_a_header = bool(named) and all(n in first for n in named)  # columns= names this row
            if (not any(n in known for n in first) and not names_a_header
                    and (by_position or looks_like_data(cells))):
                width = cells.shape[1]
                return Grid(header=[str(i) for i in range(width)], cells=cells, lines=lines, text=text,
                            encoding=enc, is_xlsx=text is None, header_line=0, bad=bad, headerless=True)
    header = [str(v).strip() for v in cells.iloc[h].tolist()][: int(widths[h])]
    grid = Grid(
        header=header,
        cells=cells.iloc[h + 1 :].reset_index(drop=True),
        lines=lines[h + 1 :],
        text=text,
        encoding=enc,
        is_xlsx=text is None,
        header_line=int(lines[h]),
        bad=bad,
    )
    grid.preamble = [(int(lines[i]), grid_raw_row(grid, cells.iloc[i].tolist(), int(lines[i])))
                     for i in range(h)]
    width = len(grid.header)
    if grid.cells.shape[1] > width:  # ragged rows (slow path): cells beyond the header are an error
        extra = ~_blank_mask(grid.cells.iloc[:, width:])
        for i in np.flatnonzero(extra):
            n = int(width + (grid.cells.iloc[i, width:].str.strip() != "").to_numpy().nonzero()[0].max() + 1)
            grid.bad.append((int(grid.lines[i]), grid.raw(i), f"{n} cells, the header has {width}"))
        grid.cells = grid.cells.loc[~extra, list(range(width))].reset_index(drop=True)
        grid.lines = grid.lines[~extra]
    return grid


def _is_position(v: object) -> bool:
    return isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())


_CELL_KINDS = (
    ("empty", re.compile(r"^\s*(?:|nan|null|none|-)\s*$", re.IGNORECASE)),
    ("int", re.compile(r"^\s*[+-]?\d+\s*$")),
    ("num", re.compile(r"^\s*[+-]?\d*\.\d+\s*$")),
    ("time", re.compile(r"^\s*\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}|^\s*\d{1,2}:\d{2}")),
    ("id", re.compile(r"^[\x21-\x7e]+$")),
)
LOOKS_LIKE_DATA_ROWS = 50
"""How many rows below the first one :func:`looks_like_data` compares it with."""


def _cell_kind(v: str) -> str:
    for name, rx in _CELL_KINDS:
        if rx.match(v):
            return name
    return "text"


def looks_like_data(cells: pd.DataFrame) -> bool:
    """Whether the first row of ``cells`` is data rather than a header: in at least 60 % of the
    columns (and in every numeric one) its cell is of the kind most common among the next
    :data:`LOOKS_LIKE_DATA_ROWS` rows (empty, integer, decimal, date/time, ASCII id, other text).
    A header is names: it differs from numeric columns and from Chinese text columns."""
    if len(cells) < 2 or cells.shape[1] < 2:
        return False
    below = cells.iloc[1 : 1 + LOOKS_LIKE_DATA_ROWS]
    first = cells.iloc[0].tolist()
    same = 0
    for j, col in enumerate(cells.columns):
        kinds = pd.Series([_cell_kind(str(v)) for v in below[col].tolist()])
        common = kinds.value_counts().index[0]
        k = _cell_kind(str(first[j]))
        if k == common:
            same += 1
        elif common in ("int", "num", "time") and kinds.eq(common).mean() >= 0.9:
            return False  # a numeric column whose first cell is not: that cell is a name
    return same >= 0.6 * cells.shape[1]


def grid_raw_row(grid: Grid, values: list[str], start: int) -> str:
    """Raw text of a row given its cells and start line (see :meth:`Grid.raw`)."""
    if grid.raw_lines is None:
        return "\t".join(str(v) for v in values).rstrip("\t")
    extra = sum(str(v).count("\n") for v in values)
    return "\n".join(grid.raw_lines[start - 1 : start + extra])


# --------------------------------------------------------------------------------------------------
# timestamps

_AMPM = r"上午|下午|早上|晚上|中午|[AaPp]\.?[Mm]\.?"
_DT_RE = re.compile(
    r"^\s*(?P<year>\d{4})\s*[-/.年]\s*(?P<month>\d{1,2})\s*[-/.月]\s*(?P<day>\d{1,2})\s*日?"
    rf"(?:\s*[T\s]?\s*(?P<ap1>{_AMPM})?\s*(?P<hour>\d{{1,2}})\s*[:：时]\s*(?P<minute>\d{{1,2}})"
    r"(?:\s*[:：分]\s*(?P<second>\d{1,2})(?:[.,](?P<frac>\d{1,9}))?\s*秒?)?)?"
    rf"\s*(?P<ap2>{_AMPM})?\s*(?P<tz>Z|[+-]\d{{2}}:?\d{{2}})?\s*$"
)
"""Date, optional time of day (24 h, or 12 h with 上午/下午/AM/PM), optional UTC offset."""
EPOCH_MAX_S = 4_102_444_800
"""Epoch values at or after 2100-01-01 (seconds) are not timestamps (and would overflow ns)."""
_EPOCH_S = re.compile(r"^\s*\d{9,10}(?:\.\d+)?\s*$")
_EPOCH_MS = re.compile(r"^\s*\d{12,13}\s*$")
_TIME_ONLY = re.compile(rf"^\s*(?:{_AMPM})?\s*\d{{1,2}}[:：]\d{{2}}(?:[:：]\d{{2}}(?:[.,]\d{{1,9}})?)?\s*(?:{_AMPM})?\s*$")
_MIDNIGHT = re.compile(r"\s+0{1,2}:00(?::00(?:\.0+)?)?$")
"""The time part of a date cell (XLSX gives ``2026-11-09 00:00:00``), dropped before joining a time."""


def as_arrow(s: pd.Series):
    """The Arrow array behind a ``str`` Series (converted when it is not Arrow-backed)."""
    import pyarrow as pa

    arr = getattr(s.array, "_pa_array", None)
    return arr if arr is not None else pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def regex_match(s: pd.Series, pattern: str) -> np.ndarray:
    """Boolean array: ``pattern`` (RE2 syntax, Unicode) matches somewhere in each value (NA → False).

    Arrow's regex engine, because pandas falls back to a Python loop for non-ASCII patterns."""
    import pyarrow.compute as pc

    if len(s) == 0:
        return np.zeros(0, dtype=bool)
    res = pc.match_substring_regex(as_arrow(s), pattern)
    return np.asarray(pc.fill_null(res, False).to_numpy(zero_copy_only=False), dtype=bool)


def regex_extract(s: pd.Series, pattern: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Named groups of ``pattern`` per value (``""`` for a group that did not take part) and the
    boolean array of values that matched at all."""
    import pyarrow.compute as pc

    res = pc.extract_regex(as_arrow(s), pattern)
    if hasattr(res, "combine_chunks"):
        res = res.combine_chunks()
    ok = np.asarray(pc.fill_null(pc.is_valid(res), False).to_numpy(zero_copy_only=False), dtype=bool)
    cols = {f.name: arrow_series(res.field(i), s.index, "str").fillna("")
            for i, f in enumerate(res.type)}
    return pd.DataFrame(cols, index=s.index), ok


def _ints(s: pd.Series, default: str = "0") -> pd.Series:
    return s.where(s != "", default).astype("int64")


def _parse_distinct(u: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse distinct non-empty strings that are not ``YYYY-MM-DD HH:MM:SS`` → (ns datetimes, naive
    local or UTC; is_absolute)."""
    ts = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
    absolute = pd.Series(False, index=u.index)
    m, ok = regex_extract(u, _DT_RE.pattern)
    if ok.any():
        mm = m[ok]
        parts = pd.DataFrame({k: _ints(mm[k]) for k in ("year", "month", "day", "hour", "minute", "second")})
        ap = (mm["ap1"] + mm["ap2"]).str.lower()
        pm = ap.isin(["下午", "晚上", "pm", "p.m.", "p.m", "pm."]) | ap.str.startswith("p")
        am = ap.isin(["上午", "早上", "am", "a.m.", "a.m", "am."]) | ap.str.startswith("a")
        parts["hour"] = parts["hour"].where(~(pm & (parts["hour"] < 12)), parts["hour"] + 12)
        parts["hour"] = parts["hour"].where(~(am & (parts["hour"] == 12)), 0)
        frac = _ints(mm["frac"].str.ljust(9, "0"))
        parsed = pd.to_datetime(parts, errors="coerce").dt.as_unit("ns") + pd.to_timedelta(frac, unit="ns")
        out_of_range = (parts["hour"] > 23) | (parts["minute"] > 59) | (parts["second"] > 59)
        parsed = parsed.mask(out_of_range)
        t = mm["tz"].str.replace(":", "", regex=False)
        has_tz = t != ""
        if has_tz.any():
            t = t[has_tz]
            sign = np.where(t.str.startswith("-"), -1, 1)
            mins = np.where(t == "Z", 0, sign * (_ints(t.str[1:3]) * 60 + _ints(t.str[3:5])))
            parsed.loc[has_tz] = parsed[has_tz] - pd.to_timedelta(mins, unit="min")
            absolute.loc[t.index] = True
        ts.loc[parsed.index] = parsed
    rest = ~ok
    if rest.any():
        v = u[rest]
        sec = regex_match(v, _EPOCH_S.pattern)
        ms = regex_match(v, _EPOCH_MS.pattern)
        secs = pd.to_numeric(v.where(sec | ms, "0"), errors="coerce").to_numpy(dtype="float64", na_value=0.0)
        secs = np.where(ms, secs / 1000.0, secs)
        in_range = (sec | ms) & (secs < EPOCH_MAX_S) & (secs > 0)
        sec, ms = sec & in_range, ms & in_range
        if sec.any():
            ts.loc[v.index[sec]] = pd.to_datetime(v[sec].astype("float64"), unit="s").dt.as_unit("ns").to_numpy()
            absolute.loc[v.index[sec]] = True
        if ms.any():
            ts.loc[v.index[ms]] = pd.to_datetime(v[ms].astype("int64"), unit="ms").dt.as_unit("ns").to_numpy()
            absolute.loc[v.index[ms]] = True
    return ts, absolute


def _strptime_fast(s: pd.Series) -> pd.Series:
    """``YYYY-MM-DD HH:MM:SS`` → naive ns datetimes (NaT elsewhere), with Arrow's C++ strptime."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = getattr(s.array, "_pa_array", None)
        if arr is None:
            arr = pa.array(s.to_numpy(dtype=object), type=pa.string())
        out = pc.strptime(arr, format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=True)
        # Arrow rolls impossible days over (02-30 → 03-02): keep only rows whose month is as written;
        # the others (and single-digit months) go through the exact regular-expression path
        if len(arr):
            mm = pc.utf8_slice_codeunits(arr, 5, 7)
            mm = pc.if_else(pc.fill_null(pc.match_substring_regex(mm, "^[0-9]{2}$"), False), mm, "0")
            same = pc.equal(pc.month(out), pc.cast(mm, pa.int64()))
            out = pc.if_else(pc.fill_null(same, False), out, pa.scalar(None, out.type))
        return arrow_series(out, s.index, "datetime64[ns]")
    except (ImportError, TypeError, ValueError, NotImplementedError) as exc:  # pragma: no cover
        log.debug("arrow strptime unavailable (%s); all times take the regular-expression path", exc)
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")


def parse_times(values: pd.Series, tz: str = "Asia/Shanghai") -> tuple[pd.Series, np.ndarray]:
    """Parse timestamp strings → ``(ts, bad)``.

    ``ts`` is naive local time (``datetime64[ns]``), or tz-aware in ``tz`` when any value is absolute
    (epoch seconds/milliseconds, ISO 8601 with ``Z``/offset; naive values are then localised to
    ``tz``). Empty values give NaT and are not bad; ``bad`` marks non-empty values that are not a
    valid date/time. ``YYYY-MM-DD HH:MM:SS`` is parsed in one vectorised pass; every other distinct
    string once, by regular expression.
    """
    s = values.astype("str").fillna("")
    ts = _strptime_fast(s)
    todo = (ts.isna() & (s != "")).to_numpy(dtype=bool)
    bad = np.zeros(len(s), dtype=bool)
    if not todo.any():
        return ts, bad
    rest = s[todo].str.strip()
    codes, uniques = pd.factorize(rest)
    u = pd.Series(uniques, dtype="str")
    parsed = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
    absolute = pd.Series(False, index=u.index)
    nonempty = u != ""
    if nonempty.any():
        p, a = _parse_distinct(u[nonempty].reset_index(drop=True))
        parsed.loc[nonempty] = p.to_numpy()
        absolute.loc[nonempty] = a.to_numpy()
    bad[todo] = (nonempty & parsed.isna()).to_numpy()[codes]
    if not absolute.any():
        ts.iloc[np.flatnonzero(todo)] = parsed.to_numpy()[codes]
        return ts, bad
    # some values are absolute instants: everything becomes tz-aware in tz
    local = ts.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    naive_part = parsed.where(~absolute).dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    abs_part = parsed.where(absolute).dt.tz_localize("UTC").dt.tz_convert(tz)
    fill = naive_part.where(~absolute, abs_part)
    local.iloc[np.flatnonzero(todo)] = fill.array.take(codes)
    return local, bad


_DT_RE_ASCII = re.compile(_DT_RE.pattern, re.ASCII)
_EPOCH_S_ASCII = re.compile(_EPOCH_S.pattern, re.ASCII)
_EPOCH_MS_ASCII = re.compile(_EPOCH_MS.pattern, re.ASCII)
_TIME_ONLY_ASCII = re.compile(_TIME_ONLY.pattern, re.ASCII)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_time_one(s: str) -> tuple[int | None, bool]:
    """One timestamp string → ``(ns, absolute)``, the scalar twin of :func:`parse_times` for small
    inputs: ``ns`` counts nanoseconds since 1970-01-01 in local wall time (``absolute`` False) or
    UTC (``absolute`` True: epoch values, ISO 8601 with ``Z``/offset); ``None`` when ``s`` is empty
    or not a valid date/time (same formats and checks as :func:`parse_times`)."""
    s = s.strip()
    if not s:
        return None, False
    m = _DT_RE_ASCII.match(s)
    if m:
        g = m.groupdict()
        try:
            days = date(int(g["year"]), int(g["month"]), int(g["day"])).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            return None, False
        h, mi, sec = int(g["hour"] or 0), int(g["minute"] or 0), int(g["second"] or 0)
        ap = (g["ap1"] or g["ap2"] or "").lower()
        if (ap in ("下午", "晚上") or ap.startswith("p")) and h < 12:
            h += 12
        elif (ap in ("上午", "早上") or ap.startswith("a")) and h == 12:
            h = 0
        if h > 23 or mi > 59 or sec > 59:
            return None, False
        ns = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1_000_000_000) + int((g["frac"] or "").ljust(9, "0"))
        tz = g["tz"]
        if not tz:
            return ns, False
        if tz != "Z":
            t = tz.replace(":", "")
            ns -= (-1 if t[0] == "-" else 1) * (int(t[1:3]) * 60 + int(t[3:5] or 0)) * 60_000_000_000
        return ns, True
    if _EPOCH_S_ASCII.match(s):
        v = float(s)
        if not 0 < v < EPOCH_MAX_S:
            return None, False
        return (int(v) * 1_000_000_000 if v.is_integer() else round(v * 1e6) * 1000), True
    if _EPOCH_MS_ASCII.match(s):
        if not 0 < int(s) / 1000 < EPOCH_MAX_S:
            return None, False
        return int(s) * 1_000_000, True
    return None, False


def times_from_ns(ns: list[int | None], absolute: list[bool], tz: str) -> pd.Series:
    """Build the ``ts`` column from :func:`parse_time_one` results (naive local unless any value is
    absolute; then tz-aware in ``tz``, like :func:`parse_times`)."""
    n = len(ns)
    vals = np.fromiter((v if v is not None else np.iinfo(np.int64).min for v in ns), dtype="int64", count=n)
    naive = pd.Series(vals.view("datetime64[ns]"))
    if not any(absolute):
        return naive
    ab = np.asarray(absolute, dtype=bool)
    local = naive.where(~ab).dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    utc = naive.where(ab).dt.tz_localize("UTC").dt.tz_convert(tz)
    return local.where(~ab, utc)


def join_date_time_one(d: str, t: str) -> str:
    """Scalar :func:`join_date_time`."""
    d, t = d.strip(), t.strip()
    if t and _TIME_ONLY_ASCII.match(t):
        return f"{_MIDNIGHT.sub('', d)} {t}".strip()
    return t or d


def join_date_time(date: pd.Series, time: pd.Series) -> pd.Series:
    """``date + " " + time`` where ``time`` is a bare time of day, else ``time`` (or ``date``)."""
    d = date.astype("str").fillna("").str.strip()
    t = time.astype("str").fillna("").str.strip()
    bare = regex_match(t, _TIME_ONLY.pattern)
    if regex_match(d, _MIDNIGHT.pattern).any():
        d = d.str.replace(_MIDNIGHT.pattern, "", regex=True)
    joined = (d + " " + t).str.strip()
    out = t.where(~bare, joined)
    return out.where(out != "", d)


# --------------------------------------------------------------------------------------------------
# JSON records


def scalar_text(v: object) -> str:
    if v is None or isinstance(v, dict | list) or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def text_column(values: pd.Series) -> pd.Series:
    """A column of JSON scalars → ``str`` ('' for null/missing/containers; numbers as written by
    ``str``). Plain string columns are converted without a Python loop."""
    obj = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
        return pd.Series(obj, index=values.index, dtype="str").fillna("")
    return pd.Series([scalar_text(v) for v in obj], index=values.index, dtype="str")


def object_columns(objs: list[dict], keys: tuple[str, ...]) -> pd.DataFrame:
    """``keys`` of JSON objects as ``object`` columns holding the values exactly as parsed (no dtype
    inference: an id 0 next to a null stays 0, not 0.0)."""
    return pd.DataFrame({k: pd.Series([o.get(k) for o in objs], dtype=object) for k in keys},
                        index=pd.RangeIndex(len(objs)))


def records_frame(records: list[object], keys: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """JSON records → (frame of ``keys`` as ``str`` columns, one row per record; is-object mask).

    Non-object records give a row of '' (and ``False`` in the mask); missing keys give ''.
    """
    n = len(records)
    is_obj = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=n)
    objs = records if is_obj.all() else [r if isinstance(r, dict) else {} for r in records]
    raw = object_columns(objs, keys)
    out = pd.DataFrame({k: text_column(raw[k]) for k in keys})
    return out, is_obj


# --------------------------------------------------------------------------------------------------
# roles


def map_roles(values: pd.Series) -> pd.Series:
    """Role cells → role names (:data:`ROLE_VALUES`), NA where empty or unknown (per distinct value)."""
    codes, uniques = pd.factorize(values.astype("str").fillna(""))
    mapped = pd.array([ROLE_VALUES.get(str(u).strip().lower()) for u in uniques], dtype="str")
    if len(codes) == 0:
        return pd.Series(mapped[:0], index=values.index)
    return pd.Series(mapped.take(codes, allow_fill=True), index=values.index)


ORDER_HEADERS: dict[str, tuple[str, ...]] = {
    "order_id": ("订单号", "订单编号", "订单id", "主订单编号", "订单号码", "orderid", "orderno",
                 "ordernumber", "order", "tid"),
    "shop": ("店铺", "店铺名", "店铺名称", "shop", "store", "shopname", "storename"),
    "customer": ("买家会员名", "买家", "买家昵称", "买家账号", "买家旺旺", "客户", "顾客", "会员名",
                 "customer", "buyer", "buyernick", "customerid", "user"),
    "created": ("下单时间", "创建时间", "订单创建时间", "下单日期", "订单时间", "created", "createtime",
                "createdat", "ordertime", "orderdate"),
    "paid": ("付款时间", "支付时间", "订单付款时间", "付款日期", "paid", "paytime", "paidat",
             "paymenttime", "paidtime"),
    "amount": ("实付金额", "买家实际支付金额", "买家实付金额", "实收款", "实付款", "支付金额", "订单金额",
               "金额", "总金额", "amount", "total", "payment", "paidamount", "totalamount"),
    "refund": ("退款金额", "退款", "已退款金额", "refund", "refundamount", "refunded"),
}
"""Recognised orders headers (normalised: lower-case, no spaces/underscores), best first."""


def empty_parsed() -> pd.DataFrame:
    """An empty ``Parsed.messages`` frame with the reader columns."""
    return pd.DataFrame({
        "line": pd.Series([], dtype="int64"),
        "sender": pd.Series([], dtype="str"),
        "ts": pd.Series([], dtype="datetime64[ns]"),
        "text": pd.Series([], dtype="str"),
        "role": pd.Series([], dtype="str"),
        "shop": pd.Series([], dtype="str"),
        "customer": pd.Series([], dtype="str"),
        "agent": pd.Series([], dtype="str"),
        "conversation": pd.Series([], dtype="str"),
    })
