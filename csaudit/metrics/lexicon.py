"""Lexicons (politeness, negative phrases, customer signals) and phrase matching.

Lexicons are data: ``csaudit/lexicons/{politeness,negative,customer}.toml``, one ``[[category]]`` table
per category (``category, severity, side, terms, whitelist, suggestion`` and optional ``mode``).
A shop file named in ``Config.lexicon.files`` adds terms, removes terms (``remove = [...]``) or
overrides a category's ``severity``/``suggestion``/``side``; ``Config.lexicon.disabled_categories``
switches categories off.

Matching rules (:func:`find_hits`):

* on :func:`csaudit.text.normalize_one` text (NFKC width folding, Traditional → Simplified, ASCII
  lower-case; length-preserving, so offsets index the original text);
* one Aho-Corasick automaton per side over all terms, whitelist phrases and positive markers;
* the longest match wins: a term lying inside a longer matched term never counts, and of partially
  overlapping matches the longest (then the leftmost) is kept — no text is counted twice;
* a term lying inside an occurrence of one of its category's whitelist phrases does not hit;
* terms beginning/ending with an ASCII letter or digit only hit as whole tokens (``vx`` not in ``vxe``,
  ``12315`` not inside a longer number);
* ``mode = "whole"``: the message, trimmed of whitespace and punctuation, is exactly one term
  (a lone 嗯 hits ``curt``; 嗯嗯好的 does not);
* ``mode = "after_positive"``: the term hits only when one of the category's ``positive`` phrases
  ends before it in the same message (好的，但是… hits ``contradiction``);
* agent-side categories match only ``role == "agent"`` rows (auto_reply, bot and system never count
  as agent speech); customer-side categories only ``role == "customer"`` rows.

Work is done once per distinct text and joined back to the messages.
"""

from __future__ import annotations

import itertools
import logging
import tomllib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.arrays import arrow_strings, factorize_runs
from csaudit.config import Config
from csaudit.model import schema
from csaudit.text import _t2s, _width_table, normalize_one

log = logging.getLogger(__name__)

LEXICON_DIR = Path(__file__).resolve().parent.parent / "lexicons"
BUILTIN_FILES = ("politeness.toml", "negative.toml", "customer.toml", "cues.toml")
SEVERITIES = ("info", "minor", "major", "critical")
MODES = ("contains", "whole", "after_positive")
POLITENESS_RATE_CATEGORIES = (
    "greeting",
    "please",
    "thanks",
    "apology",
    "honorific",
    "closing",
    "rating_invite",
)
"""Categories reported as ``<category>_per100`` by :func:`politeness`."""
# characters trimmed around a message before a ``whole``-mode comparison (normalised text)
_TRIM = " \t\n\r\u3000.,!?~;:…、。，！？～；：\"'“”‘’()（）[]【】-—_*^"
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


@dataclass(frozen=True)
class Category:
    """One lexicon category. ``terms``/``whitelist``/``positive`` keep their written form."""

    name: str
    group: str
    """``politeness``, ``negative`` or ``customer`` (shop files may add others)."""
    severity: str
    side: str
    terms: tuple[str, ...]
    whitelist: tuple[str, ...] = ()
    suggestion: str = ""
    mode: str = "contains"
    positive: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    """The term does not count when one of these phrases ends at most ``context_chars`` characters before
    it in the same clause (negation 无法/不能 + 保证, conditionals 如果/要是 + 不行, purpose 为了 + 保证)."""
    not_after: tuple[str, ...] = ()
    """The term does not count when one of these phrases starts at most ``context_chars`` characters after
    it in the same clause (a question: 吗/呢/?; a benign continuation: 微信 + 支付)."""
    context_chars: int = 6
    """Reach of ``not_before``/``not_after`` in characters (a clause ends at punctuation or a space)."""
    not_in_code: bool = False
    """The term does not count inside a short bracketed code such as the emoticon ``[呵呵]``."""
    requires: tuple[str, ...] = ()
    """When given, the term counts only if one of these phrases occurs elsewhere in the same message
    (another span than the term's own; a phrase inside a longer term counts)."""
    requires_terms: tuple[str, ...] = ()
    """The terms ``requires`` applies to (empty: every term); the others count on their own."""
    unless: tuple[str, ...] = ()
    """The term does not count when one of these phrases occurs in the same message."""

    @property
    def has_context(self) -> bool:
        """Whether any context condition is declared."""
        return bool(self.not_before or self.not_after or self.not_in_code or self.requires or self.unless)


