"""Masking of personal data in shared reports: phones, landlines, e-mails, WeChat/QQ ids, bank
cards, order numbers and addresses — in message text and in names (customer, sender, agent).

Chat text is shown to people who forward reports (coaching, team meetings), so by default the
reports, the workbook and the saved audit beside them hide what identifies a buyer. Masking is
**length-preserving**: every masked character is replaced by exactly one ``*`` (separators such as
``-`` or spaces are kept), so character offsets computed on the original text (lexicon hits:
``start``/``end``) still index the masked text. Mask first, then HTML-escape and highlight.
Masking is idempotent (masking a masked text changes nothing).

What is masked (compiled once, applied in this order):

* **e-mails** — the part before ``@`` becomes ``*`` (``****@163.com``);
* **WeChat ids** — an id of 5–20 letters, digits, ``_`` or ``-`` after 微信/微信号/VX/WX/V信/weixin/
  wechat (with or without ``:``/``：``/是): the id becomes ``*``, the keyword stays (``vx ******``);
* **QQ numbers** — 5–12 digits after QQ/扣扣 (``QQ ********``);
* **phones** — mainland mobiles ``1[3-9]`` + 9 digits, optionally ``+86``/``86`` in front and
  space/``-``/``.`` separators in a 3-4-4 grouping (``138-1234-5678``, ``138 1234 5678``); the
  first 3 and the last 4 digits stay visible: ``138****5678``;
* **bank cards** — 16–19 digits written in groups of four separated by spaces or dashes
  (``6222 0212 3456 7890 123``): all but the last 4 digits become ``*``;
* **landlines** — an area code ``0xx``/``0xxx`` (in brackets or followed by ``-``/space) and a
  7–8 digit number (``0571-88886666``, ``(010)12345678``, ``021 6888 1234``): the area code and the last 4 digits stay;
* **order numbers** — any other run of at least :data:`ORDER_MIN_DIGITS` digits (Taobao order
  numbers have 18–19, tracking numbers 12–15, unspaced card numbers 16–19): all but the last 4
  digits become ``*``;
* **addresses** — a Chinese street address: an optional administrative prefix (省/市/区/县/镇 …)
  followed by a road/estate name (路/街/道/巷/弄/村/小区/花园/大厦 …) and house numbers
  (号/栋/幢/单元/室/楼 …); the administrative prefix stays, the street and numbers become ``*``.

Each pattern runs once per distinct text, and only on the texts that its vectorised Arrow
pre-filter finds (``@`` for e-mails, ten digits for order numbers …): most chat texts hold
nothing to mask and never reach Python's ``re``.

>>> mask_text("我的手机 138-1234-5678，订单 3912345678901234567")
'我的手机 138-****-5678，订单 ***************4567'
>>> mask_text("寄到浙江省杭州市西湖区文三路88号2单元301室")
'寄到浙江省杭州市西湖区*************'
>>> mask_text("加我微信号: abc_12345 或 QQ 12345678，邮箱 bob.li@163.com")
'加我微信号: ********* 或 QQ ********，邮箱 ******@163.com'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

ORDER_MIN_DIGITS = 10
"""A run of at least this many digits (that is not a phone number) is treated as an order number."""

_D = r"[0-9０-９]"
_NOT_D_BEFORE = r"(?<![0-9０-９])"
_NOT_D_AFTER = r"(?![0-9０-９])"
_SEP = r"[ \-.\u2010-\u2015－]?"
PHONE_RE = re.compile(
    rf"{_NOT_D_BEFORE}(?:(?:\+|＋)?(?:86|８６){_SEP})?[1１][3-9３-９]{_D}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}{_NOT_D_AFTER}"
)
ORDER_RE = re.compile(rf"{_NOT_D_BEFORE}{_D}{{{ORDER_MIN_DIGITS},}}{_NOT_D_AFTER}")

_ID_CHARS = r"A-Za-z0-9_\-"
EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])(?P<local>[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63}))(?P<rest>[@＠][A-Za-z0-9\-]+"
    r"(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"
)
_WECHAT_KEY = r"(?:微信号?|威信|薇信|[vVＶｖ][信xXｘＸ]|[wWｗＷ][xXｘＸ]|weixin|wechat)"
_SAY = r"(?:号|号码|账号|id|ID)?[ \t]*(?:[:：=]|是|为)?[ \t]*"
WECHAT_RE = re.compile(
    rf"(?<![A-Za-z]){_WECHAT_KEY}{_SAY}(?P<id>[A-Za-z0-9][{_ID_CHARS}]{{4,19}})(?![{_ID_CHARS}])",
    re.IGNORECASE,
)
QQ_RE = re.compile(
    rf"(?<![A-Za-z])(?:[qQｑＱ]{{2}}|扣扣){_SAY}(?P<id>{_D}{{5,12}}){_NOT_D_AFTER}",
)
_G = r"[ \-－]"
CARD_RE = re.compile(rf"{_NOT_D_BEFORE}{_D}{{4}}(?:{_G}{_D}{{4}}){{3}}(?:{_G}{_D}{{1,3}})?{_NOT_D_AFTER}")
LANDLINE_RE = re.compile(
    rf"{_NOT_D_BEFORE}(?P<area>(?:[(（]0{_D}{{2,3}}[)）][ ]?)|(?:0{_D}{{2,3}}[ \-－]))"
    rf"(?P<number>{_D}{{3,4}}[ \-－]?{_D}{{4}})(?P<ext>(?:[\-－转]{_D}{{1,6}})?){_NOT_D_AFTER}"
)

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


def _last4(m: re.Match[str]) -> str:
    return _star_digits(m.group(0), 0, 4)


def _address(m: re.Match[str]) -> str:
    return m.group("admin") + "*" * len(m.group("detail"))


def _email(m: re.Match[str]) -> str:
    return "*" * len(m.group("local")) + m.group("rest")


def _id(m: re.Match[str]) -> str:
    a, b = m.span("id")
    s, base = m.group(0), m.start()
    return s[: a - base] + "*" * (b - a) + s[b - base :]


def _landline(m: re.Match[str]) -> str:
    return m.group("area") + _star_digits(m.group("number"), 0, 4) + m.group("ext")


_NUMC = r"[0-9０-９一二三四五六七八九十百零〇A-Za-zＡ-Ｚ#＃\-－]"
_PASSES: tuple[tuple[re.Pattern[str], object, str], ...] = (
    # (pattern, replacement, what every text it can match contains: an Arrow/RE2 pre-filter)
    (EMAIL_RE, _email, r"[@＠]"),
    (WECHAT_RE, _id, r"微信|威信|薇信|[vVｖＶ][信xXｘＸ]|[wWｗＷ][xXｘＸ]|(?i:weixin|wechat)"),
    (QQ_RE, _id, r"[qQｑＱ][qQｑＱ]|扣扣"),
    (PHONE_RE, _phone, r"[1１][3-9３-９][0-9０-９]"),
    (CARD_RE, _last4, r"[0-9０-９]{4}[ \-－][0-9０-９]{4}"),
    (LANDLINE_RE, _landline, r"0[0-9０-９]{2}"),
    (ORDER_RE, _last4, r"[0-9０-９]{10}"),
    (ADDRESS_RE, _address, rf"{_NUMC}(?:号|栋|幢|座|单元|楼|层|室|户|弄|期|区)"),
)


def mask_text(text: str) -> str:
    """``text`` with every kind of personal data above masked; same length as ``text``."""
    if not isinstance(text, str) or not text:
        return text
    out = text
    for pattern, repl, _ in _PASSES:
        out = pattern.sub(repl, out)  # type: ignore[call-overload]
    return out


def _mask_distinct(values: pd.Series) -> pd.Series:
    """:func:`mask_text` of distinct, non-missing ``str`` values: each pass only on the values its
    vectorised pre-filter finds (most texts hold nothing to mask)."""
    out = values.reset_index(drop=True)
    for pattern, repl, pre in _PASSES:
        hit = out.str.contains(pre, regex=True).to_numpy(dtype=bool, na_value=False)
        if hit.any():
            done = [pattern.sub(repl, t) for t in out[hit]]  # type: ignore[call-overload]
            out = out.copy()
            out[hit] = done
    return out


def mask_series(s: pd.Series) -> pd.Series:
    """The values of ``s`` masked (:func:`mask_text`), once per distinct value; missing stays
    missing; a new Series of the same dtype (categoricals stay categorical)."""
    if len(s) == 0:
        return s.copy()
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = pd.Series(s.cat.categories.astype("str"))
        masked = pd.Index(mask_series(cats), dtype=object).take(s.cat.codes.to_numpy(), allow_fill=True, fill_value=None)
        return pd.Series(masked, index=s.index, name=s.name, dtype="str").astype("category")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    texts = pd.Series(uniques, dtype="str") if s.dtype == "str" else pd.Series([str(u) for u in uniques], dtype="str")
    isstr = [isinstance(u, str) for u in uniques] if s.dtype != "str" else None
    masked = _mask_distinct(texts)
    vals = pd.Index(masked.to_numpy(dtype=object), dtype=object)
    if isstr is not None:  # non-text values of an object column stay as they are
        vals = pd.Index([m if ok else u for m, ok, u in zip(vals, isstr, uniques, strict=True)], dtype=object)
    values = vals.take(codes, allow_fill=True, fill_value=None)
    return pd.Series(values, index=s.index, name=s.name, dtype=s.dtype if s.dtype != object else object)


def mask_frame(df: pd.DataFrame, columns: Iterable[str] = ("text",)) -> pd.DataFrame:
    """A copy of ``df`` with the named text columns masked (absent columns are ignored)."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = mask_series(out[col])
    return out


