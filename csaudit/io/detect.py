"""Encoding and format detection.

:func:`decode` turns a file's bytes into text: a byte-order mark wins (UTF-8, UTF-16 LE/BE), then
strict UTF-8, then UTF-16 without a BOM (recognised by its NUL bytes), then GB18030 (a superset of
GBK/GB2312, what Chinese Windows tools write). When no strict decode of the whole file works, the
file is decoded **line by line** (:func:`decode_lines`): each line in the file's main encoding
(GB18030 when more lines read as GB18030 than as UTF-8, else UTF-8), else in the other one, so one
damaged byte costs only the line that holds it. A line that neither decodes, or that holds a NUL
byte, is blanked in the text and reported as *damaged* (``Decoded.damaged``: line, the line decoded
with U+FFFD replacements, and the reason, e.g. ``invalid GBK bytes at column 7``); ``read_chats``
turns those into rejects and counts them in ``sources.damaged_lines``. The encoding is then reported
as ``gb18030+lines`` / ``utf-8+lines``. Only when hardly any line decodes either way does
charset-normalizer guess, and as a last resort bytes are replaced (``utf-8+replace``). Line ends are
normalised to ``\\n``.

:func:`detect_format` asks every registered reader how sure it is (``sniff`` → 0..1) and picks the
most confident one, logging what it guessed.
"""

from __future__ import annotations