def _as_tuple(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: {key} must be a list of strings")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


CONTEXT_KEYS = (
    "not_before", "not_after", "context_chars", "not_in_code", "requires", "requires_terms", "unless"
)
"""Context conditions a ``[[category]]`` may declare (see :class:`Category`)."""
_CONTEXT_LISTS = ("not_before", "not_after", "requires", "requires_terms", "unless")


def _context_fields(entry: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    """The context conditions given in one ``[[category]]`` table (only the keys present)."""
    out: dict[str, Any] = {}
    for key in _CONTEXT_LISTS:
        if key in entry:
            out[key] = _as_tuple(entry[key], where, key)
    if "context_chars" in entry:
        v = entry["context_chars"]
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 32:
            raise ValueError(f"{where}: category {name!r}: context_chars must be an integer in 0..32")
        out["context_chars"] = v
    if "not_in_code" in entry:
        if not isinstance(entry["not_in_code"], bool):
            raise ValueError(f"{where}: category {name!r}: not_in_code must be true or false")
        out["not_in_code"] = entry["not_in_code"]
    return out


def _merged_context(old: Category, ctx: dict[str, Any], remove: set[str]) -> dict[str, Any]:
    """A shop file's context conditions on an existing category: phrase lists are extended (``remove``
    drops phrases too), ``context_chars``/``not_in_code`` replaced."""
    out: dict[str, Any] = {}
    for key in _CONTEXT_LISTS:
        merged = dict.fromkeys(getattr(old, key) + ctx.get(key, ()))
        out[key] = tuple(t for t in merged if t not in remove)
    out["context_chars"] = ctx.get("context_chars", old.context_chars)
    out["not_in_code"] = ctx.get("not_in_code", old.not_in_code)
    return out


def _check(cat: Category, where: str) -> None:
    if cat.severity not in SEVERITIES:
        raise ValueError(f"{where}: category {cat.name!r}: severity must be one of {SEVERITIES}")
    if cat.side not in schema.SIDES:
        raise ValueError(f"{where}: category {cat.name!r}: side must be 'agent' or 'customer'")
    if cat.mode not in MODES:
        raise ValueError(f"{where}: category {cat.name!r}: mode must be one of {MODES}")


def read_toml(path: Path, what: str = "lexicon") -> dict[str, Any]:
    """A lexicon or rule file as a dict; a missing file or bad TOML is an error naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def _apply_file(cats: dict[str, Category], data: dict[str, Any], where: str, shop: bool) -> None:
    """Merge one lexicon file into ``cats`` (in place; ``cats`` is a private working dict)."""
    default_group = data.get("group")
    entries = data.get("category", [])
    if not isinstance(entries, list):
        raise ValueError(f"{where}: expected [[category]] tables")
    known = {
        "category",
        "group",
        "severity",
        "side",
        "terms",
        "whitelist",
        "suggestion",
        "mode",
        "positive",
        "remove",
        *CONTEXT_KEYS,
    }
    for entry in entries:
        name = entry.get("category")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: every [[category]] needs a 'category' name")
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{where}: category {name!r}: unknown key(s) {sorted(unknown)}")
        terms = _as_tuple(entry.get("terms"), where, "terms")
        whitelist = _as_tuple(entry.get("whitelist"), where, "whitelist")
        positive = _as_tuple(entry.get("positive"), where, "positive")
        remove = set(_as_tuple(entry.get("remove"), where, "remove"))
        ctx = _context_fields(entry, where, name)
        old = cats.get(name)
        if old is not None and shop:
            new = replace(
                old,
                terms=tuple(t for t in dict.fromkeys(old.terms + terms) if t not in remove),
                whitelist=tuple(t for t in dict.fromkeys(old.whitelist + whitelist) if t not in remove),
                positive=tuple(dict.fromkeys(old.positive + positive)),
                severity=entry.get("severity", old.severity),
                side=entry.get("side", old.side),
                suggestion=entry.get("suggestion", old.suggestion),
                mode=entry.get("mode", old.mode),
                group=entry.get("group", old.group),
                **_merged_context(old, ctx, remove),
            )
        else:
            side = entry.get("side")
            if side is None:
                raise ValueError(f"{where}: new category {name!r} needs a 'side'")
            group = entry.get("group") or default_group or ("customer" if side == "customer" else "negative")
            new = Category(
                name=name,
                group=group,
                severity=entry.get("severity", "minor"),
                side=side,
                terms=tuple(t for t in terms if t not in remove),
                whitelist=whitelist,
                suggestion=entry.get("suggestion", ""),
                mode=entry.get("mode", "contains"),
                positive=positive,
                **ctx,
            )
        _check(new, where)
        cats[name] = new


@dataclass
class _Side:
    """The compiled matcher of one side (``agent`` or ``customer``); arrays are indexed by key id."""

    automaton: Any  # ahocorasick.Automaton of the keys longer than one character, or None
    key_len: np.ndarray  # int64
    key_cat: np.ndarray  # int64: category id of a term key, -1 when the key is not a term
    key_edge_l: np.ndarray  # bool: the key starts with an ASCII letter/digit (word-edge check)
    key_edge_r: np.ndarray  # bool: the key ends with an ASCII letter/digit
    key_wl: dict[int, frozenset[int]]  # key id -> categories it whitelists
    key_pos: dict[int, frozenset[int]]  # key id -> after_positive categories it is a positive for
    whole: dict[str, int]  # normalised term -> category id, for mode "whole"
    after_positive: frozenset[int]
    key_chars: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))
    """Code points occurring in the automaton's keys (sorted)."""
    single_cp: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))
    """The one-character keys as code points (sorted); ``single_kid`` their key ids."""
    single_kid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    key_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.uint32))
    """Pairs of adjacent code points occurring in the automaton's keys (rows)."""
    ctx: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"kid": [], "cat": [], "kind": []}))
    """Context phrases: key id, the category they condition, and the condition (``_CTX_KINDS`` index)."""
    cat_cond: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per category id: it declares a context condition."""
    cat_code: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per category id: ``not_in_code``."""
    cat_req: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per category id: it declares ``requires``."""
    cat_within: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per category id: ``context_chars``."""
    cat_req_all: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per category id: ``requires`` applies to every term (no ``requires_terms``)."""
    req_pairs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """``key id * n_categories + category id`` of the ``requires_terms`` (sorted)."""

    @cached_property
    def char_id(self) -> np.ndarray:
        """Code point → 1 + its index in ``key_chars``, 0 when no automaton key contains it."""
        lut = np.zeros(0x110000, dtype=np.int32)
        lut[self.key_chars] = np.arange(1, len(self.key_chars) + 1, dtype=np.int32)
        return lut

    @cached_property
    def is_pair(self) -> np.ndarray:
        """``char_id`` pair ``a * (len(key_chars) + 1) + b`` → whether the two characters are adjacent
        in some automaton key (bool)."""
        width = len(self.key_chars) + 1
        lut = np.zeros(width * width, dtype=bool)
        ids = self.char_id[self.key_pairs.reshape(-1)].reshape(-1, 2).astype(np.int64)
        lut[ids[:, 0] * width + ids[:, 1]] = True
        return lut

    @cached_property
    def is_single(self) -> np.ndarray:
        """Code point → whether it is a one-character key (bool, 0x110000 entries)."""
        lut = np.zeros(0x110000, dtype=bool)
        lut[self.single_cp] = True
        return lut


@dataclass
class Lexicon:
    """All categories in force. Build with :meth:`load` (settings) or :meth:`from_files`."""

    categories: dict[str, Category] = field(default_factory=dict)

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def load(cls, config: Config | None = None) -> Lexicon:
        """Built-in lexicons, then ``config.lexicon.files`` (relative to ``config.base_dir``), minus
        ``config.lexicon.disabled_categories``."""
        config = config or Config()
        base = Path(config.base_dir)
        shop = [p if Path(p).is_absolute() else base / p for p in config.lexicon.files]
        return cls.from_files(shop, disabled=config.lexicon.disabled_categories)

    @classmethod
    def from_files(
        cls, shop_files: list[str | Path] = (), disabled: list[str] = (), builtin: bool = True
    ) -> Lexicon:
        cats: dict[str, Category] = {}
        if builtin:
            for name in BUILTIN_FILES:
                path = LEXICON_DIR / name
                _apply_file(cats, read_toml(path), str(path), shop=False)
        for p in shop_files:
            path = Path(p)
            _apply_file(cats, read_toml(path), str(path), shop=True)
        unknown = set(disabled) - set(cats)
        if unknown:
            log.warning("disabled lexicon categories not found: %s", sorted(unknown))
        return cls({k: v for k, v in cats.items() if k not in set(disabled)})

    # -- views ------------------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """One row per category: category, group, severity, side, mode, n_terms, suggestion."""
        rows = [
            (c.name, c.group, c.severity, c.side, c.mode, len(c.terms), c.suggestion)
            for c in self.categories.values()
        ]
        return pd.DataFrame(
            rows, columns=["category", "group", "severity", "side", "mode", "n_terms", "suggestion"]
        )

    def terms(self) -> list[str]:
        """Every term of every category (written form, de-duplicated)."""
        return list(dict.fromkeys(t for c in self.categories.values() for t in c.terms))

    def group(self, name: str) -> list[str]:
        """Names of the categories in group ``name``."""
        return [c.name for c in self.categories.values() if c.group == name]

    @cached_property
    def _names(self) -> list[str]:
        return list(self.categories)

    @cached_property
    def _sides(self) -> dict[str, _Side]:
        return {side: self._compile(side) for side in schema.SIDES}

    def _compile(self, side: str) -> _Side:
        import ahocorasick

        keys: dict[str, int] = {}
        key_cat: list[int] = []
        key_wl: dict[int, set[int]] = {}
        key_pos: dict[int, set[int]] = {}
        whole: dict[str, int] = {}
        after_positive: set[int] = set()

        def key(text: str) -> int:
            k = normalize_one(text)
            if k not in keys:
                keys[k] = len(key_cat)
                key_cat.append(-1)
            return keys[k]

        ctx_rows: list[tuple[int, int, int]] = []
        req_pairs: list[int] = []
        for cid, cat in enumerate(self.categories.values()):
            if cat.side != side:
                continue
            for kind, name in enumerate(_CTX_KINDS):
                for t in getattr(cat, name):
                    ctx_rows.append((key(t), cid, kind))
            for t in cat.requires_terms if cat.requires else ():
                req_pairs.append(key(t) * len(self.categories) + cid)
            if cat.mode == "whole":
                for t in cat.terms:
                    whole[normalize_one(t).strip(_TRIM)] = cid
                continue
            if cat.mode == "after_positive":
                after_positive.add(cid)
                for t in cat.positive:
                    key_pos.setdefault(key(t), set()).add(cid)
            for t in cat.terms:
                k = key(t)
                if key_cat[k] >= 0 and key_cat[k] != cid:
                    log.warning(
                        "term %r is in categories %r and %r; %r wins",
                        t,
                        self._names[key_cat[k]],
                        cat.name,
                        cat.name,
                    )
                key_cat[k] = cid
            for t in cat.whitelist:
                key_wl.setdefault(key(t), set()).add(cid)
        # one-character keys are found by a code-point look-up (half the occurrences in chat text:
        # 亲, 您, 请); the automaton holds the longer ones
        automaton = None
        long_keys = {k: kid for k, kid in keys.items() if len(k) > 1}
        if long_keys:
            automaton = ahocorasick.Automaton()
            for k, kid in long_keys.items():
                automaton.add_word(k, kid)
            automaton.make_automaton()
        single = sorted((ord(k), kid) for k, kid in keys.items() if len(k) == 1)
        texts = list(keys)
        cats = list(self.categories.values())
        return _Side(
            automaton=automaton,
            key_len=np.array([len(k) for k in texts], dtype=np.int64),
            key_cat=np.array(key_cat, dtype=np.int64),
            key_edge_l=np.array([k[:1] in _ASCII_WORD for k in texts], dtype=bool),
            key_edge_r=np.array([k[-1:] in _ASCII_WORD for k in texts], dtype=bool),
            key_wl={k: frozenset(v) for k, v in key_wl.items()},
            key_pos={k: frozenset(v) for k, v in key_pos.items()},
            whole=whole,
            after_positive=frozenset(after_positive),
            key_chars=np.array(sorted({ord(c) for k in long_keys for c in k}), dtype=np.uint32),
            key_pairs=np.array(
                sorted({(ord(a), ord(b)) for k in long_keys for a, b in itertools.pairwise(k)}),
                dtype=np.uint32,
            ).reshape(-1, 2),
            single_cp=np.array([c for c, _ in single], dtype=np.uint32),
            single_kid=np.array([kid for _, kid in single], dtype=np.int64),
            ctx=pd.DataFrame(np.array(ctx_rows, dtype=np.int64).reshape(-1, 3), columns=["kid", "cat", "kind"]),
            cat_cond=np.array([c.side == side and c.has_context for c in cats], dtype=bool),
            cat_code=np.array([c.side == side and c.not_in_code for c in cats], dtype=bool),
            cat_req=np.array([c.side == side and bool(c.requires) for c in cats], dtype=bool),
            cat_req_all=np.array([not c.requires_terms for c in cats], dtype=bool),
            req_pairs=np.array(sorted(req_pairs), dtype=np.int64),
            cat_within=np.array([c.context_chars for c in cats], dtype=np.int64),
        )

    # -- matching ---------------------------------------------------------------------------------
    def scan(self, norm: list[str], side: str) -> pd.DataFrame:
        """Hits of ``side``'s categories in normalised texts.

        Returns DataFrame[text (index into ``norm``), category (id into ``categories``), start, end]
        (end exclusive), sorted by text then start.
        """
        return self._scan_joined(_Joined.build(norm), side, np.ones(len(norm), dtype=bool))

    def _scan_joined(
        self, j: _Joined, side: str, use: np.ndarray, span: tuple[int, int] | None = None
    ) -> pd.DataFrame:
        sm = self._sides[side]
        parts = []
        if sm.automaton is not None or len(sm.single_cp):
            parts.append(_scan_contains(sm, j, use, span))
        if sm.whole:
            parts.append(_scan_whole(sm, j, use))
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(
                {c: np.array([], dtype=np.int64) for c in ("text", "category", "start", "end")}
            )
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        return out.sort_values(["text", "start"], kind="stable", ignore_index=True)


_WORD_LUT = np.zeros(128, dtype=bool)
_WORD_LUT[[ord(c) for c in _ASCII_WORD]] = True


@dataclass
class _Joined:
    """Distinct normalised texts joined by ``\\n`` (no key contains a newline, so no match crosses
    two texts); ``starts[i]`` is the offset of text ``i`` in ``s``."""

    s: str
    starts: np.ndarray
    lengths: np.ndarray
    cp: np.ndarray | None = None
    """The code points of ``s`` when already known (see :meth:`codepoints`)."""

    @classmethod
    def build(cls, norm: list[str]) -> _Joined:
        lengths = np.fromiter(map(len, norm), dtype=np.int64, count=len(norm))
        starts = np.zeros(len(norm), dtype=np.int64)
        if len(norm) > 1:
            starts[1:] = np.cumsum(lengths[:-1] + 1)
        return cls("\n".join(norm), starts, lengths)

    @classmethod
    def from_arrow(cls, arr: Any) -> _Joined:
        """:meth:`build` of the texts of an Arrow string array without nulls, without making one
        Python string per text (Arrow appends the separators; one UTF-8 decode)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.cast(pa.large_string())
        n = len(arr)
        lengths = pc.utf8_length(arr).to_numpy().astype(np.int64)
        starts = np.zeros(n, dtype=np.int64)
        if n > 1:
            starts[1:] = np.cumsum(lengths[:-1] + 1)
        if n == 0:
            return cls("", starts, lengths)
        sep = pa.scalar("\n", pa.large_string())
        with_sep = pc.binary_join_element_wise(arr, pa.scalar("", pa.large_string()), sep)
        offsets = np.frombuffer(with_sep.buffers()[1], dtype=np.int64)[
            with_sep.offset : with_sep.offset + n + 1
        ]
        data = memoryview(with_sep.buffers()[2])[int(offsets[0]) : int(offsets[-1]) - 1]  # no final "\n"
        return cls(str(data, "utf-8"), starts, lengths)

    def texts(self) -> list[str]:
        return [self.s[a : a + n] for a, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True)]

    def codepoints(self) -> np.ndarray:
        """The code points of ``s`` (uint32; computed once)."""
        if self.cp is None:
            self.cp = np.frombuffer(self.s.encode("utf-32-le"), dtype=np.uint32)
        return self.cp


