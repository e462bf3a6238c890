"""Masking of personal data in report text: phone numbers, order numbers and addresses.

Chat text is shown to people who forward reports (coaching, team meetings), so by default the
reports hide what identifies a buyer. Masking is **length-preserving**: every masked character is
replaced by exactly one ``*`` (separators such as ``-`` or spaces are kept), so character offsets
computed on the original text (lexicon hits: ``start``/``end``) still index the masked text.
Mask first, then HTML-escape and highlight.

What is masked (compiled once):

* **phones** — mainland mobiles ``1[3-9]`` + 9 digits, optionally ``+86``/``86`` in front and
  space/``-``/``.`` separators in a 3-4-4 grouping (``138-1234-5678``, ``138 1234 5678``); the
  first 3 and the last 4 digits stay visible: ``138****5678``.
* **order numbers** — any other run of at least :data:`ORDER_MIN_DIGITS` digits (Taobao order
  numbers have 18–19, tracking numbers 12–15): all but the last 4 digits become ``*``.
* **addresses** — a Chinese street address: an optional administrative prefix (省/市/区/县/镇 …)
  followed by a road/estate name (路/街/道/巷/弄/村/小区/花园/大厦 …) and house numbers
  (号/栋/幢/单元/室/楼 …); the administrative prefix stays, the street and numbers become ``*``.

>>> mask_text("我的手机 138-1234-5678，订单 3912345678901234567")
'我的手机 138-****-5678，订单 ***************4567'
>>> mask_text("寄到浙江省杭州市西湖区文三路88号2单元301室")
'寄到浙江省杭州市西湖区*************'
"""

from __future__ import annotations

import re

import pandas as pd

ORDER_MIN_DIGITS = 10
"""A run of at least this many digits (that is not a phone number) is treated as an order number."""

_D = r"[0-9０-９]"
_SEP = r"[ \-.\u2010-\u2015－]?"
PHONE_RE = re.compile(
    rf"(?<![0-9０-９])(?:(?:\+|＋)?(?:86|８６){_SEP})?[1１][3-9３-９]{_D}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}(?![0-9０-９])"
)
ORDER_RE = re.compile(rf"(?<![0-9０-９]){_D}{{{ORDER_MIN_DIGITS},}}(?![0-9０-９])")

_HAN = r"\u4e00-\u9fff"
_ADMIN = rf"(?:[{_HAN}]{{1,10}}?(?:省|自治区|特别行政区|市|自治州|地区|盟|区|县|旗|镇|乡|街道))"
_PLACE = r"(?:大道|路|街|道|巷|弄|胡同|里|村|组|小区|花园|公寓|大厦|广场|苑|园|城|中心|工业区|园区)"
_NUM = r"[0-9０-９一二三四五六七八九十百零〇A-Za-zＡ-Ｚ#＃\-－]"
_UNIT = r"(?:号楼|号院|号|栋|幢|座|单元|楼|层|室|户|弄|期|区)"
ADDRESS_RE = re.compile(
    rf"(?P<admin>{_ADMIN}*)"
    rf"(?P<detail>[{_HAN}A-Za-z0-9０-９]{{1,16}}?{_PLACE}(?:{_NUM}+{_UNIT})+(?:[{_HAN}]{{0,6}}?{_NUM}+{_UNIT})*)"
)


def _star_digits(s: str, keep_head: int, keep_tail: int) -> str:
    """Replace digits by ``*`` except the first ``keep_head`` and last ``keep_tail`` digits."""
    idx = [i for i, ch in enumerate(s) if ch.isdigit()]
    hide = set(idx[keep_head : len(idx) - keep_tail if keep_tail else None])
    return "".join("*" if i in hide else ch for i, ch in enumerate(s))


def _phone(m: re.Match[str]) -> str:
    s = m.group(0)
    digits = [i for i, ch in enumerate(s) if ch.isdigit()]
    # with a country code, keep 86 + the first 3 digits of the number itself
    head = 5 if len(digits) == 13 else 3
    return _star_digits(s, head, 4)


def _order(m: re.Match[str]) -> str:
    return _star_digits(m.group(0), 0, 4)


def _address(m: re.Match[str]) -> str:
    return m.group("admin") + "*" * len(m.group("detail"))


def mask_text(text: str) -> str:
    """``text`` with phones, order numbers and addresses masked; same length as ``text``."""
    if not isinstance(text, str) or not text:
        return text
    out = PHONE_RE.sub(_phone, text)
    out = ORDER_RE.sub(_order, out)
    out = ADDRESS_RE.sub(_address, out)
    return out


def mask_series(s: pd.Series) -> pd.Series:
    """:func:`mask_text` on each distinct value of ``s`` (missing stays missing); a new Series."""
    if len(s) == 0:
        return s.copy()
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    masked = pd.Index([mask_text(u) for u in uniques], dtype=object)
    values = masked.take(codes, allow_fill=True, fill_value=None)
    return pd.Series(values, index=s.index, dtype=s.dtype if s.dtype != object else object, name=s.name)


def mask_frame(df: pd.DataFrame, columns: list[str] | tuple[str, ...] = ("text",)) -> pd.DataFrame:
    """A copy of ``df`` with the named text columns masked (absent columns are ignored)."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = mask_series(out[col])
    return out