def unique_masks(names: Iterable[str]) -> dict[str, str]:
    """``{name: masked name}`` for account names that must stay distinct after masking (agents:
    one report per agent). Names that would collapse into one masked name get ``#2``, ``#3`` … in
    order of first appearance."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if not isinstance(name, str) or name in out:
            continue
        m = mask_text(name)
        if m in used:
            k = 2
            while f"{m}#{k}" in used:
                k += 1
            m = f"{m}#{k}"
        out[name] = m
        used.add(m)
    return out


def _map_names(s: pd.Series, mapping: dict[str, str], joined: bool = False) -> pd.Series:
    """``s`` with every name replaced through ``mapping`` (``joined``: names joined with ``|``)."""
    if not len(s):
        return s.copy()
    if joined:
        def one(v: object) -> object:
            return "|".join(mapping.get(p, mask_text(p)) for p in v.split("|")) if isinstance(v, str) else v
    else:
        def one(v: object) -> object:
            return mapping.get(v, mask_text(v)) if isinstance(v, str) else v
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = pd.Index([one(u) for u in uniques], dtype=object).take(codes, allow_fill=True, fill_value=None)
    return pd.Series(values, index=s.index, name=s.name).astype(s.dtype if s.dtype != object else object)


AUDIT_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "messages": ("text", "customer", "sender", "source"),
    "turns": ("text",),
    "conversations": ("customer", "order_id"),
    "rounds": ("customer",),
    "hits": ("text",),
    "orders": ("customer", "order_id"),
    "unreplied": ("customer", "text"),
    "lost_inquiries": ("customer", "text"),
    "keywords": ("keyword",),
}
"""Columns of a saved audit that :func:`mask_audit` masks like text (the same value masks the same
way in every table, so joins on them still work). Agent names are masked through :func:`unique_masks`."""


def mask_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Masked copies of an audit's tables (by table name; absent tables are fine): the columns of
    :data:`AUDIT_TEXT_COLUMNS` like text, agent names through :func:`unique_masks` (distinct names
    stay distinct), and ``hits.term`` re-read from the masked text at ``[start, end)`` so that
    ``text[start:end] == term`` still holds. Hit offsets stay valid (masking keeps lengths)."""
    names: list[str] = []
    for tname in ("agents", "conversations", "messages"):
        t = tables.get(tname)
        if t is not None and "agent" in t:
            names.extend(t["agent"].dropna().unique().tolist())
    mapping = unique_masks(names)
    out_tables: dict[str, pd.DataFrame] = {}
    for tname, df in tables.items():
        out = mask_frame(df, AUDIT_TEXT_COLUMNS.get(tname, ()))
        for col in ("agent", "responder"):
            if col in out:
                out[col] = _map_names(out[col], mapping)
        if "agents" in out and tname == "conversations":
            out["agents"] = _map_names(out["agents"], mapping, joined=True)
        if tname == "hits" and {"text", "start", "end", "term"} <= set(out.columns) and len(out):
            # only where masking changed the message: the term is the masked text at [start, end)
            redo = (out["text"] != df["text"]).fillna(False) & out["start"].notna() & out["end"].notna()
            if redo.any():
                rows = out.loc[redo]
                terms = [t[int(a):int(b)] for t, a, b in zip(rows["text"], rows["start"], rows["end"], strict=True)]
                out.loc[redo, "term"] = pd.Series(terms, index=rows.index, dtype=out["term"].dtype)
        out_tables[tname] = out
    return out_tables


