"""Fill a review workbook the way a reviewer would (openpyxl, by row content)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from csaudit.review import workbook as wbm


def fill(src: Path, dst: Path, reviewer: str | None, verdicts: dict[tuple[str, str], str] | None = None,
         conversations: dict[str, dict[str, object]] | None = None) -> Path:
    """Copy ``src`` to ``dst`` with ``reviewer`` in 说明!B3, the 判定 of the findings keyed by
    ``(conversation_id, rule)`` and, per conversation id, cells of the 会话 sheet by column
    (``override_score``, ``comment``, ``dispute``, ``dispute_reason``, ``dispute_status``)."""
    wb = load_workbook(src)
    if reviewer is not None:
        wb[wbm.INSTRUCTIONS][wbm.REVIEWER_CELL[1]] = reviewer
    fcols = {c: j for j, c in enumerate(wbm.FINDING_HEADERS.values(), start=1)}
    ws = wb[wbm.FINDINGS]
    for row in range(2, ws.max_row + 1):
        key = (ws.cell(row, fcols["conversation_id"]).value, ws.cell(row, fcols["rule"]).value)
        if verdicts and key in verdicts:
            ws.cell(row, fcols["verdict"]).value = verdicts[key]
    ccols = {c: j for j, c in enumerate(wbm.CONVERSATION_HEADERS.values(), start=1)}
    ws = wb[wbm.CONVERSATIONS]
    for row in range(2, ws.max_row + 1):
        cid = ws.cell(row, ccols["conversation_id"]).value
        for col, value in (conversations or {}).get(cid, {}).items():
            ws.cell(row, ccols[col]).value = value
    wb.save(dst)
    return dst
