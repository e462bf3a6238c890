"""Import filled review workbooks into the REVIEWS table (``csaudit review import``, ``ca.review.load``).

Every workbook is checked completely before anything is kept: the sheets and headers are the ones
:mod:`csaudit.review.workbook` wrote, the hidden ``_meta`` sheet names this audit (fingerprint), every
finding row is a hit of this audit with the rule version the workbook was drawn with, every
conversation row is a conversation of it, verdicts and dispute cells use the drop-down words, scores
are numbers 0–100, no cell holds a formula, no sheet has more than ``review.max_rows`` rows and no
cell more than ``review.max_cell_chars`` characters. The first problem raises :class:`ReviewError`
naming the file, sheet, row, column and what was expected. :func:`save_reviews` replaces the audit's
``reviews.parquet`` atomically (written beside it, then renamed), so a failed import loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.review import workbook as wbm
from csaudit.review.common import (
    DISPUTE,
    DISPUTE_STATUS,
    VERDICTS,
    audit_fingerprint,
    audit_rule_versions,
    combine_reviews,
    conform_reviews,
    findings,
)

log = logging.getLogger(__name__)


class ReviewError(ValueError):
    """A review workbook that cannot be imported (the message names file, sheet, row and expectation)."""


def _words(d: dict[str, Any]) -> str:
    return " / ".join(d)


class _Sheet:
    """Rows of one worksheet as plain values, checked for formulas, size and stray columns."""

    def __init__(self, name: str, ws: Any, headers: dict[str, str], where: str, max_rows: int, max_chars: int):
        self.name, self.where = name, where
        width = len(headers)
        rows = ws.iter_rows()
        try:
            head = next(rows)
        except StopIteration:
            raise self.error(1, "", f"an empty sheet; expected the header row {' | '.join(headers)}") from None
        got = [c.value for c in head]
        for j, expected in enumerate(headers, start=1):
            value = got[j - 1] if j - 1 < len(got) else None
            if value != expected:
                raise self.error(1, _col(j), f"header {value!r}; expected {expected!r} (do not edit the headers)")
        self.columns = list(headers.values())
        self.rows: list[tuple[int, dict[str, Any]]] = []
        for i, row in enumerate(rows, start=2):
            values = {}
            blank = True
            for j, c in enumerate(row, start=1):
                v = c.value
                if v is None or (isinstance(v, str) and not v.strip()):
                    continue
                if getattr(c, "data_type", None) == "f":
                    raise self.error(i, _col(j), f"a formula ({str(v)[:40]!r}); expected a plain value")
                if j > width:
                    raise self.error(i, _col(j), f"a value beyond the last column {list(headers)[-1]!r}; "
                                                 "expected nothing there (do not add columns)")
                if isinstance(v, str) and len(v) > max_chars:
                    raise self.error(i, _col(j), f"{len(v)} characters; expected at most {max_chars}")
                values[self.columns[j - 1]] = v.strip() if isinstance(v, str) else v
                blank = False
            if blank:
                continue
            if len(self.rows) >= max_rows:
                raise self.error(i, "", f"more than {max_rows} rows; expected the rows csaudit wrote "
                                        "(setting review.max_rows)")
            self.rows.append((i, values))

    def error(self, row: int, col: str, what: str) -> ReviewError:
        at = f"row {row}" + (f", column {col}" if col else "")
        return ReviewError(f"{self.where}: sheet {self.name} {at}: {what}")

    def header_of(self, column: str, headers: dict[str, str]) -> str:
        j = self.columns.index(column) + 1
        return f"{_col(j)} ({list(headers)[j - 1]})"


def _col(j: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(j)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _meta(ws: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    meta: dict[str, Any] = {}
    versions: dict[str, str] = {}
    in_versions = False
    for i, row in enumerate(ws.iter_rows(max_col=2), start=1):
        if i > 10_000:
            raise ReviewError(f"{where}: sheet {wbm.META}: more than 10000 rows; expected the sheet csaudit wrote")
        k, v = (row[0].value if row else None), (row[1].value if len(row) > 1 else None)
        if any(getattr(c, "data_type", None) == "f" for c in row):
            raise ReviewError(f"{where}: sheet {wbm.META} row {i}: a formula; expected a plain value")
        if k is None:
            continue
        if k == "rule_versions":
            in_versions = True
        elif in_versions:
            versions[str(k)] = str(v)
        else:
            meta[str(k)] = v
    return meta, versions


def read_workbook(path: str | Path, audit: Any) -> pd.DataFrame:
    """One filled workbook as REVIEWS rows (not yet combined with earlier reviews). Raises
    :class:`ReviewError` on the first problem."""
    return _read(path, audit)[0]


def _read(path: str | Path, audit: Any) -> tuple[pd.DataFrame, str, str]:
    """``(rows, sample_id, reviewer)`` of one workbook."""
    from openpyxl import load_workbook

    path = Path(path)
    where = str(path)
    cfg = audit.config.review
    try:
        wb = load_workbook(path, read_only=True, data_only=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a file that is not xlsx
        raise ReviewError(f"{where}: not an xlsx workbook ({exc.__class__.__name__}); expected a review workbook "
                          "written by `csaudit review sample`") from None
    try:
        missing = [s for s in wbm.SHEETS if s not in wb.sheetnames]
        if missing:
            raise ReviewError(f"{where}: sheet {missing[0]} missing (sheets: {', '.join(wb.sheetnames)}); expected "
                              f"the sheets {', '.join(wbm.SHEETS)}")
        meta, versions = _meta(wb[wbm.META], where)
        if meta.get("format") != wbm.FORMAT:
            raise ReviewError(f"{where}: sheet {wbm.META} row 1: format {meta.get('format')!r}; expected {wbm.FORMAT!r}")
        fp = audit_fingerprint(audit)
        if str(meta.get("audit_fingerprint")) != fp:
            raise ReviewError(f"{where}: sheet {wbm.META} row 2: audit {meta.get('audit_fingerprint')!r}; expected "
                              f"{fp!r} (this workbook was drawn from another audit)")
        sid = _text(meta.get("sample_id"))
        if not sid:
            raise ReviewError(f"{where}: sheet {wbm.META} row 3: no sample_id; expected the value csaudit wrote")
        expected = audit_rule_versions(audit)
        for rule, version in versions.items():
            if rule in expected and version != expected[rule]:
                raise ReviewError(f"{where}: sheet {wbm.META}: rule {rule} version {version!r}; expected "
                                  f"{expected[rule]!r} (the version this audit's findings were made with)")

        ins = wb[wbm.INSTRUCTIONS]
        label_cell, name_cell = wbm.REVIEWER_CELL
        if ins[label_cell].value != wbm.REVIEWER_LABEL:
            raise ReviewError(f"{where}: sheet {wbm.INSTRUCTIONS} cell {label_cell}: {ins[label_cell].value!r}; "
                              f"expected {wbm.REVIEWER_LABEL!r}")
        if getattr(ins[name_cell], "data_type", None) == "f":
            raise ReviewError(f"{where}: sheet {wbm.INSTRUCTIONS} cell {name_cell}: a formula; expected the reviewer's name")
        reviewer = _text(ins[name_cell].value) or path.stem

        fsheet = _Sheet(wbm.FINDINGS, wb[wbm.FINDINGS], wbm.FINDING_HEADERS, where, cfg.max_rows, cfg.max_cell_chars)
        csheet = _Sheet(wbm.CONVERSATIONS, wb[wbm.CONVERSATIONS], wbm.CONVERSATION_HEADERS, where, cfg.max_rows,
                        cfg.max_cell_chars)
    finally:
        wb.close()

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    base = {"reviewer": reviewer, "source": path.name, "sample_id": sid, "audit_fingerprint": fp, "imported": now}
    out = [*_finding_rows(fsheet, audit, versions, base), *_conversation_rows(csheet, audit, base)]
    log.info("review %s (%s): %d finding verdict(s), %d conversation row(s)", path.name, reviewer,
             sum(r["kind"] == "finding" for r in out), sum(r["kind"] == "conversation" for r in out))
    return conform_reviews(pd.DataFrame(out)), sid, reviewer


def _finding_rows(sheet: _Sheet, audit: Any, versions: dict[str, str], base: dict[str, Any]) -> list[dict[str, Any]]:
    h = audit.hits
    ids = {str(v.get("message_id")) for _, v in sheet.rows}
    h = findings(h.loc[h["message_id"].isin(list(ids)).to_numpy(dtype=bool, na_value=False)])  # the sheet's only
    start = pd.to_numeric(h["start"], errors="coerce").astype("Int64").astype("str").fillna("")
    key = h["message_id"].astype("str") + "\x1f" + h["rule"].astype("str") + "\x1f" + start
    known = pd.Series(np.arange(len(h)), index=key.to_numpy())
    known = known[~known.index.duplicated()]
    heads = wbm.FINDING_HEADERS
    seen: set[str] = set()
    out = []
    for i, v in sheet.rows:
        mid, rule = _text(v.get("message_id")), _text(v.get("rule"))
        pos = _text(v.get("start")) or ""
        k = f"{mid}\x1f{rule}\x1f{pos}"
        if k not in known.index:
            raise sheet.error(i, "", f"finding (message {mid!r}, rule {rule!r}, position {pos!r}) is not a finding of "
                                     "this audit; expected the rows written by `csaudit review sample` (ids unedited)")
        if k in seen:
            raise sheet.error(i, "", f"finding (message {mid!r}, rule {rule!r}) appears twice; expected each once")
        seen.add(k)
        version = _text(v.get("rule_version"))
        if rule not in versions or version != versions[rule]:
            raise sheet.error(i, sheet.header_of("rule_version", heads),
                              f"{version!r}; expected {versions.get(rule)!r} (the version in sheet {wbm.META})")
        word = _text(v.get("verdict"))
        if word is None:
            continue
        if word not in VERDICTS:
            raise sheet.error(i, sheet.header_of("verdict", heads), f"{word!r} is not a verdict; expected "
                                                                    f"{_words(VERDICTS)} (or empty)")
        hit = h.iloc[int(known[k])]
        out.append({**base, "kind": "finding", "conversation_id": str(hit["conversation_id"]),
                    "agent": None if pd.isna(hit["agent"]) else str(hit["agent"]), "message_id": mid, "rule": rule,
                    "rule_version": version, "category": str(hit["category"]), "severity": str(hit["severity"]),
                    "start": None if pos == "" else int(pos), "verdict": VERDICTS[word],
                    "comment": _text(v.get("comment"))})
    return out


def _conversation_rows(sheet: _Sheet, audit: Any, base: dict[str, Any]) -> list[dict[str, Any]]:
    conv = audit.conversations.set_index("conversation_id")["agent"]
    conv = conv[~conv.index.duplicated()]
    heads = wbm.CONVERSATION_HEADERS
    seen: set[str] = set()
    out = []
    for i, v in sheet.rows:
        cid = _text(v.get("conversation_id"))
        if cid not in conv.index:
            raise sheet.error(i, sheet.header_of("conversation_id", heads),
                              f"{cid!r} is not a conversation of this audit; expected the ids csaudit wrote")
        if cid in seen:
            raise sheet.error(i, sheet.header_of("conversation_id", heads), f"{cid!r} appears twice; expected each once")
        seen.add(cid)
        score = v.get("override_score")
        if score is not None:
            try:
                score = float(score)
            except (TypeError, ValueError):
                score = None
            if score is None or not 0 <= score <= 100:
                raise sheet.error(i, sheet.header_of("override_score", heads),
                                  f"{v.get('override_score')!r}; expected a number from 0 to 100 (or empty)")
        d = _text(v.get("dispute"))
        if d is not None and d not in DISPUTE:
            raise sheet.error(i, sheet.header_of("dispute", heads), f"{d!r}; expected {_words(DISPUTE)} (or empty)")
        status = _text(v.get("dispute_status"))
        if status is not None and status not in DISPUTE_STATUS:
            raise sheet.error(i, sheet.header_of("dispute_status", heads),
                              f"{status!r}; expected {_words(DISPUTE_STATUS)} (or empty)")
        reason, comment = _text(v.get("dispute_reason")), _text(v.get("comment"))
        disputed = DISPUTE.get(d or "", False) or status is not None
        if score is None and not disputed and comment is None and reason is None:
            continue
        agent = conv[cid]
        out.append({**base, "kind": "conversation", "conversation_id": cid,
                    "agent": None if pd.isna(agent) else str(agent), "override_score": score, "comment": comment,
                    "dispute": bool(disputed), "dispute_reason": reason,
                    "dispute_status": DISPUTE_STATUS[status] if status else ("open" if disputed else None)})
    return out


def load(paths: str | Path | Iterable[str | Path], audit: Any) -> pd.DataFrame:
    """``audit``'s reviews with the verdicts of the workbooks at ``paths`` added: the REVIEWS table to
    save with the audit (:func:`save_reviews`). A reviewer's re-imported workbook replaces all their
    earlier rows for the same sample (a verdict cleared in the workbook is gone). Every workbook is read
    and checked before any is used."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    new = []
    owner: dict[tuple[str, str], str] = {}
    for p in paths:
        rows, sid, reviewer = _read(p, audit)
        if (sid, reviewer) in owner:
            raise ReviewError(f"{p}: reviewer {reviewer!r} already imported from {owner[sid, reviewer]} in this batch "
                              f"for the same sample; expected one file per reviewer (name in sheet "
                              f"{wbm.INSTRUCTIONS} {wbm.REVIEWER_CELL[1]})")
        owner[sid, reviewer] = str(p)
        new.append(rows)
    old = conform_reviews(getattr(audit, "reviews", None))
    replaced = pd.Series(list(zip(old["sample_id"].fillna(""), old["reviewer"].fillna(""), strict=True)),
                         dtype=object).isin(list(owner)).to_numpy(dtype=bool)
    return combine_reviews(old.loc[~replaced], *new)


def save_reviews(audit_dir: str | Path, reviews: pd.DataFrame) -> Path:
    """Write ``reviews.parquet`` into the saved audit folder atomically (temp file + rename)."""
    audit_dir = Path(audit_dir)
    if not (audit_dir / "meta.json").exists():
        raise FileNotFoundError(f"{audit_dir}: not a saved audit (no meta.json)")
    target = audit_dir / "reviews.parquet"
    tmp = audit_dir / f".reviews.{os.getpid()}.parquet.tmp"
    conform_reviews(reviews).to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return target


def read_reviews_dir(path: str | Path) -> pd.DataFrame:
    """Every ``reviews.parquet`` under ``path`` (a folder, searched recursively, or one file), combined
    (:func:`csaudit.review.common.combine_reviews`). Used by ``--reviews DIR`` and ``review.reviews_path``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: reviews folder not found")
    files = [path] if path.is_file() else sorted(path.rglob("reviews.parquet"))
    if not files:
        log.warning("no reviews.parquet under %s: no earlier reviews used", path)
    return combine_reviews(*(pd.read_parquet(f) for f in files))