def _utf8_slices(cp: np.ndarray, start: np.ndarray, end: np.ndarray) -> Any:
    """Arrow large strings made of the code points ``cp[start_i:end_i]``, one per pair, without one
    Python string per slice (one gather, one decode and one encode of all slices together)."""
    import pyarrow as pa

    lens = (end - start).astype(np.int64)
    char_off = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=char_off[1:])
    sel = cp[np.repeat(start - char_off[:-1], lens) + np.arange(char_off[-1])]
    data = sel.astype(np.uint32).tobytes().decode("utf-32-le").encode("utf-8")
    n_bytes = 1 + (sel >= 0x80).astype(np.int64) + (sel >= 0x800) + (sel >= 0x10000)
    byte_off = np.zeros(len(sel) + 1, dtype=np.int64)
    np.cumsum(n_bytes, out=byte_off[1:])
    offsets = byte_off[char_off]
    return pa.LargeStringArray.from_buffers(len(lens), pa.py_buffer(offsets), pa.py_buffer(data))


def _is_word(cp: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Whether the characters at ``pos`` (may be out of range → False) are ASCII letters/digits."""
    ok = (pos >= 0) & (pos < len(cp))
    c = cp[np.where(ok, pos, 0)]
    return ok & (c < 128) & _WORD_LUT[np.minimum(c, 127)]


def _occurrences(sm: _Side, j: _Joined, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Every occurrence of every key of ``sm`` in ``j.s[lo:hi]``: end offsets (exclusive, in ``j.s``)
    and key ids (int64), the automaton's occurrences first, then the one-character keys'."""
    ends, kids = [], []
    if sm.automaton is not None:
        text, back = _key_char_runs(sm, j, lo, hi)
        found = list(sm.automaton.iter(text) if back is not None else sm.automaton.iter(j.s, lo, hi))
        arr = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=2 * len(found))
        ends.append((back[arr[0::2]] if back is not None else arr[0::2]) + 1)
        kids.append(arr[1::2])
    if len(sm.single_cp):
        cp = j.codepoints()[lo:hi]
        at = np.flatnonzero(sm.is_single[cp])
        ends.append(at + lo + 1)
        kids.append(sm.single_kid[np.searchsorted(sm.single_cp, cp[at])])
    if not ends:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(ends).astype(np.int64), np.concatenate(kids).astype(np.int64)


def _key_char_runs(sm: _Side, j: _Joined, lo: int, hi: int) -> tuple[str, np.ndarray | None]:
    """``j.s[lo:hi]`` reduced to its runs of characters that could be part of an occurrence of an
    automaton key (each character is adjacent to a neighbour with which it forms a pair of adjacent
    characters of some key), the runs separated by one ``\\n`` (in no key), and the offset in ``j.s``
    of each character kept; ``("", None)`` when that would not shorten the text by a quarter (scan
    ``j.s`` itself).

    Every occurrence of a key of two or more characters lies inside one run (its adjacent pairs are
    key pairs), so the automaton finds the same occurrences in the reduced text, mapped back through
    the offsets, while walking fewer characters (≈ 35 ns per character)."""
    cp = j.codepoints()[lo:hi]
    n = len(cp)
    if n < 2:
        return "", None
    ids = sm.char_id[cp]
    width = len(sm.key_chars) + 1
    pair = sm.is_pair[ids[:-1].astype(np.int64) * width + ids[1:]]
    keep = np.zeros(n, dtype=bool)
    keep[:-1] = pair
    keep[1:] |= pair
    kept = np.flatnonzero(keep)
    gap = np.zeros(len(kept), dtype=np.int64)
    gap[1:] = np.diff(kept) > 1  # a separator before this character
    at = np.arange(len(kept)) + np.cumsum(gap)
    size = len(kept) + int(gap.sum())
    if 4 * size > 3 * n:
        return "", None
    short = np.full(size, 10, dtype=np.uint32)
    short[at] = cp[kept]
    back = np.zeros(size, dtype=np.int64)
    back[at] = kept + lo
    return short.tobytes().decode("utf-32-le"), back