import codecs
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from csaudit.io import registry
from csaudit.io.base import RawFile, Reader

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SNIFF_BYTES = 64 * 1024
"""How many leading bytes/characters the sniffers look at."""
SURE_SCORE = 0.95
"""A sniffer this confident ends detection (later, less likely readers are not asked)."""
MIN_SNIFF_SCORE = 0.2
"""Below this confidence no format is claimed (the file is unrecognised)."""


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _looks_utf16(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when a BOM-less sample has NULs on one byte parity (ASCII-heavy UTF-16)."""
    head = data[: 4096 - (min(len(data), 4096) % 2)]
    if len(head) < 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


_cache = threading.local()  # per thread: (data object, forced, result): sniffing then parsing decodes once


@dataclass
class Decoded:
    """A file's text and how it was decoded. ``damaged`` lists ``(line, raw, reason)`` of the lines
    that could not be decoded (blanked in ``text``); ``fallback_lines`` counts the lines decoded in
    the secondary encoding of a line-by-line decode."""

    text: str
    encoding: str
    damaged: list[tuple[int, str, str]] = field(default_factory=list)
    fallback_lines: int = 0

    @property
    def damaged_lines(self) -> int:
        """Lines that needed the fallback encoding or could not be decoded at all."""
        return len(self.damaged) + self.fallback_lines


def decode(data: bytes, source: str, forced: str | None = None) -> tuple[str, str]:
    """Decode ``data`` (the bytes of ``source``) → ``(text, encoding)``; text has ``\\n`` line ends.

    ``forced`` names an encoding to use (bytes it cannot decode are replaced). Never raises on bad
    bytes; an unknown ``forced`` encoding name raises ``ValueError``. The last result is cached by
    identity of ``data``, so detection followed by a reader's own ``decode`` costs one decoding.
    """
    d = decoded(data, source, forced)
    return d.text, d.encoding


def decoded(data: bytes, source: str, forced: str | None = None) -> Decoded:
    """:func:`decode` with the damage report (:class:`Decoded`); same cache."""
    last = getattr(_cache, "last", None)
    if last is not None and last[0] is data and last[1] == forced:
        return last[2]
    result = _decode(data, source, forced)
    if isinstance(result, tuple):
        result = Decoded(*result)
    _cache.last = (data, forced, result)
    return result


_ENC_LABEL = {"gb18030": "GBK", "utf-8": "UTF-8"}
LINE_DECODE_MIN_SHARE = 0.5
"""A line-by-line decode is used when at least this share of the lines with non-ASCII bytes decode
strictly in UTF-8 or GB18030 (else charset-normalizer is asked)."""
AMBIGUOUS_UTF8_BYTES = 6
"""A line valid both as UTF-8 and as GB18030 is read as UTF-8 when it has at least this many
non-ASCII bytes (two CJK characters: chance UTF-8 validity is rare), else in the file's main encoding."""


def _strict(line: bytes, enc: str) -> str | None:
    try:
        return line.decode(enc)
    except UnicodeDecodeError:
        return None


def _bad_column(line: bytes, enc: str) -> int:
    """1-based character column of the first byte of ``line`` that ``enc`` cannot decode (or of a NUL)."""
    nul = line.find(b"\x00")
    try:
        line.decode(enc)
        start = nul
    except UnicodeDecodeError as exc:
        start = exc.start if nul < 0 else min(exc.start, nul)
    return len(line[: max(start, 0)].decode(enc, errors="replace")) + 1


def _blank_nul_lines(text: str, encoding: str, source: str) -> Decoded:
    """Lines of a validly decoded text that hold NUL bytes (binary debris, not chat) blanked and
    reported as damaged, like the undecodable lines of :func:`decode_lines`."""
    lines = text.split("\n")
    damaged = [(i + 1, ln.replace("\x00", "\ufffd"), f"NUL byte at column {ln.index(chr(0)) + 1}")
               for i, ln in enumerate(lines) if "\x00" in ln]
    for ln, _, _ in damaged:
        lines[ln - 1] = ""
    log.warning("%s: %d line(s) with NUL bytes rejected", source, len(damaged))
    return Decoded("\n".join(lines), encoding, damaged, 0)


def _utf8_cjk_runs(data: bytes) -> np.ndarray:
    """Byte offsets where three UTF-8 CJK characters (``E4..E9`` lead + two continuation bytes) start
    in a row: in a file that decodes as GB18030, a hint of UTF-8 lines (numpy, ≈ 10 ms per MB)."""
    a = np.frombuffer(data, dtype=np.uint8)
    if len(a) < 9:
        return np.zeros(0, dtype=np.int64)
    lead = (a >= 0xE4) & (a <= 0xE9)
    cont = (a & 0xC0) == 0x80
    char = lead[:-2] & cont[1:-1] & cont[2:]  # a 3-byte character starts here
    run = char[:-6] & char[3:-3] & char[6:]
    return np.flatnonzero(run)


def _has_utf8_line(data: bytes, max_checks: int = 200) -> bool:
    """Whether a file that decodes as GB18030 holds a line that is valid UTF-8 with CJK characters
    (checked at the first ``max_checks`` :func:`_utf8_cjk_runs` hits only)."""
    checked, last_line = 0, -1
    for pos in _utf8_cjk_runs(data).tolist():
        start = data.rfind(b"\n", 0, pos) + 1
        if start == last_line:
            continue
        last_line = start
        checked += 1
        if checked > max_checks:
            break
        end = data.find(b"\n", pos)
        line = data[start : end if end >= 0 else len(data)]
        if _strict(line, "utf-8") is not None and sum(b >= 0x80 for b in line) >= AMBIGUOUS_UTF8_BYTES:
            return True
    return False


def decode_lines(data: bytes, source: str) -> Decoded | None:
    """Line-by-line decode of bytes that no single encoding explains (see the module docstring), or
    ``None`` when too few lines decode in UTF-8 or GB18030 for this to be a damaged file of either."""
    lines = data.split(b"\n")
    utf8 = [_strict(ln, "utf-8") for ln in lines]
    gb = [_strict(ln, "gb18030") if u is None or not u.isascii() else u for ln, u in zip(lines, utf8, strict=True)]
    non_ascii = [i for i, ln in enumerate(lines) if not ln.isascii()]
    if not non_ascii:
        return None
    n_utf8 = sum(utf8[i] is not None for i in non_ascii)
    n_gb = sum(gb[i] is not None for i in non_ascii)
    n_any = sum(utf8[i] is not None or gb[i] is not None for i in non_ascii)
    if n_any < LINE_DECODE_MIN_SHARE * len(non_ascii):
        return None
    main = "gb18030" if n_gb > n_utf8 else "utf-8"
    out: list[str] = []
    damaged: list[tuple[int, str, str]] = []
    fallback = 0
    for i, ln in enumerate(lines):
        u, g = utf8[i], gb[i]
        if u is not None and g is not None and u is not g:  # valid both ways
            many = sum(b >= 0x80 for b in ln) >= AMBIGUOUS_UTF8_BYTES
            text = u if (main == "utf-8" or many) else g
            fallback += int(text is not (u if main == "utf-8" else g))
        elif u is not None and u is g:  # ASCII
            text = u
        elif u is not None or g is not None:
            text = u if u is not None else g
            fallback += int((main == "utf-8") != (u is not None))
        else:
            text = None
        if text is not None and "\x00" in text:
            text = None
        if text is None:
            raw = ln.decode(main, errors="replace").replace("\x00", "\ufffd").rstrip("\r")
            what = "NUL byte" if b"\x00" in ln and (u is not None or g is not None) else f"invalid {_ENC_LABEL[main]} bytes"
            damaged.append((i + 1, raw, f"{what} at column {_bad_column(ln, main)}"))
            text = ""
        out.append(text)
    log.warning("%s: not valid %s as a whole: decoded line by line (%d line(s) in the other encoding, "
                "%d undecodable line(s) rejected)", source, _ENC_LABEL[main], fallback, len(damaged))
    return Decoded(_normalise_newlines("\n".join(out)), f"{main}+lines", damaged, fallback)


def is_plain_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8 without a byte-order mark, ``\\r`` or NUL: :func:`decode` would
    return it unchanged as ``"utf-8"`` text. Checked by Arrow's UTF-8 validator (the same rules as
    Python's strict codec, ≈ 10x faster, without building a ``str``); the last answer is cached by
    identity of ``data`` (the sniffing step and the reader both ask)."""
    last = getattr(_cache, "plain", None)
    if last is not None and last[0] is data:
        return last[1]
    ok = not data.startswith(codecs.BOM_UTF8) and b"\r" not in data and b"\x00" not in data
    if ok:
        big = len(data) >= 2**31 - 1
        offsets = np.array([0, len(data)], dtype=np.int64 if big else np.int32)
        arr = pa.Array.from_buffers(pa.large_string() if big else pa.string(), 1,
                                    [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:
            ok = False
    _cache.plain = (data, ok)
    return ok


def decode_head(data: bytes, chars: int) -> str:
    """``decode(data)[0][:chars]`` for :func:`is_plain_utf8` data, decoding at most ``4 * chars`` bytes."""
    cut = min(len(data), 4 * chars)
    while 0 < cut < len(data) and (data[cut] & 0xC0) == 0x80:  # not inside a character
        cut -= 1
    return data[:cut].decode("utf-8")[:chars]


def _decode(data: bytes, source: str, forced: str | None) -> tuple[str, str]:
    if forced:
        try:
            codecs.lookup(forced)
        except LookupError:
            raise ValueError(f"{source}: unknown encoding {forced!r}") from None
        try:
            return _normalise_newlines(data.decode(forced)), forced
        except UnicodeDecodeError:
            log.warning("%s: not valid %s; undecodable bytes replaced", source, forced)
            return _normalise_newlines(data.decode(forced, errors="replace")), f"{forced}+replace"
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _normalise_newlines(data[len(bom) :].decode(enc.removesuffix("-sig"))), enc
            except UnicodeDecodeError:
                if enc == "utf-8-sig" and (by_line := decode_lines(data[len(bom) :], source)) is not None:
                    return by_line
                return _normalise_newlines(data[len(bom) :].decode(enc, errors="replace")), f"{enc}+replace"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            log.warning("%s: file ends inside a UTF-8 character (truncated?)", source)
            return _normalise_newlines(data.decode("utf-8", errors="replace")), "utf-8"
    else:
        if "\x00" not in text:
            return _normalise_newlines(text), "utf-8"
        if not _looks_utf16(data):  # valid UTF-8 with NUL bytes: those lines are debris
            return _blank_nul_lines(_normalise_newlines(text), "utf-8", source)
        # (ASCII-heavy UTF-16 without a BOM is valid UTF-8 too: read it as UTF-16 below)
    u16 = _looks_utf16(data)
    if u16:
        whole = data[: len(data) - len(data) % 2]  # an odd last byte: a truncated file
        try:
            text = whole.decode(u16)
        except UnicodeDecodeError:
            pass
        else:
            if len(whole) < len(data):
                log.warning("%s: %s file ends inside a character (truncated?): last byte dropped", source, u16)
            return _normalise_newlines(text), u16
    if b"\x00" not in data:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            pass
        else:
            if _has_utf8_line(data) and (by_line := decode_lines(data, source)) is not None and by_line.fallback_lines:
                return by_line  # GB18030 "decodes" UTF-8 lines too, as nonsense: they are read as UTF-8
            return _normalise_newlines(text), "gb18030"
    if data.count(b"\x00") <= max(4, len(data) // 100) and (by_line := decode_lines(data, source)) is not None:
        return by_line
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # noqa: BLE001 - a detector failure must not stop the batch
        best = None
    if best is not None and b"\x00" not in data:
        enc = best.encoding
        log.info("%s: encoding guessed by charset-normalizer: %s", source, enc)
        return _normalise_newlines(str(best)), enc
    log.warning("%s: no encoding explains these bytes; undecodable bytes replaced", source)
    return _normalise_newlines(data.decode("utf-8", errors="replace")), "utf-8+replace"


def detect_format(raw: RawFile, text: str | None, readers: Mapping[str, Reader] | None = None) -> str | None:
    """Name of the reader most confident that ``raw`` is its format, or ``None`` if none is.

    ``readers`` maps format names to reader modules (default: :func:`csaudit.io.registry.readers`),
    most likely first: a score of at least ``SURE_SCORE`` stops the search.
    """
    if readers is None:
        readers = registry.readers()
    head = text[:SNIFF_BYTES] if text is not None else None
    scores: dict[str, float] = {}
    for name, mod in readers.items():  # in the caller's order of likelihood
        try:
            scores[name] = float(mod.sniff(raw, head))
        except Exception as exc:  # noqa: BLE001 - one sniffer's bug must not stop detection
            log.debug("%s: sniffer %s failed: %s", raw.source, name, exc)
            scores[name] = 0.0
        if scores[name] >= SURE_SCORE:
            break
    if not scores:
        return None
    name = max(scores, key=lambda k: scores[k])
    if scores[name] < MIN_SNIFF_SCORE:
        log.info("%s: format not recognised (best guess %s at %.2f)", raw.source, name, scores[name])
        return None
    ranked = ", ".join(f"{k} {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1]) if v > 0)
    log.debug("%s: detected format %s (%s)", raw.source, name, ranked)
    return name
