"""Text clean-up and normalisation shared by readers and metrics.

* :func:`clean_text` — what we store: NFC, CRLF/CR → LF, zero-width and direction marks removed,
  trailing whitespace of each line trimmed. Original script (Traditional/Simplified) is kept.
* :func:`normalize_for_match` — what we match lexicons on: per character NFKC (full-width → half-width),
  Traditional → Simplified (OpenCC ``t2s``) and ASCII lower-case, **one output character per input
  character**, so an offset found in the normalised text indexes the original text.

All functions take and return a pandas Series and work on distinct values only (chat text repeats a
lot), so their cost grows with the number of distinct texts, not messages.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# zero-width space/joiners, word joiner, BOM, LRM/RLM, bidi embeddings/overrides/isolates, soft hyphen
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
_TRAILING_WS = re.compile(r"[ \t\u3000]+(?=\n|$)")


def clean_one(text: str) -> str:
    """Clean one string (see module docstring)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return _TRAILING_WS.sub("", text)


# the same classes for RE2 (Arrow): no look-ahead, so the line end is captured and put back
_INVISIBLE_RE2 = "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]"
_TRAILING_WS_RE2 = "[ \t\u3000]+(\n|$)"
_NEEDS_CLEAN_RE2 = "\r|" + _INVISIBLE_RE2 + "|" + _TRAILING_WS_RE2

NFC_SAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x02FF), (0x2002, 0x20CF), (0x2100, 0x2125), (0x2127, 0x2129), (0x212C, 0x2328),
    (0x232B, 0x2ADB), (0x2ADD, 0x2BFF), (0x3000, 0x3029), (0x3030, 0x3098), (0x309B, 0x30FF),
    (0x4E00, 0x9FFF), (0xFF00, 0xFFEF), (0x1F000, 0x1FAFF),
)
"""Code points that are unchanged by NFC, have combining class 0 and never compose with a
preceding character (checked against :mod:`unicodedata` in the tests): a string made only of
these is already NFC, so it is not passed to the (slower) NFC detector."""
_MAYBE_NOT_NFC_RE2 = "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in NFC_SAFE_RANGES) + "]"


def _nfc_changes(arr: pa.Array) -> np.ndarray:
    """Boolean mask of the strings NFC (Arrow's utf8proc) would change. Used only as a detector:
    the flagged strings are normalised by :mod:`unicodedata`, exactly as :func:`clean_one` does."""
    return pc.not_equal(pc.utf8_normalize(arr, "NFC"), arr).fill_null(False).to_numpy(zero_copy_only=False)


def clean_arrow(arr: pa.Array) -> pa.Array:
    """:func:`clean_one` of every string of an Arrow string array (nulls stay null), vectorised.

    Only strings that need it are touched: CR, invisible marks or trailing blanks (one RE2 scan,
    which also picks the strings with a character outside :data:`NFC_SAFE_RANGES`) or not in NFC
    (utf8proc, on those picked strings only). Those get CRLF/CR → LF and mark removal by Arrow kernels;
    the few whose NFC differs are normalised by :mod:`unicodedata` (same Unicode version as
    :func:`clean_one`); then trailing blanks are trimmed. Same result as :func:`clean_one`.
    """
    if len(arr) == 0:
        return arr
    cand = pc.match_substring_regex(arr, _NEEDS_CLEAN_RE2 + "|" + _MAYBE_NOT_NFC_RE2)
    idx = np.flatnonzero(cand.fill_null(False).to_numpy(zero_copy_only=False))
    if len(idx) == 0:
        return arr
    sub = arr.take(pa.array(idx))
    need_sub = pc.match_substring_regex(sub, _NEEDS_CLEAN_RE2).fill_null(False).to_numpy(zero_copy_only=False)
    need_sub |= _nfc_changes(sub)
    idx = idx[need_sub]
    if len(idx) == 0:
        return arr
    need = np.zeros(len(arr), dtype=bool)
    need[idx] = True
    sub = arr.take(pa.array(idx))
    sub = pc.replace_substring(sub, "\r\n", "\n")
    sub = pc.replace_substring(sub, "\r", "\n")
    sub = pc.replace_substring_regex(sub, _INVISIBLE_RE2, "")
    nfc = np.flatnonzero(_nfc_changes(sub))
    if len(nfc):
        vals = sub.to_pylist()
        for i in nfc:
            vals[i] = unicodedata.normalize("NFC", vals[i])
        sub = pa.array(vals, type=pa.string())
    sub = pc.replace_substring_regex(sub, _TRAILING_WS_RE2, "\\1")
    return pc.replace_with_mask(arr, pa.array(need), sub)


def _map_distinct(s: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` once per distinct non-missing value of ``s``."""
    if len(s) == 0:
        return s.astype("str")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = pd.Index([fn(u) for u in uniques], dtype="str")
    out = pd.Series(mapped.take(codes, allow_fill=True, fill_value=None), index=s.index, dtype="str")
    return out


def clean_text(s: pd.Series) -> pd.Series:
    """Stored form of message text (NFC, LF line ends, no invisible marks); :func:`clean_one` of
    each value, computed once per distinct value with Arrow kernels (:func:`clean_arrow`)."""
    if len(s) == 0:
        return s.astype("str")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    try:
        arr = pa.array(np.asarray(uniques, dtype=object), type=pa.string())
    except (pa.ArrowException, UnicodeEncodeError):  # e.g. lone surrogates: not valid UTF-8
        return _map_distinct(s, clean_one)
    cleaned = pd.Index(clean_arrow(arr).to_pandas(), dtype="str")
    return pd.Series(cleaned.take(codes, allow_fill=True, fill_value=None), index=s.index, dtype="str")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _nfkc_char(ch: str) -> str:
    n = unicodedata.normalize("NFKC", ch)
    return n if len(n) == 1 else ch


@lru_cache(maxsize=1)
def _width_table() -> dict[int, str]:
    """Full-width ASCII and ideographic space → half-width; other single-char NFKC folds."""
    table: dict[int, str] = {0x3000: " "}
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = chr(cp - 0xFEE0)
    for cp in list(range(0x2000, 0x2070)) + list(range(0x2460, 0x24FF)) + list(range(0xFF5F, 0xFFEF)):
        n = _nfkc_char(chr(cp))
        if n != chr(cp):
            table[cp] = n
    return table


def to_simplified_one(text: str) -> str:
    """Traditional → Simplified for one string, keeping its length (char-wise fallback)."""
    out = _t2s().convert(text)
    if len(out) != len(text):
        conv = _t2s().convert
        out = "".join(c if len(c := conv(ch)) == 1 else ch for ch in text)
    return out


def normalize_one(text: str) -> str:
    """Normalised form of one string for matching; ``len(result) == len(text)``."""
    out = to_simplified_one(text.translate(_width_table())).lower()
    if len(out) != len(text):  # lower() can change length for a few non-ASCII letters
        out = "".join(c if len(c) == 1 else o for c, o in zip(out, text, strict=False))[: len(text)]
        out = out.ljust(len(text))
    return out


def normalize_for_match(s: pd.Series) -> pd.Series:
    """Lexicon-matching form (see module docstring). Same index, same length per string."""
    return _map_distinct(s, normalize_one)


def to_simplified(s: pd.Series) -> pd.Series:
    """Traditional → Simplified (used before sentiment scoring)."""
    return _map_distinct(s, to_simplified_one)
