"""``read_chats``: every export in a folder → one validated MESSAGES table (+ rejects, sources).

>>> import csaudit as ca
>>> chats = ca.read_chats("data/sample_chats")          # doctest: +SKIP
>>> chats.messages.head()                               # doctest: +SKIP
>>> chats.sources, chats.rejects, chats.duplicates      # doctest: +SKIP

Steps, in one place for every format:

1. **files** — paths may be files, folders (recursive, sorted) or ``.zip`` files (read member by
   member; ``source`` = ``"x.zip/member"``). Only ``.txt .log .csv .tsv .xlsx .json .zip`` are read;
   other files and orders tables are listed in ``sources`` (format ``skipped`` / ``orders``).
2. **reader** — the format is sniffed per file (or forced with ``format=``); text formats are
   decoded by :func:`csaudit.io.detect.decode`. A reader failure never escapes: its file's
   non-blank lines become rejects (``strict=True`` raises :class:`InputError` instead).
3. **post-processing** (vectorised, once for the whole batch): text clean-up (:func:`clean_text`,
   on distinct texts that need it), roles (:mod:`csaudit.model.roles`), the customer of agent rows
   and the shop of buyer rows, naive timestamps localised into ``tz``, stable ids,
   de-duplication, conversations (:mod:`csaudit.model.sessions`), schema check (pandera, all
   failures collected).

``message_id`` = 16 hex digits of a hash of (shop, customer, sender, ts, text, occurrence), where
occurrence numbers identical rows within one source: it does not depend on the path, so reading
the same export again (even from a copied folder) gives the same ids, and a message present in two
overlapping exports is kept once (the drop is counted in ``duplicates``).
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from csaudit.arrays import arrow_series, arrow_strings, one_chunk
from csaudit.config import Config, IOConfig
from csaudit.io.base import PARSED_COLUMNS, InputError, RawFile, ReadContext, Reader
from csaudit.io.detect import SNIFF_BYTES, Decoded, decode, decode_head, decoded, detect_format, is_plain_utf8
from csaudit.io.registry import readers
from csaudit.model import schema
from csaudit.model.roles import assign_roles, derive_parties, str_categorical
from csaudit.model.sessions import conversation_order, hash_strings, mix, nearest_valid, to_hex
from csaudit.text import clean_arrow

log = logging.getLogger(__name__)

EXTENSIONS = (".txt", ".log", ".csv", ".tsv", ".xlsx", ".json", ".zip")
BINARY_EXTENSIONS = (".xlsx",)
OLE_MAGIC = b"\xd0\xcf\x11\xe0"
"""Start of an OLE compound file: an old .xls, or an encrypted (password-protected) .xlsx."""
READ_THREADS = min(4, os.cpu_count() or 1)
"""Files are parsed by this many threads (Arrow and numpy kernels release the GIL)."""
TABLE_EXTENSIONS = (".csv", ".tsv", ".xlsx")
HEAD_ONLY_EXTENSIONS = (".txt", ".log")
"""Plain UTF-8 files with these extensions are decoded only as far as the sniffers read (the
client-text readers work on the bytes); the whole text is decoded when a reader or a reject needs it."""

_ORDER_ID = re.compile(r"订单号|订单编号|order[ _]?id|order[ _]?no", re.IGNORECASE)
_CHAT_TEXT = re.compile(r"内容|消息|text|content|发送人|sender", re.IGNORECASE)


@dataclass
class Chats:
    """Result of :func:`read_chats`.

    ``messages`` (MESSAGES schema, sorted by conversation, then time, then source/line),
    ``rejects`` (source, line, raw, reason), ``sources`` (source, format, encoding, messages,
    rejects, duplicates) and ``duplicates`` (messages dropped as exact repeats of overlapping exports).
    """

    messages: pd.DataFrame
    rejects: pd.DataFrame
    sources: pd.DataFrame
    duplicates: int = 0
    tz: str = field(default="Asia/Shanghai", repr=False)

    def summary(self, max_rejects: int = 10, max_files: int = 20) -> str:
        """A readable multi-line summary (what ``csaudit ingest`` prints): per file (or per format and
        encoding when there are more than ``max_files`` files), totals, then the first rejects."""
        m, s = self.messages, self.sources
        lines = [f"files: {len(s)}"]
        if len(s) <= max_files:
            for r in s.itertuples(index=False):
                enc = r.encoding if isinstance(r.encoding, str) else "-"
                lines.append(
                    f"  {r.source}  [{r.format}, {enc}]  messages {r.messages}, rejects {r.rejects}"
                    + (f" ({r.rejects_omitted} not kept)" if r.rejects_omitted else "")
                    + (f", duplicates {r.duplicates}" if r.duplicates else "")
                    + (f", unknown agent {r.unknown_agent}" if r.unknown_agent else "")
                    + (f", damaged lines {r.damaged_lines}" if r.damaged_lines else "")
                )
                if isinstance(r.note, str) and r.note:
                    lines.append(f"    note: {r.note}")
        else:
            by = s.assign(encoding=s["encoding"].fillna("-")).groupby(["format", "encoding"], sort=True)
            for (fmt, enc), g in by:
                lines.append(f"  {fmt} [{enc}]: {len(g)} files, messages {int(g['messages'].sum())}, "
                             f"rejects {int(g['rejects'].sum())}, duplicates {int(g['duplicates'].sum())}")
            worst = s[s["rejects"] > 0].sort_values("rejects", ascending=False).head(max_files)
            for r in worst.itertuples(index=False):
                lines.append(f"  {r.source}  [{r.format}]  rejects {r.rejects}")
        roles = m["role"].value_counts().reindex(list(schema.ROLES), fill_value=0) if len(m) else None
        lines += [
            f"messages: {len(m)}"
            + (" (" + ", ".join(f"{k} {v}" for k, v in roles.items() if v) + ")" if roles is not None else ""),
            f"conversations: {m['conversation_id'].nunique()}",
            f"agents: {m['agent'].nunique()}",
            f"customers: {m.loc[m['role'].astype('str') == 'customer', 'customer'].nunique()}",
            f"rejects: {len(self.rejects)}",
            f"duplicates: {self.duplicates}",
        ]
        if len(m) and m["ts"].notna().any():
            lines.append(f"period: {m['ts'].min():%Y-%m-%d %H:%M} .. {m['ts'].max():%Y-%m-%d %H:%M} ({self.tz})")
        if len(self.rejects):
            lines.append(f"first rejects (of {len(self.rejects)}):")
            for r in self.rejects.head(max_rejects).itertuples(index=False):
                raw = r.raw if len(r.raw) <= 60 else r.raw[:57] + "..."
                lines.append(f"  {r.source}:{r.line}: {r.reason}: {raw!r}")
        return "\n".join(lines)


# -- files ---------------------------------------------------------------------------------------


@dataclass
class _Item:
    raw: RawFile
    ext: str


def _as_list(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


class Skipped(tuple):
    """A file that was not read: ``(source, reason, error)``; ``error`` files (broken or refused
    archives) count as one reject, the others are listed as ``skipped`` with the reason as note."""

    def __new__(cls, source: str, reason: str, error: bool = False):
        return super().__new__(cls, (source, reason, error))


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, io_cfg: IOConfig) -> bytes | str:
    """A member's bytes, inflated in chunks and stopped at the limits; a str is the refusal reason."""
    if info.file_size > budget:
        return (f"refused: the archive's members would inflate past [io] zip_max_bytes = {io_cfg.zip_max_bytes} "
                f"bytes ({info.file_size} declared)")
    out = bytearray()
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            out += chunk
            if len(out) > budget:
                return f"refused: inflates past [io] zip_max_bytes = {io_cfg.zip_max_bytes} bytes"
            if len(out) >= io_cfg.zip_ratio_min_bytes and len(out) > io_cfg.zip_max_ratio * max(info.compress_size, 1):
                return (f"refused: inflates more than [io] zip_max_ratio = {io_cfg.zip_max_ratio:g} times its "
                        f"compressed size ({info.compress_size} bytes): a zip bomb?")
    return bytes(out)


