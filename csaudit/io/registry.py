"""The registry of export readers: format name → reader module (:class:`csaudit.io.base.Reader`).

``read_chats`` and :func:`csaudit.io.detect.detect_format` ask :func:`readers`; a new format is a
module under ``csaudit.io`` exposing ``NAME``, ``sniff`` and ``parse`` (optionally ``parse_arrow``),
named in :data:`READER_MODULES`. Modules are imported on first use, so the registry imports no
reader at import time (and no reader imports the registry: no cycle).
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from csaudit.io.base import Reader

log = logging.getLogger(__name__)

READER_MODULES = ("qianniu_text", "qianniu_web", "qianniu_json", "wecom", "table")
"""Reader modules under ``csaudit.io``, in the order they are asked when nothing else decides."""


@cache
def _registry() -> tuple[tuple[str, Reader], ...]:
    found: list[tuple[str, Reader]] = []
    for mod_name in READER_MODULES:
        try:
            mod = importlib.import_module(f"csaudit.io.{mod_name}")
        except ImportError as exc:
            log.debug("reader csaudit.io.%s not available: %s", mod_name, exc)
            continue
        if isinstance(mod, Reader) and getattr(mod, "NAME", None):
            found.append((mod.NAME, mod))
        else:
            log.warning("csaudit.io.%s does not satisfy the Reader interface (NAME, sniff, parse)", mod_name)
    return tuple(found)


def readers() -> dict[str, Reader]:
    """Format name → reader module, for the reader modules that exist (imported on first use)."""
    return dict(_registry())
