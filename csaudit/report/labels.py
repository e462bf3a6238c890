"""Display names of every column, category, rule and severity, and the reports' own words.

Chinese is the default language of the reports, the index page and the workbook; ``--lang en``
switches to English. The names are data (``labels_zh.toml`` / ``labels_en.toml`` next to this
module, shipped with the package), keyed by the audit's own names (docs/pipeline.md):

``[column]``  scorecard / conversation / round / hit columns (``off_platform_hits`` → 站外引流)
``[category]`` lexicon and QC categories (``off_platform`` → 站外引流)
``[rule]``     hit rules; ``lexicon:<category>`` falls back to the category's name
``[severity]``, ``[side]``, ``[role]``, ``[score]``, ``[unit]`` and ``[ui]`` (the reports' sentences)

A key without a label is shown readably as the key itself (never an error), so a new rule or
column still appears; ``tests/report/test_labels.py`` lists the keys that lack one.
"""

from __future__ import annotations

import logging
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"
_DIR = Path(__file__).resolve().parent


def check_lang(lang: str | None) -> str:
    """``lang`` if supported (``None``/empty → the default); ``ValueError`` naming the choices otherwise."""
    lang = (lang or DEFAULT_LANG).strip().lower()
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return lang


@cache
def _table(lang: str) -> dict[str, dict[str, str]]:
    path = _DIR / f"labels_{lang}.toml"
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return {k: {str(a): str(b) for a, b in v.items()} for k, v in data.items() if isinstance(v, dict)}


class Labels:
    """The names of one language. ``Labels("zh").category("off_platform") == "站外引流"``."""

    def __init__(self, lang: str | None = None):
        self.lang = check_lang(lang)
        self.data = _table(self.lang)

    def _get(self, kind: str, key: Any) -> str | None:
        return self.data.get(kind, {}).get(str(key))

    def column(self, key: Any) -> str:
        """A table column's display name (the key itself when it has none)."""
        return self._get("column", key) or str(key)

    def category(self, key: Any) -> str:
        return self._get("category", key) or str(key)

    def rule(self, key: Any) -> str:
        """``qc:<name>`` from ``[rule]``; ``lexicon:<category>`` (and any other) by its category."""
        k = str(key)
        found = self._get("rule", k)
        if found:
            return found
        if ":" in k:
            return self.category(k.split(":", 1)[1])
        return self.category(k)

    def severity(self, key: Any) -> str:
        return self._get("severity", key) or str(key)

    def side(self, key: Any) -> str:
        return self._get("side", key) or str(key)

    def role(self, key: Any) -> str:
        return self._get("role", key) or str(key)

    def score(self, key: Any) -> str:
        return self._get("score", key) or str(key)

    def unit(self, key: str) -> str:
        return self._get("unit", key) or key

    def ui(self, key: str, **values: Any) -> str:
        """One of the reports' own sentences, with ``{placeholders}`` filled in."""
        text = self._get("ui", key)
        if text is None:
            log.debug("no %s label for ui key %r", self.lang, key)
            text = key
        return text.format(**values) if values else text

    def headers(self, columns: Any) -> dict[str, str]:
        """``{column: display name}`` for a table's columns."""
        return {str(c): self.column(c) for c in columns}

    def missing(self, kind: str, keys: Any) -> list[str]:
        """The keys of ``keys`` that have no ``kind`` label (for the test that lists them)."""
        if kind == "rule":
            return sorted({str(k) for k in keys if self.rule(k) == str(k) or self.rule(k) == str(k).split(":", 1)[-1]})
        return sorted({str(k) for k in keys if self._get(kind, k) is None})


@cache
def labels(lang: str | None = None) -> Labels:
    """The (cached) :class:`Labels` of ``lang``."""
    return Labels(lang)