def _zip_items(archive: str | Path | bytes, source: str, skipped: list[Skipped], io_cfg: IOConfig) -> Iterator[_Item]:
    """The members of a zip (depth first, sorted by name), nested zips opened up to
    ``[io] zip_max_depth`` levels; one ``[io] zip_max_bytes`` budget for everything it inflates.
    Iterative (an explicit stack), so no nesting depth can exhaust the interpreter's recursion."""
    budget = io_cfg.zip_max_bytes
    stack: list[tuple[zipfile.ZipFile, Iterator[zipfile.ZipInfo], str, int]] = []

    def open_zip(data: str | Path | bytes, src: str, depth: int) -> None:
        try:
            zf = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
            infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            skipped.append(Skipped(src, f"unreadable zip: {exc}", True))
            return
        stack.append((zf, iter(infos), src, depth))

    open_zip(archive, source, 1)
    while stack:
        zf, infos, src_zip, depth = stack[-1]
        info = next(infos, None)
        if info is None:
            stack.pop()
            zf.close()
            continue
        name = info.filename
        src = f"{src_zip}/{name}"
        ext = Path(name).suffix.lower()
        if ext not in EXTENSIONS or Path(name).name.startswith((".", "__MACOSX")) or "__MACOSX/" in name:
            skipped.append(Skipped(src, "skipped"))
            continue
        if ext == ".zip" and depth >= io_cfg.zip_max_depth:
            skipped.append(Skipped(src, f"refused: archive nested deeper than [io] zip_max_depth = "
                                        f"{io_cfg.zip_max_depth} levels", True))
            continue
        try:
            member = _inflate(zf, info, budget, io_cfg)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError, NotImplementedError,
                zlib.error) as exc:
            skipped.append(Skipped(src, f"unreadable zip member: {exc}", True))
            continue
        if isinstance(member, str):
            skipped.append(Skipped(src, member, True))
            log.warning("%s: %s", src, member)
            continue
        budget -= len(member)
        if ext == ".zip":
            open_zip(member, src, depth + 1)
        else:
            yield _Item(RawFile(src, member), ext)


