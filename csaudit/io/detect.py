"""Encoding and format detection.

:func:`decode` turns a file's bytes into text: a byte-order mark wins (UTF-8, UTF-16 LE/BE), then
strict UTF-8, then GB18030 (a superset of GBK/GB2312, what Chinese Windows tools write), then
UTF-16 without a BOM (recognised by its NUL bytes), then charset-normalizer as a last resort. Line
ends are normalised to ``\\n``. Bytes that no encoding explains are replaced (U+FFFD) and the
encoding is reported with a ``+replace`` suffix, so a broken file still yields lines that end up as
rejects instead of an exception.

:func:`detect_format` asks every registered reader how sure it is (``sniff`` → 0..1) and picks the
most confident one, logging what it guessed.
"""

from __future__ import annotations

import codecs
import logging
import threading
from collections.abc import Mapping
from types import ModuleType

import numpy as np
import pyarrow as pa

from csaudit.io.base import RawFile

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


def decode(data: bytes, source: str, forced: str | None = None) -> tuple[str, str]:
    """Decode ``data`` (the bytes of ``source``) → ``(text, encoding)``; text has ``\\n`` line ends.

    ``forced`` names an encoding to use (bytes it cannot decode are replaced). Never raises on bad
    bytes; an unknown ``forced`` encoding name raises ``ValueError``. The last result is cached by
    identity of ``data``, so detection followed by a reader's own ``decode`` costs one decoding.
    """
    last = getattr(_cache, "last", None)
    if last is not None and last[0] is data and last[1] == forced:
        return last[2]
    result = _decode(data, source, forced)
    _cache.last = (data, forced, result)
    return result


def is_plain_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8 without a byte-order mark or ``\\r``: :func:`decode` would
    return it unchanged as ``"utf-8"`` text. Checked by Arrow's UTF-8 validator (the same rules as
    Python's strict codec, ≈ 10x faster, without building a ``str``); the last answer is cached by
    identity of ``data`` (the sniffing step and the reader both ask)."""
    last = getattr(_cache, "plain", None)
    if last is not None and last[0] is data:
        return last[1]
    ok = not data.startswith(codecs.BOM_UTF8) and b"\r" not in data
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
                return _normalise_newlines(data[len(bom) :].decode(enc, errors="replace")), f"{enc}+replace"
    try:
        return _normalise_newlines(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            log.warning("%s: file ends inside a UTF-8 character (truncated?)", source)
            return _normalise_newlines(data.decode("utf-8", errors="replace")), "utf-8"
    u16 = _looks_utf16(data)
    if u16:
        try:
            return _normalise_newlines(data.decode(u16)), u16
        except UnicodeDecodeError:
            pass
    if b"\x00" not in data:
        try:
            return _normalise_newlines(data.decode("gb18030")), "gb18030"
        except UnicodeDecodeError:
            pass
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


def detect_format(raw: RawFile, text: str | None, readers: Mapping[str, ModuleType] | None = None) -> str | None:
    """Name of the reader most confident that ``raw`` is its format, or ``None`` if none is.

    ``readers`` maps format names to reader modules (default: the registry of ``csaudit.io.chats``),
    most likely first: a score of at least ``SURE_SCORE`` stops the search.
    """
    if readers is None:
        from csaudit.io.chats import readers as _registry

        readers = _registry()
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
