"""The common interface of every export reader.

A reader turns one file's bytes into a *parsed* table; the shared pipeline in ``csaudit.io.chats``
does everything that is the same for all formats (roles, text clean-up, timezone, ids, de-duplication,
conversations, schema check). A reader is a module satisfying :class:`Reader`::

    NAME: str                                   # format name, e.g. "qianniu-text"
    def sniff(raw: RawFile, text: str | None) -> float   # 0..1 confidence that raw is this format
    def parse(raw: RawFile, ctx: ReadContext) -> Parsed  # pandas frames
    def parse_arrow(raw, ctx) -> Parsed                  # optional: the same with Arrow tables

and is listed in :mod:`csaudit.io.registry`. Every reader returns the one output type
:class:`Parsed` (its tables pandas or Arrow; :meth:`Parsed.to_pandas`). The helpers readers share
(headers, grids, timestamps, JSON records) are in :mod:`csaudit.io.common`.

``Parsed.messages`` columns (one row per message, in file order):

=============== ===================================================================================
``line``        int, 1-based line (or record number for JSON/XLSX) of the message header in ``raw``
``sender``      str, the sender as exported
``ts``          datetime64 (naive = shop local time, or tz-aware) or NaT when the export has none
``text``        str, the whole message (multi-line kept, joined with "\\n")
``role``        optional: a role the export states (customer/agent/auto_reply/bot/system) or NA
``shop``        optional: str or NA (else derived from ``店铺名:子账号`` senders)
``customer``    optional: str or NA (else derived from the buyer senders of the file)
``agent``       optional: str or NA (else derived from agent senders)
``conversation`` optional: the export's own conversation/session key, or NA
=============== ===================================================================================

``Parsed.rejects`` columns: ``line`` (int), ``raw`` (str), ``reason`` (str). Every non-blank input
line ends up in exactly one message or one reject.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa

from csaudit.config import Config

PARSED_COLUMNS = ("line", "sender", "ts", "text", "role", "shop", "customer", "agent", "conversation")


@dataclass
class RawFile:
    """One input file: ``source`` is its display name (``dir/a.txt`` or ``chats.zip/a.txt``)."""

    source: str
    data: bytes


@dataclass
class ReadContext:
    """What the caller asked for, passed to every reader."""

    config: Config = field(default_factory=Config)
    tz: str = "Asia/Shanghai"
    encoding: str | None = None
    columns: dict[str, str] | None = None
    strict: bool = False


@dataclass
class Parsed:
    """A reader's output for one file (see module docstring for the columns): ``messages`` and
    ``rejects`` as pandas frames, or as Arrow tables from a reader's ``parse_arrow``."""

    messages: pd.DataFrame | pa.Table
    rejects: pd.DataFrame | pa.Table
    encoding: str | None = None
    unknown_agent: int = 0
    """Agent-side rows kept under the placeholder account (no agent named by the export)."""
    damaged_lines: int = 0
    """Lines decoded by the line-by-line fallback, or not decodable at all (see ``detect.decode_lines``)."""
    omitted_rejects: int = 0
    """Rejects counted but not listed in ``rejects`` (beyond ``[io] max_rejects_per_file``)."""
    notes: list[str] = field(default_factory=list)
    """What the reader guessed (e.g. a table without a header row), for ``sources.note``."""

    def to_pandas(self) -> Parsed:
        """The same output with pandas frames (``rejects`` typed ``line`` int64, ``raw``/``reason`` str)."""
        if not isinstance(self.messages, pa.Table) and not isinstance(self.rejects, pa.Table):
            return self
        msgs = self.messages.to_pandas() if isinstance(self.messages, pa.Table) else self.messages
        rej = self.rejects.to_pandas() if isinstance(self.rejects, pa.Table) else self.rejects
        return Parsed(messages=msgs, rejects=rej.astype({"line": "int64", "raw": "str", "reason": "str"}),
                      encoding=self.encoding, unknown_agent=self.unknown_agent, damaged_lines=self.damaged_lines,
                      omitted_rejects=self.omitted_rejects, notes=list(self.notes))


@runtime_checkable
class Reader(Protocol):
    """One export format (a reader module satisfies this protocol; see the module docstring)."""

    NAME: str

    def sniff(self, raw: RawFile, text: str | None) -> float:
        """0..1 confidence that ``raw`` (``text``: its decoded head, None for binary files) is this format."""
        ...

    def parse(self, raw: RawFile, ctx: ReadContext) -> Parsed:
        """Parse one file; every non-blank line ends in a message or a reject."""
        ...


class InputError(ValueError):
    """Unreadable input. The message names the file, the line and what was expected."""

    def __init__(self, source: str, line: int | None, expected: str):
        self.source, self.line, self.expected = source, line, expected
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {expected}")


def raise_first_problem(source: str, problems: list[tuple[int, str]]) -> None:
    """Raise :class:`InputError` for the first of ``problems`` (``(line, what)``) by line, naming how many
    other rows are bad and their first lines; nothing when ``problems`` is empty."""
    if not problems:
        return
    problems = sorted(problems, key=lambda q: q[0])
    line, what = problems[0]
    more = sorted({ln for ln, _ in problems[1:] if ln != line})
    if more:
        shown = ", ".join(map(str, more[:10])) + (", …" if len(more) > 10 else "")
        what += f" ({len(more)} more bad row(s): lines {shown})"
    raise InputError(source, line, what)


def read_raw(path: str | os.PathLike[str], what: str) -> RawFile:
    """The bytes of ``path`` as a :class:`RawFile`; an unreadable file is an :class:`InputError`
    saying it should be "a readable ``what`` file" (e.g. ``orders``, ``ratings``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"a readable {what} file ({exc.strerror})") from exc
    return RawFile(str(path), data)


def rejects_frame(lines: list[int], raws: list[str], reasons: list[str]) -> pd.DataFrame:
    """Build a reader's rejects table from parallel lists."""
    return pd.DataFrame(
        {
            "line": pd.Series(lines, dtype="int64"),
            "raw": pd.Series(raws, dtype="str"),
            "reason": pd.Series(reasons, dtype="str"),
        }
    )


def json_head(text: str | None, size: int = 8192) -> str | None:
    """The first ``size`` characters of ``text`` without BOM/leading blanks if it starts like JSON
    (``{`` or ``[``), else None — what the JSON readers' ``sniff`` functions look at."""
    if text is None:
        return None
    head = text[:size].lstrip("\ufeff \n\t\r")
    return head if head[:1] in ("{", "[") else None