def _walk(root: Path, skipped: list[Skipped]) -> list[Path]:
    """Files under ``root`` (sorted by relative path). Links are followed only when they stay inside
    ``root``: a link leaving it, a dangling link and a linked folder are listed in ``skipped``."""
    top = root.resolve()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        for name in dirnames:
            if (d / name).is_symlink():
                skipped.append(Skipped((d / name).as_posix(), "skipped: a link to a folder (not followed)"))
        for name in filenames:
            f = d / name
            if f.is_symlink():
                try:
                    target = f.resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(f.as_posix(), "skipped: dangling link"))
                    continue
                if not target.is_relative_to(top):
                    skipped.append(Skipped(f.as_posix(), f"skipped: a link that leaves {root.as_posix()}"))
                    continue
                if not target.is_file():
                    skipped.append(Skipped(f.as_posix(), "skipped: a link to something that is not a file"))
                    continue
            files.append(f)
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def iter_files(paths: str | Path | Iterable[str | Path], skipped: list[Skipped],
               io_cfg: IOConfig | None = None) -> Iterator[_Item]:
    """The input files in a deterministic order; files not read are appended to ``skipped``."""
    io_cfg = io_cfg or IOConfig()
    for p in _as_list(paths):
        if p.is_dir():
            files = _walk(p, skipped)
        elif p.is_file():
            files = [p]
        elif p.is_symlink():
            raise FileNotFoundError(f"{p}: dangling link")
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
        for f in files:
            src = f.as_posix()
            ext = f.suffix.lower()
            if ext not in EXTENSIONS or f.name.startswith("."):
                skipped.append(Skipped(src, "skipped"))
                continue
            if ext == ".zip":
                yield from _zip_items(f, src, skipped, io_cfg)
                continue
            try:
                data = f.read_bytes()
            except OSError as exc:
                skipped.append(Skipped(src, f"unreadable file: {exc.strerror or exc}", True))
                continue
            yield _Item(RawFile(src, data), ext)


def _is_orders(item: _Item, text: str | None, regs: dict[str, Reader]) -> bool:
    """An orders table (read by ``read_orders``), not chats."""
    if item.ext not in TABLE_EXTENSIONS:
        return False
    table = regs.get("table")
    fn = getattr(table, "is_orders_table", None) if table else None
    if fn is not None:
        try:
            return bool(fn(item.raw, text))
        except Exception as exc:  # noqa: BLE001 - fall back to our own header check
            log.debug("%s: is_orders_table failed: %s", item.raw.source, exc)
    header = ""
    if text is not None:
        header = next((ln for ln in text[:4096].split("\n") if ln.strip()), "")
    elif item.ext == ".xlsx":
        try:
            import openpyxl

            wb = openpyxl.load_workbook(io.BytesIO(item.raw.data), read_only=True)
            row = next(wb.worksheets[0].iter_rows(max_row=1, values_only=True), ())
            header = ",".join(str(v) for v in row if v is not None)
        except Exception:  # noqa: BLE001 - an unreadable workbook is the table reader's to report
            return False
    return bool(_ORDER_ID.search(header)) and not _CHAT_TEXT.search(header)


_LIKELY = {
    ".txt": ("qianniu-text", "qianniu-web"),
    ".log": ("qianniu-text", "qianniu-web"),
    ".json": ("qianniu-json", "wecom-kf"),
    ".csv": ("table",),
    ".tsv": ("table",),
    ".xlsx": ("table",),
}


def _by_likelihood(regs: dict[str, Reader], ext: str) -> dict[str, Reader]:
    """The readers, the usual formats of files with extension ``ext`` first (all are still asked
    unless one is sure)."""
    first = [n for n in _LIKELY.get(ext, ()) if n in regs]
    return {n: regs[n] for n in first + [n for n in regs if n not in first]}


_BLANK_LINE = re.compile(r"\n[^\S\n]*(?=\n|$)")


def _all_lines_rejected(text: str | None, reason: str, cap: int | None = None) -> tuple[pd.DataFrame, int]:
    """The first ``cap`` non-blank lines of ``text`` as rejects (line 1 for binary content), and how
    many non-blank lines there are (counted without splitting the text into line objects)."""
    if text is None:
        return pd.DataFrame({"line": [1], "raw": [""], "reason": [reason]}).astype(
            {"line": "int64", "raw": "str", "reason": "str"}
        ), 1
    total = text.count("\n") + 1 - _BLANK_LINE.subn("", "\n" + text)[1]
    cap = total if cap is None else cap
    lines, raws = [], []
    for i, ln in enumerate(io.StringIO(text)):
        if len(lines) >= cap:
            break
        if ln.strip():
            lines.append(i + 1)
            raws.append(ln.rstrip("\n")[:1000])
    frame = pd.DataFrame(
        {
            "line": pd.Series(lines, dtype="int64"),
            "raw": pd.Series(raws, dtype="str"),
            "reason": pd.Series([reason] * len(lines), dtype="str"),
        }
    )
    return frame, total


# -- one file ------------------------------------------------------------------------------------