def _scan_contains(
    sm: _Side, j: _Joined, use: np.ndarray, span: tuple[int, int] | None = None
) -> pd.DataFrame:
    """All contains-mode hits: one automaton pass over the joined texts, then vectorised filters."""
    lo, hi = span if span else (0, len(j.s))
    end, kid = _occurrences(sm, j, lo, hi)
    empty = pd.DataFrame({c: np.array([], dtype=np.int64) for c in ("text", "category", "start", "end")})
    if not len(end):
        return empty
    start = end - sm.key_len[kid]
    tix = np.searchsorted(j.starts, start, side="right") - 1
    keep = use[tix]
    end, kid, start, tix = end[keep], kid[keep], start[keep], tix[keep]
    cat = sm.key_cat[kid]
    term = cat >= 0
    if sm.key_edge_l.any() or sm.key_edge_r.any():
        el, er = sm.key_edge_l[kid], sm.key_edge_r[kid]
        if el.any() or er.any():
            cp = j.codepoints()
            bad = (el & _is_word(cp, start - 1)) | (er & _is_word(cp, end))
            term &= ~bad
    # whitelist: a term inside an occurrence of one of its category's whitelist phrases does not hit
    if sm.key_wl:
        wl_keys = np.fromiter(sm.key_wl, dtype=np.int64)
        is_wl = np.isin(kid, wl_keys)
        if is_wl.any():
            # one row per (whitelist occurrence, category it whitelists)
            wl_cats = [sorted(sm.key_wl[k]) for k in wl_keys.tolist()]
            pair_key = np.repeat(wl_keys, [len(c) for c in wl_cats])
            pair_cat = np.fromiter(itertools.chain.from_iterable(wl_cats), dtype=np.int64)
            occ = pd.DataFrame({"kid": kid[is_wl], "tix": tix[is_wl], "ws": start[is_wl], "we": end[is_wl]})
            occ = occ.merge(pd.DataFrame({"kid": pair_key, "cat": pair_cat}), on="kid")
            cand_idx = np.flatnonzero(term & np.isin(tix, occ["tix"].to_numpy()))
            cand = pd.DataFrame(
                {
                    "i": cand_idx,
                    "tix": tix[cand_idx],
                    "cat": cat[cand_idx],
                    "s": start[cand_idx],
                    "e": end[cand_idx],
                }
            )
            both = cand.merge(occ[["tix", "cat", "ws", "we"]], on=["tix", "cat"])
            inside = both.loc[(both["ws"] <= both["s"]) & (both["e"] <= both["we"]), "i"].to_numpy()
            term[inside] = False
    # context conditions (negation/conditional/question/purpose around the term, emoticon codes,
    # co-occurring phrases in the same text)
    if sm.cat_cond.any():
        term &= ~_context_fails(sm, j, kid, tix, start, end, cat, term)
    # after_positive: the term needs a positive phrase of its category ending at or before its start
    for c in sm.after_positive:
        is_c = term & (cat == c)
        if not is_c.any():
            continue
        pos_keys = np.fromiter((k for k, cs in sm.key_pos.items() if c in cs), dtype=np.int64)
        is_pos = np.isin(kid, pos_keys)
        first_end = np.full(len(j.starts), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_end, tix[is_pos], end[is_pos])
        term &= ~(is_c & (first_end[tix] > start))
    tix, cat, start, end = tix[term], cat[term], start[term], end[term]
    if not len(tix):
        return empty
    # longest match wins: (1) a candidate lying inside a longer one is dropped (vectorised);
    # (2) texts with remaining partial overlaps are resolved greedily (longest, then leftmost).
    order = np.lexsort((-end, start))  # by start (global offsets), longer first on ties
    tix, cat, start, end = tix[order], cat[order], start[order], end[order]
    prev_max_end = np.empty_like(end)
    prev_max_end[0] = -1
    prev_max_end[1:] = np.maximum.accumulate(end)[:-1]
    inside = end <= prev_max_end  # an earlier candidate starts no later and ends no earlier
    tix, cat, start, end = tix[~inside], cat[~inside], start[~inside], end[~inside]
    overlap = np.zeros(len(end), dtype=bool)
    overlap[1:] = start[1:] < np.maximum.accumulate(end)[:-1]
    keep = np.ones(len(end), dtype=bool)
    if overlap.any():
        bad_texts = np.unique(tix[overlap])
        rows = np.flatnonzero(np.isin(tix, bad_texts))
        groups = np.split(rows, np.flatnonzero(np.diff(tix[rows])) + 1)
        for g in groups:
            cand = sorted(g.tolist(), key=lambda i: (start[i] - end[i], start[i]))
            chosen: list[int] = []
            for i in cand:
                if all(end[i] <= start[k] or end[k] <= start[i] for k in chosen):
                    chosen.append(i)
            keep[g] = False
            keep[chosen] = True
    tix, cat, start, end = tix[keep], cat[keep], start[keep], end[keep]
    base = j.starts[tix]
    return pd.DataFrame({"text": tix, "category": cat, "start": start - base, "end": end - base})


_CTX_KINDS = ("not_before", "not_after", "requires", "unless")
# a clause ends at these characters (normalised text: NFKC has folded full-width punctuation)
_CLAUSE_END = frozenset(" \t\n\r\u3000.,!?;:~、。…，！？；：～")
_CLAUSE_LUT = np.zeros(0x10000, dtype=bool)
_CLAUSE_LUT[[ord(c) for c in _CLAUSE_END]] = True
CODE_MAX_CHARS = 8
"""Longest bracketed code (``[呵呵]``, ``[微笑]``) a ``not_in_code`` term can lie inside, brackets excluded."""