def mask_audit(result: object) -> object:
    """A copy of an :class:`csaudit.audit.Audit` with every table masked (:func:`mask_tables`) and
    ``meta["masked"] = True``; the original is untouched."""
    import dataclasses

    tables = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)  # type: ignore[arg-type]
              if isinstance(getattr(result, f.name), pd.DataFrame)}
    meta = {**result.meta, "masked": True}  # type: ignore[attr-defined]
    return dataclasses.replace(result, **mask_tables(tables), meta=meta)  # type: ignore[type-var]


def mask_saved_audit(src: str | Path, dst: str | Path, raw_data: list[str] | None = None) -> dict[str, str]:
    """Write a masked copy of the saved audit folder ``src`` (every ``<table>.parquet`` plus
    ``meta.json`` with ``masked: true`` and ``raw_data``) to ``dst``; other files are not copied
    (an ``agents.csv`` would hold raw names). Returns ``{raw agent name: masked name}``."""
    import json

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    tables = {p.stem: pd.read_parquet(p) for p in sorted(src.glob("*.parquet"))}
    masked = mask_tables(tables)
    for name, df in masked.items():
        df.to_parquet(dst / f"{name}.parquet", index=False)
    meta = json.loads((src / "meta.json").read_text(encoding="utf-8"))
    meta.update(masked=True, raw_data=list(raw_data or [str(src.resolve())]))
    (dst / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    if "agents" in tables and "agent" in tables["agents"]:
        return dict(zip(tables["agents"]["agent"], masked["agents"]["agent"], strict=True))
    return {}