@dataclass
class _FileResult:
    source: str
    fmt: str
    encoding: str | None
    messages: pd.DataFrame | pa.Table | None
    rejects: pd.DataFrame | pa.Table
    n_rejects: int = -1
    """All rejects of the file (``rejects`` holds the first ``[io] max_rejects_per_file``); -1 = len(rejects)."""
    unknown_agent: int = 0
    damaged_lines: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n_rejects < 0:
            self.n_rejects = len(self.rejects)

    @property
    def n_messages(self) -> int:
        return 0 if self.messages is None else len(self.messages)


def _read_one(item: _Item, fmt: str, ctx: ReadContext, regs: dict[str, Reader]) -> _FileResult:
    """One file → its result. Nothing escapes but :class:`InputError` with ``strict``: an unexpected
    failure (a bug, a pathological input) becomes one reject naming the file."""
    try:
        return _read_one_unguarded(item, fmt, ctx, regs)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - one file must never stop the batch
        log.warning("%s: could not be read: %s: %s", item.raw.source, type(exc).__name__, exc)
        if ctx.strict:
            raise InputError(item.raw.source, None, f"a readable file (failed: {type(exc).__name__}: {exc})") from None
        rej = pd.DataFrame({"line": [1], "raw": [""], "reason": [f"could not be read: {type(exc).__name__}: {exc}"]})
        return _FileResult(item.raw.source, "unreadable", None, None, rej.astype({"line": "int64", "raw": "str",
                                                                                  "reason": "str"}))


def _read_one_unguarded(item: _Item, fmt: str, ctx: ReadContext, regs: dict[str, Reader]) -> _FileResult:
    raw = item.raw
    text: str | None = None
    encoding: str | None = None
    head_only = False  # text is only the part the sniffers read (see full_text)
    dec: Decoded | None = None
    if item.ext in HEAD_ONLY_EXTENSIONS and ctx.encoding is None and is_plain_utf8(raw.data):
        text, encoding = decode_head(raw.data, SNIFF_BYTES), "utf-8"
        head_only = len(text) == SNIFF_BYTES
    elif item.ext not in BINARY_EXTENSIONS or not raw.data.startswith((b"PK", OLE_MAGIC)):
        # (an .xlsx that is not a zip or OLE file is a text table renamed: read as text)
        dec = decoded(raw.data, raw.source, ctx.encoding)
        text, encoding = dec.text, dec.encoding
    res = _read_parsed(item, fmt, ctx, regs, text, encoding, head_only)
    if dec is not None and dec.damaged_lines:
        res.damaged_lines = dec.damaged_lines
        if dec.damaged:
            lines, raws, why = zip(*dec.damaged, strict=True)
            extra = pd.DataFrame({"line": pd.Series(lines, dtype="int64"), "raw": pd.Series(raws, dtype="str"),
                                  "reason": pd.Series(why, dtype="str")})
            both = pd.concat([_rejects_frame(res.rejects), extra], ignore_index=True)
            res.rejects = both.sort_values("line", kind="stable").reset_index(drop=True)
            res.n_rejects += len(extra)
    return _cap_rejects(res, ctx.config.io.max_rejects_per_file)


def _cap_rejects(res: _FileResult, cap: int) -> _FileResult:
    """Keep the first ``cap`` rejects of a file (``n_rejects`` still counts all of them)."""
    if len(res.rejects) > cap:
        rej = res.rejects
        res.rejects = rej.slice(0, cap) if isinstance(rej, pa.Table) else rej.iloc[:cap].reset_index(drop=True)
    return res


def _read_parsed(item: _Item, fmt: str, ctx: ReadContext, regs: dict[str, Reader], text: str | None,
                 encoding: str | None, head_only: bool) -> _FileResult:
    """Detect the format of one file (unless forced) and run its reader; failures become rejects."""
    raw = item.raw
    cap = ctx.config.io.max_rejects_per_file

    def full_text() -> str | None:
        return decode(raw.data, raw.source, ctx.encoding)[0] if head_only else text

    if fmt == "auto" and _is_orders(item, text, regs):
        log.info("%s: orders table, not chats (read it with read_orders)", raw.source)
        return _FileResult(raw.source, "orders", encoding, None, _no_rejects())
    if fmt == "auto":
        if text is not None and not text.strip() and not (full_text() or "").strip():
            return _FileResult(raw.source, "empty", encoding, None, _no_rejects())
        name = detect_format(raw, text, _by_likelihood(regs, item.ext))
        if name is None and item.ext == ".xlsx" and "table" in regs:
            name = "table"  # a damaged, truncated or encrypted workbook: the table reader says which
        if name is None:
            expected = ", ".join(regs)
            return _FileResult(raw.source, "unknown", encoding, None,
                               *_all_lines_rejected(full_text(), f"not a recognised chat export (expected one of: "
                                                                 f"{expected})", cap))
    else:
        name = fmt
    try:
        mod = regs[name]
        parsed = mod.parse_arrow(raw, ctx) if hasattr(mod, "parse_arrow") else mod.parse(raw, ctx)
    except InputError as exc:
        if ctx.strict:
            raise
        return _FileResult(raw.source, name, encoding, None, *_all_lines_rejected(full_text(), exc.expected, cap))
    except Exception as exc:  # noqa: BLE001 - a reader failure must not stop the batch
        log.warning("%s: could not be read as %s: %s", raw.source, name, exc)
        if ctx.strict:
            raise InputError(raw.source, None, f"could not be read as {name}: {exc}") from None
        return _FileResult(raw.source, name, encoding, None,
                           *_all_lines_rejected(full_text(), f"could not be read as {name}: {exc}", cap))
    return _FileResult(raw.source, name, parsed.encoding or encoding, parsed.messages, parsed.rejects,
                       n_rejects=len(parsed.rejects) + getattr(parsed, "omitted_rejects", 0),
                       unknown_agent=getattr(parsed, "unknown_agent", 0),
                       damaged_lines=getattr(parsed, "damaged_lines", 0),
                       notes=list(getattr(parsed, "notes", ())))