def _clause_free(cp: np.ndarray, a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """Whether ``cp[a_i:b_i]`` (global offsets, ``b - a <= width``) holds no clause end."""
    if not len(a) or width <= 0:
        return np.ones(len(a), dtype=bool)
    pos = a[:, None] + np.arange(width)[None, :]
    inside = pos < b[:, None]
    c = cp[np.minimum(pos, len(cp) - 1)]
    stop = _CLAUSE_LUT[np.minimum(c, 0xFFFF)] & (c <= 0xFFFF) & inside
    return ~stop.any(axis=1)


def _inside_code(cp: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether each span ``[start, end)`` (global offsets) lies inside ``[...]`` of at most
    :data:`CODE_MAX_CHARS` characters (no bracket or newline between)."""
    w = CODE_MAX_CHARS
    n = len(cp)
    left = start[:, None] - 1 - np.arange(w)[None, :]  # nearest first
    right = end[:, None] + np.arange(w)[None, :]
    lc = np.where(left >= 0, cp[np.clip(left, 0, n - 1)], 10)
    rc = np.where(right < n, cp[np.clip(right, 0, n - 1)], 10)
    opn, cls = ord("["), ord("]")

    def first(ch: np.ndarray, want: int) -> np.ndarray:
        """Index of the first ``want`` before any other bracket or newline (w when none)."""
        stop = (ch == opn) | (ch == cls) | (ch == 10)
        idx = np.where(stop.any(axis=1), stop.argmax(axis=1), w)
        hit = ch[np.arange(len(ch)), np.minimum(idx, w - 1)] == want
        return np.where((idx < w) & hit, idx, w)

    lo, hi = first(lc, opn), first(rc, cls)
    inner = (end - start) + lo + hi
    return (lo < w) & (hi < w) & (inner <= w)


def _context_fails(
    sm: _Side,
    j: _Joined,
    kid: np.ndarray,
    tix: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    cat: np.ndarray,
    term: np.ndarray,
) -> np.ndarray:
    """Per occurrence: it is a term whose category's context conditions rule it out (bool). Offsets are
    global (in ``j.s``); the phrases of the conditions are keys of the same automaton pass."""
    bad = np.zeros(len(kid), dtype=bool)
    ci = np.flatnonzero(term & sm.cat_cond[np.maximum(cat, 0)])
    if not len(ci):
        return bad
    cp = j.codepoints()
    code = sm.cat_code[cat[ci]]
    if code.any():
        k = ci[code]
        bad[k] = _inside_code(cp, start[k], end[k])
    if not len(sm.ctx):
        return bad
    is_ctx = np.isin(kid, sm.ctx["kid"].to_numpy())
    occ = pd.DataFrame({"kid": kid[is_ctx], "tix": tix[is_ctx], "os": start[is_ctx], "oe": end[is_ctx]})
    occ = occ.merge(sm.ctx, on="kid")
    cand = pd.DataFrame({"i": ci, "tix": tix[ci], "cat": cat[ci], "s": start[ci], "e": end[ci]})
    both = cand.merge(occ[["tix", "cat", "kind", "os", "oe"]], on=["tix", "cat"])
    if len(both):
        kind = both["kind"].to_numpy()
        s, e = both["s"].to_numpy(), both["e"].to_numpy()
        os_, oe = both["os"].to_numpy(), both["oe"].to_numpy()
        w = sm.cat_within[both["cat"].to_numpy()]
        width = int(w.max()) if len(w) else 0
        before = (kind == 0) & (oe <= s) & (s - oe <= w)
        before[before] = _clause_free(cp, oe[before], s[before], width)
        after = (kind == 1) & (os_ >= e) & (os_ - e <= w)
        after[after] = _clause_free(cp, e[after], os_[after], width)
        unless = kind == 3
        bad[both["i"].to_numpy()[before | after | unless]] = True
        # a required phrase must be another occurrence than the term itself
        found = both["i"].to_numpy()[(kind == 2) & ((os_ != s) | (oe != e))]
    else:
        found = np.zeros(0, dtype=np.int64)
    c_ci = cat[ci]
    need = sm.cat_req[c_ci] & (sm.cat_req_all[c_ci] | np.isin(kid[ci] * len(sm.cat_req) + c_ci, sm.req_pairs))
    need = ci[need]
    if len(need):
        bad[need[~np.isin(need, found)]] = True
    return bad


def _scan_whole(sm: _Side, j: _Joined, use: np.ndarray) -> pd.DataFrame:
    """``whole``-mode hits: the message, trimmed of whitespace/punctuation, equals a term."""
    maxlen = max(len(t) for t in sm.whole) + 8
    idx = np.flatnonzero(use & (j.lengths <= maxlen) & (j.lengths > 0))
    if not len(idx):
        return pd.DataFrame({c: np.array([], dtype=np.int64) for c in ("text", "category", "start", "end")})
    s = pd.Series(
        [j.s[a : a + n] for a, n in zip(j.starts[idx].tolist(), j.lengths[idx].tolist(), strict=True)],
        dtype="str",
    )
    stripped = s.str.strip(_TRIM)
    cid = stripped.map(sm.whole)
    hit = cid.notna().to_numpy()
    left = (s.str.len() - s.str.lstrip(_TRIM).str.len()).to_numpy()[hit].astype(np.int64)
    return pd.DataFrame(
        {
            "text": idx[hit],
            "category": cid.to_numpy()[hit].astype(np.int64),
            "start": left,
            "end": left + stripped.str.len().to_numpy()[hit].astype(np.int64),
        }
    )


def normalize_many(texts: list[str]) -> list[str]:
    """:func:`csaudit.text.normalize_one` of each text (same result), in one batched pass."""
    j = _normalize_joined(texts)[0]
    return [j.s[a : a + n] for a, n in zip(j.starts.tolist(), j.lengths.tolist(), strict=True)]


def _normalize_joined(texts: list[str]) -> tuple[_Joined, str]:
    """Normalise ``texts`` as one ``\\n``-joined string: width folding by a code-point table, one
    OpenCC call, one ``lower()``; per-text :func:`normalize_one` if any length changed.

    Returns the joined normalised texts and the joined originals (same offsets).
    """
    j = _Joined.build(texts)
    return _normalize_j(j)[0], j.s


def _normalize_j(j: _Joined) -> tuple[_Joined, np.ndarray]:
    """:func:`_normalize_joined` of already joined texts; returns the normalised texts and the code
    points of the originals."""
    orig = j.codepoints()
    if not len(j.starts):
        return j, orig
    if not len(orig) or int(orig.max()) <= 0xFFFF:  # the common case: one table look-up
        cp = _fold_table()[orig]
    else:
        cp = np.where(orig <= 0xFFFF, _fold_table()[np.minimum(orig, 0xFFFF)], orig).astype(np.uint32)
    folded = j.s if np.array_equal(cp, orig) else cp.tobytes().decode("utf-32-le")
    conv = _t2s().convert(folded).lower()
    ok = len(conv) == len(j.s)
    conv_cp = np.frombuffer(conv.encode("utf-32-le"), dtype=np.uint32) if ok else None
    if ok and len(j.starts) > 1:
        ok = bool((conv_cp[j.starts[1:] - 1] == 10).all())
    if ok:
        return _Joined(conv, j.starts, j.lengths, conv_cp), orig
    return _Joined.build([normalize_one(t) for t in j.texts()]), orig


@lru_cache(maxsize=1)
def _fold_table() -> np.ndarray:
    """Code point → code point for the BMP: csaudit.text's width table (single-char folds only)."""
    lut = np.arange(0x10000, dtype=np.uint32)
    for k, v in _width_table().items():
        if len(v) == 1 and k <= 0xFFFF:
            lut[k] = ord(v)
    return lut


HIT_COLUMNS = list(schema.HITS)


def conversation_agent(messages: pd.DataFrame) -> pd.Series:
    """Primary agent per conversation: the agent of its first ``role == "agent"`` message."""
    agent_rows = messages.loc[messages["role"] == "agent", ["conversation_id", "agent"]]
    return agent_rows.dropna(subset=["agent"]).groupby("conversation_id", sort=False)["agent"].first()


def _str_array(values: list[str] | np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _categorical(values: list[str | None], idx: np.ndarray) -> pd.Categorical:
    """``values[idx]`` as a categorical of the distinct ``values`` (None → missing), no string per row."""
    codes, uniques = pd.factorize(pd.Series(values, dtype="str"), use_na_sentinel=True)
    return pd.Categorical.from_codes(codes[idx], categories=pd.Index(uniques, dtype="str"))


def find_hits(messages: pd.DataFrame, lexicon: Lexicon | None = None) -> pd.DataFrame:
    """Lexicon hits of ``messages`` (MESSAGES schema) as a HITS table, one row per hit.

    ``rule`` = ``lexicon:<category>``; ``term`` is the slice ``text[start:end]`` of the original
    message (char offsets, end exclusive). Customer-side hits carry the conversation's primary agent
    (else the message's own ``agent``). Rows are ordered like the messages, then by ``start``.
    Each distinct text is normalised and scanned once; the cost grows with distinct texts.
    """
    return _find_hits(messages, lexicon or Lexicon.load(), remember=True)


#: distinct texts normalised and scanned together by :func:`find_hits` (bounds its memory; the
#: result does not depend on it)
HIT_CHUNK_TEXTS = 200_000


def _find_hits(messages: pd.DataFrame, lexicon: Lexicon, remember: bool) -> pd.DataFrame:
    """:func:`find_hits`; ``remember``: keep the hits' message rows for :func:`_hit_rows` (the
    main search does; qc's search for hold phrases must not replace them)."""
    import pyarrow as pa

    tz = _tz(messages)
    if len(messages) == 0 or not lexicon.categories:
        return schema.empty("hits", tz)
    cats = list(lexicon.categories.values())
    codes, uniques = pd.factorize(messages["text"], use_na_sentinel=True)
    side_rows = {
        s: np.flatnonzero((messages["role"] == s).to_numpy(dtype=bool, na_value=False) & (codes >= 0))
        for s in schema.SIDES
        if any(c.side == s for c in cats)
    }
    in_side = {}
    for side, rows in side_rows.items():
        in_side[side] = np.zeros(len(uniques), dtype=bool)
        in_side[side][codes[rows]] = True
    in_agent = in_side.get("agent", np.zeros(len(uniques), dtype=bool))
    in_cust = in_side.get("customer", np.zeros(len(uniques), dtype=bool))
    # distinct texts ordered agent-only, both sides, customer-only: each side scans one contiguous span
    group = np.where(in_agent & ~in_cust, 0, np.where(in_agent & in_cust, 1, 2))
    need_idx = np.flatnonzero(in_agent | in_cust)
    if not len(need_idx):
        return schema.empty("hits", tz)
    need_idx = need_idx[np.argsort(group[need_idx], kind="stable")]
    n_group = np.bincount(group[need_idx], minlength=3)
    remap = np.full(len(uniques), -1, dtype=np.int64)
    remap[need_idx] = np.arange(len(need_idx))
    text_span = {"agent": (0, n_group[0] + n_group[1]), "customer": (n_group[0], len(need_idx))}
    use = {}
    for side, rows in side_rows.items():
        use[side] = np.zeros(len(need_idx), dtype=bool)
        use[side][remap[codes[rows]]] = True

    # distinct texts are normalised and scanned HIT_CHUNK_TEXTS at a time (the joined copies of all
    # of them at once cost ≈ 0.7 GB on 1M all-distinct messages); hits stay ordered by text, start
    found_by_side: dict[str, list[tuple[np.ndarray, ...]]] = {side: [] for side in side_rows}
    for a, joined, orig_cp in normalized_chunks(uniques, need_idx):
        b = a + len(joined.starts)
        for side in side_rows:
            lo, hi = max(text_span[side][0], a) - a, min(text_span[side][1], b) - a
            if lo >= hi:
                continue
            span = (int(joined.starts[lo]), int(joined.starts[hi - 1] + joined.lengths[hi - 1]))
            found = lexicon._scan_joined(joined, side, use[side][a:b], span)
            if not len(found):
                continue
            ti = found["text"].to_numpy()
            st = found["start"].to_numpy()
            en = found["end"].to_numpy()
            # the term as written: the slice of the original text (same offsets as the normalised one)
            base = joined.starts[ti]
            term_u = _utf8_slices(orig_cp, base + st, base + en)
            found_by_side[side].append((ti + a, found["category"].to_numpy(), st, en, term_u))
        del joined, orig_cp

    parts = []
    for side, rows in side_rows.items():
        chunks = found_by_side.pop(side)
        if not chunks:
            continue
        ti, ci, st, en = (np.concatenate([c[k] for c in chunks]) for k in range(4))
        term_u = pa.concat_arrays([c[4] for c in chunks]) if len(chunks) > 1 else chunks[0][4]
        # join distinct-text hits back to every message (of this side) with that text, in message
        # order: the hits of one text are contiguous and ordered by start
        msg_rows, rep = _expand(remap[codes[rows]], rows, ti, len(need_idx))
        parts.append((msg_rows, ci[rep], st[rep], en[rep], rep + sum(len(p[5]) for p in parts), term_u))
    if not parts:
        return schema.empty("hits", tz)
    msg_rows = np.concatenate([p[0] for p in parts])
    cat_id = np.concatenate([p[1] for p in parts])
    start = np.concatenate([p[2] for p in parts])
    end = np.concatenate([p[3] for p in parts])
    term_id = np.concatenate([p[4] for p in parts])
    terms = pd.array(pa.concat_arrays([p[5] for p in parts]), dtype="str")
    if len(parts) > 1:  # merge the sides' runs (message rows of the two sides differ)
        srt = np.argsort(msg_rows, kind="stable")
        msg_rows, cat_id, start, end, term_id = msg_rows[srt], cat_id[srt], start[srt], end[srt], term_id[srt]

    def col(name: str):
        return messages[name].array.take(msg_rows)

    side = _str_array([c.side for c in cats]).take(cat_id)
    agent = col("agent")
    is_cust = np.asarray(side == "customer", dtype=bool)
    if is_cust.any():
        conv_agent = pd.Series(col("conversation_id")[is_cust]).map(conversation_agent(messages))
        agent = pd.Series(agent, dtype="str")
        cust_idx = np.flatnonzero(is_cust)
        has = conv_agent.notna().to_numpy()
        agent.iloc[cust_idx[has]] = conv_agent.to_numpy()[has]
        agent = agent.array
    names = list(lexicon.categories)
    out = pd.DataFrame(
        {
            "message_id": col("message_id"),
            "conversation_id": col("conversation_id"),
            "agent": agent,
            "ts": col("ts") if "ts" in messages else pd.NaT,
            "rule": _str_array([f"lexicon:{n}" for n in names]).take(cat_id),
            "category": _str_array(names).take(cat_id),
            "severity": _str_array([c.severity for c in cats]).take(cat_id),
            "side": side,
            "term": terms.take(term_id),
            "start": pd.array(start, dtype="Int64"),
            "end": pd.array(end, dtype="Int64"),
            "text": col("text"),
            "suggestion": _categorical([c.suggestion for c in cats], cat_id),
        }
    )
    out = schema.conform(out, "hits", tz)
    if remember:
        _remember_rows(messages, out, msg_rows)
    return out


def _expand(
    mcode: np.ndarray, rows: np.ndarray, ti: np.ndarray, n_texts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every (message row, hit) pair: ``rows`` (ascending) have texts ``mcode``; hit ``i`` is in text
    ``ti[i]`` (``ti`` non-decreasing). Returns the message row and the hit index of each pair, by
    message row then hit index."""
    per_text = np.bincount(ti, minlength=n_texts)
    first = np.cumsum(per_text) - per_text
    n = per_text[mcode]
    has = n > 0
    n, m_rows, m_first = n[has], rows[has], first[mcode[has]]
    out_start = np.cumsum(n) - n
    rep = np.repeat(m_first - out_start, n) + np.arange(int(n.sum()))
    return np.repeat(m_rows, n), rep


def normalized_chunks(uniques: Any, idx: np.ndarray) -> Iterator[tuple[int, _Joined, np.ndarray]]:
    """The distinct texts ``uniques[idx]`` normalised for matching (as ``normalize_for_match``) and
    joined by newlines, :data:`HIT_CHUNK_TEXTS` at a time (bounded memory): ``(offset in idx, joined
    normalised texts, code points of the joined originals)`` per chunk."""
    for a in range(0, len(idx), HIT_CHUNK_TEXTS):
        joined, orig_cp = _normalize_j(_joined_texts(uniques, idx[a : a + HIT_CHUNK_TEXTS]))
        yield a, joined, orig_cp


def _joined_texts(uniques: Any, idx: np.ndarray) -> _Joined:
    """The texts ``uniques[idx]`` joined (:class:`_Joined`), via Arrow when ``uniques`` is Arrow-backed."""
    arr = getattr(getattr(uniques, "array", uniques), "_pa_array", None)  # an Index or an array
    if arr is not None:
        import pyarrow as pa

        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return _Joined.from_arrow(arr.take(idx))
    return _Joined.build(_to_list(uniques.take(idx)))


def _to_list(values) -> list[str]:
    """Python strings of an array of distinct texts (fast path for Arrow-backed strings)."""
    try:
        import pyarrow as pa

        return pa.array(values).to_pylist()
    except (TypeError, ValueError, ImportError):
        return [str(v) for v in values]


def _tz(messages: pd.DataFrame) -> str:
    ts = messages.get("ts")
    if ts is not None and isinstance(ts.dtype, pd.DatetimeTZDtype):
        return str(ts.dtype.tz)
    return schema.TZ_DEFAULT


# -- politeness figures ---------------------------------------------------------------------------


def agent_turns(messages: pd.DataFrame) -> pd.DataFrame:
    """Speech rows (role agent or customer) of ``messages`` (sorted by conversation then time) with,
    per conversation:

    * ``turn`` — 0-based ordinal of runs of consecutive same-role speech rows;
    * ``agent_seq`` — 0-based ordinal among the conversation's agent rows (-1 for customer rows);
    * ``from_end`` — 0 for the conversation's last speech row, 1 for the one before, ...;
    * ``conv`` — an integer code of ``conversation_id`` (for fast grouping).

    Also carries ``message_id, conversation_id, agent, ts, text, is_agent``. auto_reply, bot and
    system rows are not speech: they neither start nor break a turn.
    """
    role = messages["role"]
    is_ag_all = (role == "agent").to_numpy(dtype=bool, na_value=False)
    pos = np.flatnonzero(is_ag_all | (role == "customer").to_numpy(dtype=bool, na_value=False))
    codes = factorize_runs(messages["conversation_id"])[0][pos]
    is_agent = is_ag_all[pos]
    n = len(pos)
    new_conv = np.ones(n, dtype=bool)
    new_conv[1:] = codes[1:] != codes[:-1]
    new_turn = new_conv.copy()
    new_turn[1:] |= is_agent[1:] != is_agent[:-1]
    # per-conversation cumulative counts, assuming rows of a conversation are contiguous (sorted input)
    conv_start = np.maximum.accumulate(np.where(new_conv, np.arange(n), 0))

    def within(flags: np.ndarray) -> np.ndarray:
        c = np.cumsum(flags)
        base = np.where(conv_start > 0, c[np.maximum(conv_start - 1, 0)], 0)
        return c - base

    conv_end = np.empty(n, dtype=np.int64)
    if n:
        last = np.flatnonzero(np.append(new_conv[1:], True))
        conv_end = np.repeat(last, np.diff(np.append(-1, last)))
    cols = {
        "message_id": messages["message_id"].array.take(pos),
        "conversation_id": messages["conversation_id"].array.take(pos),
        "agent": messages["agent"].array.take(pos),
        "ts": messages["ts"].array.take(pos) if "ts" in messages else pd.NaT,
        "text": messages["text"].array.take(pos),
        "is_agent": is_agent,
        "turn": within(new_turn) - 1,
        "agent_seq": np.where(is_agent, within(is_agent) - 1, -1),
        "from_end": conv_end - np.arange(n),
        "conv": codes,
    }
    return pd.DataFrame(cols, index=messages.index[pos])


def _isin(values: pd.Series, members: pd.Series) -> np.ndarray:
    """``values.isin(members)`` as a bool array (via pyarrow for string columns: much faster)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        vs = pa.array(members.dropna().unique().astype(object) if len(members) else [], type=pa.string())
        return np.asarray(pc.is_in(pa.array(values.array), value_set=vs).fill_null(False), dtype=bool)
    except (TypeError, ValueError, pa.ArrowException):  # pragma: no cover - non-string ids
        return values.isin(members).to_numpy(dtype=bool)


def _flags(
    speech: pd.DataFrame, hits: pd.DataFrame, categories: tuple[str, ...] | list[str], rows: np.ndarray
) -> np.ndarray:
    """For the speech rows at positions ``rows``: has the message an agent-side hit in ``categories``?
    (Only those rows' ids are looked up: hashing every message id is the cost here.)"""
    sel = hits["category"].isin(list(categories)) & (hits["side"] == "agent")
    ids = pd.Series(speech["message_id"].array.take(rows))
    return _isin(ids, hits.loc[sel, "message_id"])


# -- positional look-ups (no hashing of message ids) ----------------------------------------------
# find_hits remembers, for its last result, the message row of every hit together with the Arrow
# arrays of the messages' and the hits' ``message_id``. Arrow arrays are immutable, so while both
# frames still hold those very array objects the rows are valid; politeness and qc_hits then flag
# messages by row instead of hashing message ids (≈ 0.15 s per look-up per 1M messages). Rows are
# only used when message ids are unique, so a row look-up gives exactly what an id look-up gives.
_ROWS: dict[str, Any] = {}
_UNIQUE: dict[str, Any] = {}


def _pa_of(s: pd.Series) -> Any:
    """The Arrow data object behind ``s`` (None when not Arrow-backed)."""
    return getattr(s.array, "_pa_array", None)


def _remember_rows(messages: pd.DataFrame, hits: pd.DataFrame, rows: np.ndarray) -> None:
    """Remember ``rows`` (one tuple, replaced whole: readers never see half of it) until the hits'
    id array is freed."""
    _ROWS.pop("last", None)
    ids, hit_ids = _pa_of(messages["message_id"]), _pa_of(hits["message_id"])
    if ids is not None and hit_ids is not None:
        token = next(_TOKENS)
        _ROWS["last"] = (weakref.ref(ids), weakref.ref(hit_ids), rows, token)
        weakref.finalize(hit_ids, _forget_rows, token)


_TOKENS = itertools.count()


def _forget_rows(token: int) -> None:
    last = _ROWS.get("last")
    if last is not None and last[3] == token:
        _ROWS.pop("last", None)


def _unique_ids(messages: pd.DataFrame) -> bool:
    """Whether ``messages["message_id"]`` (Arrow-backed) has no duplicate and no missing value;
    remembered for the last Arrow array asked about."""
    import pyarrow.compute as pc

    obj = _pa_of(messages["message_id"])
    if obj is None:
        return False
    ref = _UNIQUE.get("ids")
    if ref is not None and ref() is obj:
        return _UNIQUE["ok"]
    try:
        arr = arrow_strings(messages["message_id"])
        ok = arr.null_count == 0 and (
            _distinct_fixed_width(arr) or pc.count_distinct(arr).as_py() == len(arr)
        )
    except (TypeError, ValueError, ArithmeticError, IndexError):  # pragma: no cover - non-string ids
        ok = False
    _UNIQUE.update(ids=weakref.ref(obj), ok=bool(ok))
    return bool(ok)


def _distinct_fixed_width(arr: Any) -> bool:
    """True when the strings of ``arr`` (Arrow, no nulls) all have the same byte length and distinct
    64-bit fingerprints, hence are distinct (a sort of integers, ≈ 5× cheaper than hashing the
    strings). False means "not shown distinct" (different lengths or a fingerprint collision)."""
    import pyarrow as pa

    n = len(arr)
    if n < 2:
        return True
    if arr.type in (pa.string(), pa.binary()):
        off_type = np.int32
    elif arr.type in (pa.large_string(), pa.large_binary()):
        off_type = np.int64
    else:
        return False
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width == 0 or int(offsets[-1] - offsets[0]) != width * n or not (np.diff(offsets) == width).all():
        return False
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    words = -(-width // 8)
    padded = np.zeros((n, 8 * words), dtype=np.uint8)
    padded[:, :width] = data
    w = padded.view("<u8")
    fp = w[:, 0].copy()
    for k in range(1, words):
        fp = fp * np.uint64(0x9E3779B97F4A7C15) + w[:, k]
    fp.sort()
    return bool((fp[1:] != fp[:-1]).all())


def _hit_rows(messages: pd.DataFrame, hits: pd.DataFrame) -> np.ndarray | None:
    """Row of ``messages`` of every row of ``hits`` when ``hits`` is the last :func:`find_hits`
    result, both still holding the message ids it was made from, and message ids are unique; else None."""
    ids, hit_ids = _pa_of(messages["message_id"]), _pa_of(hits["message_id"])
    last = _ROWS.get("last")
    if ids is None or hit_ids is None or last is None:
        return None
    if last[0]() is not ids or last[1]() is not hit_ids:
        return None
    return last[2] if _unique_ids(messages) else None


def _speech_pos(messages: pd.DataFrame, speech: pd.DataFrame) -> np.ndarray | None:
    """Row of ``messages`` of every ``speech`` row when ``speech`` is :func:`agent_turns` of
    ``messages`` and message ids are unique; else None."""
    role = messages["role"]
    pos = np.flatnonzero(
        (role == "agent").to_numpy(dtype=bool, na_value=False)
        | (role == "customer").to_numpy(dtype=bool, na_value=False)
    )
    if len(pos) != len(speech) or not speech.index.equals(messages.index[pos]) or not _unique_ids(messages):
        return None
    return pos


def _speech_flags(
    messages: pd.DataFrame | None, speech: pd.DataFrame, hits: pd.DataFrame, keep: np.ndarray | None = None
) -> Any:
    """A function ``categories -> bool per speech row`` (has the message an agent-side hit of
    ``hits[keep]`` in ``categories``?) computed by row, or None when :func:`_hit_rows` or
    :func:`_speech_pos` cannot be used."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if messages is None:
        return None
    rows = _hit_rows(messages, hits)
    pos = _speech_pos(messages, speech) if rows is not None else None
    if rows is None or pos is None:
        return None
    agent = np.asarray(pc.equal(arrow_strings(hits["side"]), "agent").fill_null(False), dtype=bool)
    if keep is not None:
        agent &= keep
    cat = arrow_strings(hits["category"])

    def flags(categories: tuple[str, ...] | list[str]) -> np.ndarray:
        vs = pa.array(list(categories), type=pa.string())
        sel = agent & np.asarray(pc.is_in(cat, value_set=vs).fill_null(False), dtype=bool)
        on = np.zeros(len(messages), dtype=bool)
        on[rows[sel]] = True
        return on[pos]

    return flags


def _run_heads(codes: np.ndarray) -> np.ndarray | None:
    """Start of each run of equal ``codes`` when they never decrease (each value's rows contiguous)
    and there is at least one; else None."""
    if not len(codes) or (np.diff(codes) < 0).any():
        return None
    return np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])


def _evidence(speech: pd.DataFrame, rows: np.ndarray, ok: np.ndarray) -> pd.DataFrame:
    res = speech[["conversation_id", "message_id", "agent", "ts", "text"]].iloc[rows].reset_index(drop=True)
    res["ok"] = ok
    return res


def first_reply(
    speech: pd.DataFrame, hits: pd.DataFrame, categories: tuple[str, ...] | list[str] = ("greeting",)
) -> pd.DataFrame:
    """Per conversation with agent speech: the first agent turn (consecutive agent messages before the
    customer speaks again), represented by its first message, and ``ok`` = any message of that turn
    has an agent-side hit in ``categories``. Columns: conversation_id, message_id, agent, ts, text, ok.
    ``speech`` is :func:`agent_turns` output."""
    return _first_reply(speech, lambda rows: _flags(speech, hits, categories, rows))


def _first_reply(speech: pd.DataFrame, flag_of: Any) -> pd.DataFrame:
    """:func:`first_reply` with ``flag_of(speech rows) -> bool array`` telling which rows have a hit."""
    return _evidence(speech, *_first_reply_rows(speech, flag_of))


def _first_reply_rows(speech: pd.DataFrame, flag_of: Any) -> tuple[np.ndarray, np.ndarray]:
    """The speech rows of :func:`first_reply`'s evidence and its ``ok`` (bool arrays' worth)."""
    ag = np.flatnonzero(speech["is_agent"].to_numpy())
    conv = speech["conv"].to_numpy()[ag]
    turn = speech["turn"].to_numpy()[ag]
    heads = _run_heads(conv)
    if heads is not None:  # each conversation's agent rows contiguous: per-run reductions
        first_turn = np.repeat(np.minimum.reduceat(turn, heads), np.diff(np.append(heads, len(conv))))
        in_first = turn == first_turn
        rows, conv_f = ag[in_first], conv[in_first]
        head_f = np.flatnonzero(np.r_[True, conv_f[1:] != conv_f[:-1]])
        return rows[head_f], np.logical_or.reduceat(flag_of(rows), head_f)
    first_turn = pd.Series(turn).groupby(conv).transform("min").to_numpy()
    in_first = turn == first_turn
    rows, conv_f = ag[in_first], conv[in_first]
    flag = flag_of(rows)
    ok = pd.Series(flag).groupby(conv_f, sort=False).any()
    head = np.unique(conv_f, return_index=True)[1]
    return rows[np.sort(head)], ok.reindex(conv_f[np.sort(head)]).to_numpy(dtype=bool)


def closing_check(
    speech: pd.DataFrame,
    hits: pd.DataFrame,
    last_n: int,
    categories: tuple[str, ...] | list[str] = ("closing", "rating_invite"),
) -> pd.DataFrame:
    """Per conversation with agent speech: its last agent message, and ``ok`` = an agent message among
    the conversation's last ``last_n`` speech messages has an agent-side hit in ``categories``.
    Columns: conversation_id, message_id, agent, ts, text, ok. ``speech`` is :func:`agent_turns` output."""
    return _closing_check(speech, last_n, lambda rows: _flags(speech, hits, categories, rows))


def _closing_check(speech: pd.DataFrame, last_n: int, flag_of: Any) -> pd.DataFrame:
    """:func:`closing_check` with ``flag_of(speech rows) -> bool array`` telling which rows have a hit."""
    return _evidence(speech, *_closing_rows(speech, last_n, flag_of))


def _closing_rows(speech: pd.DataFrame, last_n: int, flag_of: Any) -> tuple[np.ndarray, np.ndarray]:
    """The speech rows of :func:`closing_check`'s evidence and its ``ok``."""
    ag = np.flatnonzero(speech["is_agent"].to_numpy())
    conv = speech["conv"].to_numpy()[ag]
    tail = speech["from_end"].to_numpy()[ag] < last_n
    flag = np.zeros(len(ag), dtype=bool)
    flag[tail] = flag_of(ag[tail])
    heads = _run_heads(conv)
    if heads is not None:  # each conversation's agent rows contiguous: per-run reductions
        last = np.append(heads[1:], len(conv)) - 1
        return ag[last], np.logical_or.reduceat(flag, heads)
    ok = pd.Series(flag).groupby(conv, sort=False).any()
    last_idx = len(conv) - 1 - np.unique(conv[::-1], return_index=True)[1]
    last_idx = np.sort(last_idx)
    return ag[last_idx], ok.reindex(conv[last_idx]).to_numpy(dtype=bool)


def _failed(speech: pd.DataFrame, rows: np.ndarray, ok: np.ndarray) -> pd.DataFrame:
    """``_evidence(speech, rows, ok).loc[~ok]`` (same index) without taking the rows that pass."""
    bad = np.flatnonzero(~ok)
    res = _evidence(speech, rows[bad], ok[bad])
    res.index = bad
    return res


def _rate_by_agent(speech: pd.DataFrame, rows: np.ndarray, ok: np.ndarray, index: pd.Index) -> pd.Series:
    """Mean of ``ok`` per agent of the speech ``rows`` (``_evidence(...).groupby("agent")["ok"].mean()``),
    on ``index``."""
    agent = pd.Series(speech["agent"].array.take(rows), name="agent")
    return pd.Series(ok, name="ok").groupby(agent).mean().reindex(index).astype("float64")


def _flag_functions(
    messages: pd.DataFrame | None, speech: pd.DataFrame, hits: pd.DataFrame, keep: np.ndarray | None = None
) -> Any:
    """``categories -> (speech rows -> bool array)``: by row when possible (:func:`_speech_flags`),
    else by message id (:func:`_flags`, on ``hits[keep]``)."""
    by_row = _speech_flags(messages, speech, hits, keep)
    if by_row is not None:

        def of(cats: tuple[str, ...] | list[str]) -> Any:
            flag = by_row(cats)
            return lambda rows: flag[rows]

        return of
    sub = hits if keep is None else hits.loc[keep]
    return lambda cats: lambda rows: _flags(speech, sub, cats, rows)


def politeness(
    messages: pd.DataFrame,
    hits: pd.DataFrame,
    lexicon: Lexicon | None = None,
    closing_last_n: int = 10,
    speech: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Politeness and negative-phrase figures per agent (one row per agent with agent messages).

    Columns:

    * ``n_agent_messages`` — messages with ``role == "agent"``;
    * ``<category>_per100`` for greeting, please, thanks, apology, honorific, closing, rating_invite —
      lexicon hits per 100 agent messages;
    * ``first_reply_greeting_rate`` — share (0–1) of the agent's conversations (those where the agent
      wrote the first agent message) whose first agent turn has a greeting hit;
    * ``closing_rate`` — share (0–1) of the conversations the agent ended (wrote the last agent message)
      with a closing or rating invitation among the conversation's last ``closing_last_n`` speech
      messages (the same test as the ``qc:no_closing`` rule with ``Config.qc.closing_last_n``);
    * ``negative_hits``, ``negative_per100`` — agent-side lexicon hits in the ``negative`` group;
    * ``critical_hits`` — agent-side lexicon hits of severity ``critical``;
    * ``<category>_hits`` — count for every negative category, and for every customer-side category
      (``repeated_hits``, ``escalation_hits``: customer messages in conversations whose primary agent
      is this agent).

    ``speech``: :func:`agent_turns` of ``messages`` when the caller already has it (computed otherwise).
    """
    lexicon = lexicon or Lexicon.load()
    cols = ["message_id", "agent", "rule", "category", "severity", "side"]
    lexical = hits["rule"].str.startswith("lexicon:").to_numpy(dtype=bool, na_value=False)
    lex = hits.loc[lexical & (hits["side"] == "agent").to_numpy(dtype=bool), cols]
    is_ag = (messages["role"] == "agent").to_numpy(dtype=bool, na_value=False)
    ag_agent = pd.Series(messages["agent"].array[is_ag], name="agent")
    res = pd.DataFrame(ag_agent.value_counts(sort=False).sort_index().rename("n_agent_messages"))
    per_cat = lex.groupby(["agent", "category"]).size().unstack(fill_value=0)

    def count(cat: str) -> pd.Series:
        if cat not in per_cat:
            return pd.Series(0, index=res.index, dtype="int64")
        return per_cat[cat].reindex(res.index, fill_value=0).astype("int64")

    for cat in POLITENESS_RATE_CATEGORIES:
        res[f"{cat}_per100"] = 100.0 * count(cat) / res["n_agent_messages"]
    if speech is None:
        speech = agent_turns(messages)
    flag_of = _flag_functions(
        messages, speech, hits, lexical & (hits["side"] == "agent").to_numpy(dtype=bool)
    )
    fr_rows, fr_ok = _first_reply_rows(speech, flag_of(("greeting",)))
    res["first_reply_greeting_rate"] = _rate_by_agent(speech, fr_rows, fr_ok, res.index)
    cl_rows, cl_ok = _closing_rows(speech, closing_last_n, flag_of(("closing", "rating_invite")))
    res["closing_rate"] = _rate_by_agent(speech, cl_rows, cl_ok, res.index)
    negative = lexicon.group("negative")
    neg = lex.loc[lex["category"].isin(negative)]
    res["negative_hits"] = neg.groupby("agent").size().reindex(res.index, fill_value=0).astype("int64")
    res["negative_per100"] = 100.0 * res["negative_hits"] / res["n_agent_messages"]
    crit = lex.loc[lex["severity"] == "critical"]
    res["critical_hits"] = crit.groupby("agent").size().reindex(res.index, fill_value=0).astype("int64")
    for cat in negative:
        res[f"{cat}_hits"] = count(cat)
    # customer-side signals (repeated, escalation) in the agent's conversations
    cust = hits.loc[lexical & (hits["side"] == "customer").to_numpy(dtype=bool), cols]
    cust_cat = cust.groupby(["agent", "category"]).size()
    for cat in lexicon.group("customer"):
        s = cust_cat.xs(cat, level="category") if cat in cust_cat.index.get_level_values(1) else None
        res[f"{cat}_hits"] = (
            s.reindex(res.index, fill_value=0).astype("int64")
            if s is not None
            else pd.Series(0, index=res.index)
        ).astype("int64")
    res.index.name = "agent"
    return res.reset_index()
