"""csaudit.text: the vectorised :func:`clean_text` equals :func:`clean_one` on every input."""

from __future__ import annotations

import unicodedata

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from csaudit.text import NFC_SAFE_RANGES, clean_one, clean_text

_SPECIAL = "\r\n\t \u3000\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2066\u2069\ufeff\u00ad" \
    "\u0301\u0308\u0327\u030a\u1100\u1161\u11a8eAo\u00e9\u5ba2\uff21"
_TEXT = st.text(alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters(codec="utf-8")), max_size=30)


def _expected(values: list[str | None]) -> list[str | None]:
    return [clean_one(v) if isinstance(v, str) else None for v in values]


def test_clean_text_known_cases() -> None:
    s = pd.Series(["a  \n b \t\r\nc\u3000", "x", None, "e\u0301 \u200b", "\ufeffhi\r", "x", "ｏｋ\u3000\n"])
    out = clean_text(s)
    assert out.dtype == "str"
    assert out.tolist()[:2] == ["a\n b\nc", "x"]
    assert pd.isna(out.iloc[2])
    assert out.tolist()[3:] == ["\u00e9", "hi\n", "x", "ｏｋ\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.none()), max_size=20))
def test_clean_text_equals_clean_one(values: list[str | None]) -> None:
    s = pd.Series(values, dtype="str", index=range(10, 10 + len(values)))
    out = clean_text(s)
    assert list(out.index) == list(s.index)
    got = [v if isinstance(v, str) else None for v in out.tolist()]
    assert got == _expected(values)


def test_nfc_safe_ranges_are_nfc_stable() -> None:
    """Every safe code point: NFC leaves it alone, combining class 0, never the second part of a
    canonical composition (so a string of safe characters is already NFC)."""
    second = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<") and len(parts := d.split()) == 2:
            second.add(int(parts[1], 16))
    bad = [
        hex(cp)
        for a, b in NFC_SAFE_RANGES
        for cp in range(a, b + 1)
        if unicodedata.combining(chr(cp)) or unicodedata.normalize("NFC", chr(cp)) != chr(cp) or cp in second
    ]
    assert bad == []