def _no_rejects() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series([], dtype="int64"), "raw": pd.Series([], dtype="str"),
                         "reason": pd.Series([], dtype="str")})


def _normalise_parsed(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Parsed columns present and typed; ``ts`` as naive shop-local wall time in ``tz`` (ns)."""
    out = {}
    for col in PARSED_COLUMNS:
        if col == "ts":
            s = df["ts"] if "ts" in df.columns else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
            if not (isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype)):
                s = pd.to_datetime(s, errors="coerce")
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_convert(tz).dt.tz_localize(None)
            out["ts"] = s if s.dtype == "datetime64[ns]" else s.dt.as_unit("ns")
        elif col == "line":
            out["line"] = df["line"] if df["line"].dtype == "int64" else df["line"].astype("int64")
        elif col in df.columns:
            out[col] = df[col] if df[col].dtype == "str" else df[col].astype("str")
        else:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="str")
    return pd.DataFrame(out, index=df.index, copy=False)


# -- batch post-processing -----------------------------------------------------------------------


def _encode(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """``pd.factorize`` on Arrow strings: int64 codes (null → -1) and the distinct values (``string``)
    in order of first appearance (one Arrow hash pass, no Python objects).

    A chunked array is encoded without joining its chunks first: Arrow encodes the chunks with one
    memo table, and every chunk of the result carries the final dictionary."""
    if isinstance(arr, pa.ChunkedArray):
        enc = pc.dictionary_encode(arr)
        sizes = {len(c.dictionary) for c in enc.chunks}
        if len(sizes) != 1:  # no chunks, or (not expected) per-chunk dictionaries
            return _encode(arr.combine_chunks() if arr.num_chunks else pa.array([], pa.string()))
        idx = pa.chunked_array([c.indices for c in enc.chunks], type=enc.type.index_type)
        dictionary = enc.chunk(0).dictionary
    else:
        enc = pc.dictionary_encode(arr)
        idx, dictionary = enc.indices, enc.dictionary
    codes = (pc.fill_null(idx, -1) if idx.null_count else idx).to_numpy(zero_copy_only=False)
    if pa.types.is_large_string(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    return codes.astype(np.int64, copy=False), dictionary


def _arrow_chunks(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The Arrow data behind a ``str`` Series as it is (chunks not joined; missing → null)."""
    arr = getattr(s.array, "_pa_array", None)
    return arr if isinstance(arr, (pa.Array, pa.ChunkedArray)) else arrow_strings(s)


def _clean_texts(texts: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cleaned texts (a categorical: later steps work per distinct text) and a stable uint64 hash
    of each row's text, computed once per distinct text."""
    arr = _arrow_chunks(texts)
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    codes, uniq = _encode(arr)
    if len(uniq) == 0:
        return str_categorical(codes, pd.Index([], dtype="str"), texts.index), np.zeros(0, np.uint64)
    cleaned = clean_arrow(uniq)
    if cleaned is not uniq:  # cleaning can make two raw texts equal
        ucodes, uniq = _encode(cleaned)
        codes = ucodes[codes]
    hashes = hash_strings(uniq)
    return str_categorical(codes, uniq, texts.index), hashes[codes]


def _clean_names(s: pd.Series) -> pd.Series:
    """Senders, shops, customers: :func:`clean_text` (where needed) and trimmed, per distinct value.

    Returns a categorical Series of strings (names repeat a lot; see :func:`_materialise`)."""
    codes, uniq = _encode(_arrow_chunks(s))
    if len(uniq):
        uniq = pc.utf8_trim_whitespace(clean_arrow(uniq))
    ucodes, names = _encode(uniq)
    new = np.append(ucodes, -1)[np.where(codes >= 0, codes, len(ucodes))]
    return str_categorical(new, names, s.index)


def _materialise(s: pd.Series) -> pd.Series:
    """A categorical of strings → ``str`` via one Arrow take (≈ 4x faster than ``astype``)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return s
    idx = s.cat.categories
    if idx.dtype == "str" and len(idx):  # Arrow-backed already: no round trip through Python objects
        cats = arrow_strings(pd.Series(idx, copy=False))
    else:
        cats = pa.array(np.asarray(idx, dtype=object), type=pa.string())
    codes = s.cat.codes.to_numpy()
    taken = cats.take(pa.array(codes, mask=codes < 0)) if len(cats) else pa.nulls(len(s), pa.string())
    return arrow_series(taken, s.index, "str")



def _neighbour(nat: np.ndarray, group: np.ndarray) -> np.ndarray:
    """For each row, the next row of its group with a timestamp (else the previous one, else itself)."""
    near = nearest_valid(~nat, group)
    return np.where(near < 0, np.arange(len(nat)), near)


def _first_reject(rej: pd.DataFrame | pa.Table) -> tuple[int, str, str]:
    r = _rejects_frame(rej).iloc[0]
    return int(r["line"]), str(r["raw"]), str(r["reason"])


def _rejects_frame(rej: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return rej.to_pandas() if isinstance(rej, pa.Table) else rej


CHUNKED_COLUMNS = ("text", "sender")
"""Columns :func:`_combine` leaves in the files' chunks: post-processing only dictionary-encodes them
(joining 1M texts into one buffer costs ≈ 0.2 s)."""


def _combine(results: list[_FileResult], tz: str) -> pd.DataFrame | None:
    """All files' parsed rows in one frame with ``_src`` (the file's position in ``results``).

    Arrow outputs are concatenated before one conversion to pandas; pandas outputs are normalised
    per file. Rows of a file stay contiguous and in file order.
    """
    tables, frames = [], []
    for i, r in enumerate(results):
        if r.messages is None or len(r.messages) == 0:
            continue
        if isinstance(r.messages, pa.Table):
            t = r.messages.select(list(PARSED_COLUMNS))
            tables.append(t.append_column("_src", pa.array(np.full(len(t), i, dtype=np.int64))))
        else:
            f = _normalise_parsed(r.messages, tz)
            f["_src"] = i
            frames.append(f)
    parts = []
    if tables:  # chunks not joined: text and sender are only dictionary-encoded (see _postprocess)
        parts.append(pa.concat_tables(tables, promote_options="permissive").to_pandas())
    parts.extend(frames)
    if not parts:
        return None
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for col in df.columns:
        if df[col].dtype == "str" and col not in CHUNKED_COLUMNS:
            df[col] = one_chunk(df[col])
    return df


def has_repeats(values: np.ndarray) -> bool:
    """Whether any value occurs twice: one sort of a copy (≈ 20 ms per 1M uint64, a third of a
    pandas hash pass), so the common case without repeats skips the hash table."""
    s = np.sort(np.asarray(values))
    return bool(np.any(s[1:] == s[:-1]))


def duplicated(values: np.ndarray) -> np.ndarray:
    """``pd.Series(values).duplicated()`` (later repeats of a value True), skipping the hash pass
    when no value repeats."""
    if len(values) < 2 or not has_repeats(values):
        return np.zeros(len(values), dtype=bool)
    return pd.Series(values, copy=False).duplicated().to_numpy()


def occurrence(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows have the same ``(group, key)`` (0 for the first): pandas'
    ``groupby([group, key]).cumcount()``. Only rows whose ``key`` repeats somewhere are sorted."""
    n = len(key)
    occ = np.zeros(n, dtype=np.int64)
    if n == 0 or not has_repeats(key):
        return occ
    rep = np.flatnonzero(pd.Series(key, copy=False).duplicated(keep=False).to_numpy())
    if len(rep):
        g = np.asarray(group, dtype=np.int64)[rep]
        kc, _ = pd.factorize(np.asarray(key)[rep])
        sub = kc.astype(np.int64) * (int(g.max()) - int(g.min()) + 1) + (g - g.min())
        order = np.argsort(sub, kind="stable")  # equal keys keep row order
        ss = sub[order]
        pos = np.arange(len(ss))
        start = np.ones(len(ss), dtype=bool)
        start[1:] = ss[1:] != ss[:-1]
        occ[rep[order]] = pos - np.maximum.accumulate(np.where(start, pos, 0))
    return occ


def _file_rank(src: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Each row's position when rows are sorted by (file, line), stable; the identity (no sort)
    when they already are, as the readers return them."""
    n = len(src)
    if n < 2 or bool(np.all((src[1:] > src[:-1]) | ((src[1:] == src[:-1]) & (line[1:] >= line[:-1])))):
        return np.arange(n, dtype=np.int64)
    file_order = np.lexsort((line, src))
    rank = np.empty(n, dtype=np.int64)
    rank[file_order] = np.arange(n)
    return rank


def _postprocess(df: pd.DataFrame, sources: list[str], cfg: Config, tz: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Combined parsed rows → messages in file order (MESSAGES columns but ids), each row's naive
    shop-local time (int64 ns) and text hash (what :func:`_message_ids` needs)."""
    n = len(df)
    src_code = df["_src"].to_numpy()
    names = pd.Index(sources, dtype="str")
    if names.is_unique:
        name_code = src_code
    else:  # the same file given twice: one category per name
        names = names.unique()
        name_code = names.get_indexer(pd.Index(sources, dtype="str"))[src_code]
    df["source"] = pd.Series(pd.Categorical.from_codes(name_code, categories=names), index=df.index)
    ts = df["ts"]
    ts_i = ts.to_numpy(dtype="datetime64[ns]").view(np.int64) if n else np.zeros(0, np.int64)
    with ThreadPoolExecutor(max_workers=1) as pool:  # texts (Arrow kernels) while the names are cleaned
        texts = pool.submit(_clean_texts, df["text"])
        if len(ts):
            df["ts"] = ts.dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
        df["sender"] = _clean_names(df["sender"].fillna(""))  # categorical from here on (see _materialise)
        for col in ("shop", "customer", "agent", "conversation"):
            if df[col].notna().any():
                df[col] = _clean_names(df[col])
        text, text_hash = texts.result()
    df["text"] = text
    df = assign_roles(df, cfg.roles)
    df = derive_parties(df, src_code)
    return df, ts_i, text_hash


def _hash_column(s: pd.Series) -> np.ndarray:
    """:func:`hash_strings` of each row's value, missing → the hash of ``""`` (once per distinct value)."""
    if isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.dtype == "str":
        codes, uniq = s.cat.codes.to_numpy(), arrow_strings(pd.Series(s.cat.categories, copy=False))
        hashes = hash_strings(pa.concat_arrays([uniq, pa.array([""], pa.string())]))
    else:
        codes, uniq = pd.factorize(s)
        hashes = hash_strings(np.append(np.asarray(uniq, dtype=object), ""))
    return hashes[codes] if len(s) else np.zeros(0, np.uint64)  # code -1 → the appended ""


def _message_ids(df: pd.DataFrame, ts_i: np.ndarray, text_hash: np.ndarray) -> np.ndarray:
    """message_id hashes: hash(shop, customer, sender, ts, text, occurrence within the source); rows
    without a timestamp are anchored to their nearest timestamped neighbour in the file instead."""
    src_code = df["_src"].to_numpy()
    content = mix(_hash_column(df["shop"]), _hash_column(df["customer"]), _hash_column(df["sender"]),
                  ts_i.astype(np.uint64), text_hash)
    nat = ts_i == np.iinfo(np.int64).min
    if nat.any():
        near = _neighbour(nat, src_code)
        rows = np.flatnonzero(nat)  # (mixed only where used: NaT rows are few)
        offset = (near[rows] - rows).astype(np.uint64)
        content[rows] = mix(content[rows], content[near[rows]], offset)
    return mix(content, occurrence(src_code, content).astype(np.uint64))


PANDERA_MAX_ROWS = 200_000
"""Up to this many rows the MESSAGES table is always checked by pandera; above, a vectorised check of
the same declared schema runs first and pandera only when it finds a problem (pandera costs ≈ 1 s
per 1M rows, a third of the read budget)."""


def _validate(messages: pd.DataFrame, tz: str) -> None:
    """Check MESSAGES at the boundary; every failure is collected into
    :class:`~csaudit.model.schema.SchemaError` (dtypes, missing values, ``line >= 1``, roles)."""
    if len(messages) <= PANDERA_MAX_ROWS:
        schema.validate(messages, "messages", tz)
        return
    ok = True
    for col, (dt, nullable) in schema.MESSAGES.items():
        want = schema.ts_dtype(tz) if dt == "ts" else dt
        s = messages[col]
        if str(s.dtype) != str(want) or (not nullable and s.isna().any()):
            ok = False
            break
    if ok and int(messages["line"].min()) < 1:
        ok = False
    if not ok:
        schema.validate(messages, "messages", tz)


def _empty_sources() -> pd.DataFrame:
    return schema.empty("sources")


def read_chats(
    paths: str | Path | Iterable[str | Path],
    format: str = "auto",  # noqa: A002 - public API name (DESIGN §2)
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    tz: str = "Asia/Shanghai",
    strict: bool = False,
    config: Config | None = None,
) -> Chats:
    """Read chat exports (files, folders, zips; any mix of formats and encodings) → :class:`Chats`.

    ``format`` forces a reader (``qianniu-text``, ``qianniu-web``, ``qianniu-json``, ``wecom-kf``,
    ``table``); ``columns`` maps MESSAGES/parsed column names to a table's headers; ``encoding``
    forces a text encoding; naive timestamps are shop-local times in ``tz``. ``strict=True`` raises
    :class:`~csaudit.io.base.InputError` (``file:line: what was expected``) at the first reject.
    A missing path raises ``FileNotFoundError``.
    """
    cfg = config or Config()
    regs = readers()
    if format != "auto" and format not in regs:
        raise ValueError(f"unknown format {format!r}; expected auto or one of: {', '.join(regs)}")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
    if columns:
        from csaudit.io.common import CHAT_HEADERS

        unknown = sorted(set(columns) - set(CHAT_HEADERS))
        if unknown:
            raise ValueError(f"columns= names unknown column(s) {unknown}; known: {', '.join(CHAT_HEADERS)}")
    ctx = ReadContext(config=cfg, tz=tz, encoding=encoding, columns=columns, strict=strict)
    skipped: list[Skipped] = []
    results: list[_FileResult] = []
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        # readers spend most of their time in Arrow/numpy kernels that release the GIL
        done = pool.map(lambda it: _read_one(it, format, ctx, regs), iter_files(paths, skipped, cfg.io))
        results = _collect(done, strict)
    for src, why, _ in skipped:
        log.info("%s: %s", src, why)
    return _assemble(results, skipped, cfg, tz)


def _collect(done: Iterable[_FileResult], strict: bool) -> list[_FileResult]:
    """Results in file order; with ``strict`` the first file with a reject raises."""
    results: list[_FileResult] = []
    for res in done:
        if strict and len(res.rejects):
            first = _first_reject(res.rejects)
            raise InputError(res.source, first[0], f"{first[2]}; got {first[1][:80]!r}")
        results.append(res)
        log.debug("%s: %s, %d messages, %d rejects", res.source, res.fmt, res.n_messages, len(res.rejects))
    return results


def _assemble(results: list[_FileResult], skipped: list[Skipped], cfg: Config, tz: str) -> Chats:
    """Per-file results → :class:`Chats` (sources, rejects, post-processed messages)."""

    # sources and rejects
    src_rows = [(r.source, r.fmt, r.encoding, r.n_rejects, r.n_rejects - len(r.rejects), r.unknown_agent,
                 r.damaged_lines, "; ".join(r.notes) or None) for r in results]
    rej_frames = [_rejects_frame(r.rejects).assign(source=r.source) for r in results if len(r.rejects)]
    for s, why, bad in skipped:
        src_rows.append((s, "unreadable" if bad else "skipped", None, int(bad), 0, 0, 0,
                         None if why == "skipped" else why))
        if bad:
            rej_frames.append(pd.DataFrame({"line": [1], "raw": [""], "reason": [why], "source": [s]}))
    rejects = (
        schema.conform(pd.concat(rej_frames, ignore_index=True), "rejects")[list(schema.REJECTS)]
        if rej_frames else schema.empty("rejects")
    )

    dup_by_source: dict[str, int] = {}
    kept_per_source: dict[str, int] = {}
    df = _combine(results, tz)
    if df is not None:
        df, ts_i, text_hash = _postprocess(df, [r.source for r in results], cfg, tz)
        light = df[["shop", "customer", "ts", "source", "conversation", "_src", "line"]]
        rank = _file_rank(light["_src"].to_numpy(), light["line"].to_numpy())
        with ThreadPoolExecutor(max_workers=1) as pool:
            # conversations of all rows while the ids are hashed (numpy and Arrow release the GIL);
            # worked out again without the duplicates if there are any
            conversations = pool.submit(conversation_order, light, cfg.session, file_order=rank, tz=tz)
            mid = _message_ids(df, ts_i, text_hash)
            dup = duplicated(mid)
            order, cid = conversations.result()
        keep = np.flatnonzero(~dup)
        if dup.any():
            dup_by_source = df.loc[dup, "source"].value_counts().to_dict()
            light = light.take(keep).reset_index(drop=True)
            rank = _file_rank(light["_src"].to_numpy(), light["line"].to_numpy())
            order, cid = conversation_order(light, cfg.session, file_order=rank, tz=tz)
        rows = keep[order]
        for i, k in enumerate(np.bincount(df["_src"].to_numpy()[keep], minlength=len(results)).tolist()):
            if k:  # (two inputs can have the same source name)
                kept_per_source[results[i].source] = kept_per_source.get(results[i].source, 0) + k
        df = df[[c for c in schema.MESSAGES if c in df.columns]].take(rows).reset_index(drop=True)
        names = ("shop", "customer", "sender", "agent", "source", "text")
        with ThreadPoolExecutor(max_workers=2) as pool:  # Arrow takes, GIL released
            for col, values in zip(names, pool.map(_materialise, [df[c] for c in names]), strict=True):
                df[col] = values
        df["message_id"] = to_hex(mid[rows], 16)
        df["conversation_id"] = cid
        messages = schema.conform(df, "messages", tz)[list(schema.MESSAGES)]
        _validate(messages, tz)
    else:
        messages = schema.empty("messages", tz)
    per_src = kept_per_source
    sources = pd.DataFrame(
        [
            {"source": s, "format": f, "encoding": e, "messages": per_src.get(s, 0) if f not in ("skipped", "orders") else 0,
             "rejects": k, "duplicates": dup_by_source.get(s, 0), "rejects_omitted": omitted,
             "unknown_agent": unk, "damaged_lines": dmg, "note": note}
            for s, f, e, k, omitted, unk, dmg, note in src_rows
        ],
        columns=list(schema.SOURCES),
    )
    sources = schema.conform(sources, "sources")[list(schema.SOURCES)] if len(sources) else _empty_sources()
    duplicates = int(sum(dup_by_source.values()))
    n_unknown = int(sources["unknown_agent"].sum()) if len(sources) else 0
    if n_unknown:
        files = sources.loc[sources["unknown_agent"] > 0, "source"].tolist()
        log.warning("%d agent-side message(s) in %d file(s) (%s) name no agent account: kept under the "
                    "placeholder '店铺名:%s' (sources.unknown_agent counts them; map an agent/sender column "
                    "with columns= to name them)", n_unknown, len(files), ", ".join(files[:3])
                    + (", ..." if len(files) > 3 else ""), cfg.io.unknown_agent)
    log.info(
        "read %d file(s): %d messages, %d rejects, %d duplicates dropped",
        len(sources), len(messages), len(rejects), duplicates,
    )
    return Chats(messages=messages, rejects=rejects.reset_index(drop=True), sources=sources,
                 duplicates=duplicates, tz=tz)


__all__ = ["Chats", "read_chats", "readers", "iter_files"]
