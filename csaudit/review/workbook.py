"""The review workbook (复核表): what a reviewer fills in, in Excel or WPS.

Sheets (names and headers are checked on import, see :mod:`csaudit.review.loading`):

``说明``
    How to fill the workbook in; cell ``B3`` is the reviewer's name (审核人).
``发现`` (findings)
    One row per finding (hit of a severity above ``info``) in the sampled conversations: rule,
    category, severity, the term, the two messages before the hit, the message with the term marked
    ``【…】``, a link to the conversation's row in ``会话``, and the **判定** column (drop-down
    正确 / 误报 / 不确定) and a comment. The key columns at the right (消息编号, 位置, 规则版本) identify
    the finding; do not edit them.
``会话`` (conversations)
    One row per sampled conversation: why it was drawn, the automatic QA score and its five category
    scores, the transcript, then what the reviewer may fill: **复核评分** (override score 0–100),
    **评语**, **申诉** (是/否), **申诉理由**, **申诉状态** (待处理 / 已采纳 / 已驳回).
``_meta`` (hidden)
    Format, audit fingerprint, sample id, seed and every rule's version, so an import can check the
    workbook belongs to the audit.

Chat text is untrusted: every cell from chat text is written as a text cell (a message starting with
``=`` stays a string, never a formula), control characters xlsx cannot hold are removed, and personal
data is masked like the reports (:mod:`csaudit.report.mask`) unless ``mask=False``. Masking keeps the
length, so the term's offsets still mark the right characters.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csaudit.report.mask import mask_series
from csaudit.review.common import _digest, audit_fingerprint, audit_rule_versions, findings
from csaudit.review.sampling import REASON_LABELS

log = logging.getLogger(__name__)

FORMAT = "csaudit-review 1"
INSTRUCTIONS, FINDINGS, CONVERSATIONS, META = "说明", "发现", "会话", "_meta"
SHEETS = (INSTRUCTIONS, FINDINGS, CONVERSATIONS, META)
REVIEWER_CELL = ("A3", "B3")
REVIEWER_LABEL = "审核人"

FINDING_HEADERS: dict[str, str] = {
    "序号": "item", "会话编号": "conversation_id", "客服": "agent", "规则": "rule", "类别": "category",
    "严重度": "severity", "命中词": "term", "前两条消息": "context", "命中消息": "message", "判定": "verdict",
    "备注": "comment", "消息编号": "message_id", "位置": "start", "规则版本": "rule_version",
}
"""Header of the 发现 sheet → REVIEWS/HITS column (order = column order)."""
FINDING_INPUTS = ("verdict", "comment")

CONVERSATION_HEADERS: dict[str, str] = {
    "序号": "item", "会话编号": "conversation_id", "客服": "agent", "抽样原因": "reason", "开始时间": "start",
    "自动评分": "qa_score", "响应": "score_responsiveness", "礼貌": "score_politeness", "合规": "score_compliance",
    "预测满意度": "score_satisfaction", "转化": "score_conversion", "发现数": "n_findings", "对话记录": "transcript",
    "复核评分": "override_score", "评语": "comment", "申诉": "dispute", "申诉理由": "dispute_reason",
    "申诉状态": "dispute_status",
}
CONVERSATION_INPUTS = ("override_score", "comment", "dispute", "dispute_reason", "dispute_status")

ROLE_LABELS = {"customer": "顾客", "agent": "客服", "auto_reply": "自动回复", "bot": "机器人", "system": "系统"}
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_CELL = 32767

INSTRUCTION_LINES = (
    "1. 在 B3 填写审核人姓名（多位审核人各自填写一份相同的复核表，系统会计算一致性 κ）。",
    "2. 「发现」表：逐条查看命中消息（命中词用【】标出）和前两条消息，在「判定」列选择：",
    "   正确 = 规则判断对了；误报 = 不该命中；不确定 = 无法判断（不计入准确率）。",
    "   点击「会话编号」可跳到「会话」表中的完整对话记录。",
    "3. 「会话」表：如你认为自动评分不合理，在「复核评分」填写 0–100 的分数；可写「评语」。",
    "   客服对结果有异议时，「申诉」选“是”，写明「申诉理由」；处理后把「申诉状态」改为已采纳或已驳回。",
    "4. 不要修改表头、表名、序号和右侧的编号列，也不要输入公式；导入时会逐项检查。",
    "5. 导入：csaudit review import 本文件.xlsx --audit 审计目录",
    "Reviewer: fill B3. 发现 sheet: choose 正确 (correct) / 误报 (false positive) / 不确定 (unsure) per finding.",
    "会话 sheet: optional override score 0-100, comment, dispute (申诉) with reason and status. Do not edit headers or ids.",
)


def _clean(v: Any) -> Any:
    if isinstance(v, str):
        return _ILLEGAL.sub("", v)[:_MAX_CELL]
    return v


def _put(ws: Any, row: int, col: int, value: Any) -> Any:
    """Write one cell; strings are always text cells (never formulas)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ws.cell(row=row, column=col)
    if isinstance(value, np.generic):
        value = value.item()
    cell = ws.cell(row=row, column=col, value=_clean(value))
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _local(ts: pd.Series, tz: str, fmt: str) -> pd.Series:
    t = pd.to_datetime(ts)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(tz)
    return t.dt.strftime(fmt).fillna("")


def _masked(s: pd.Series, mask: bool) -> pd.Series:
    s = s.astype("str")
    return mask_series(s) if mask else s


def finding_rows(audit: Any, conversation_ids: list[str], mask: bool = True) -> pd.DataFrame:
    """The 发现 sheet's rows (columns = :data:`FINDING_HEADERS` values) for the given conversations."""
    versions = audit_rule_versions(audit)
    h = findings(audit.hits)
    h = h.loc[h["conversation_id"].isin(conversation_ids).to_numpy()]
    h = h.assign(_o=h["conversation_id"].map({c: i for i, c in enumerate(conversation_ids)}))
    h = h.sort_values(["_o", "ts", "message_id", "rule", "start"], kind="stable").reset_index(drop=True)
    m = audit.messages
    m = m.loc[m["conversation_id"].isin(conversation_ids).to_numpy(), ["message_id", "conversation_id", "role", "text"]]
    m = m.reset_index(drop=True)
    label = m["role"].astype("str").map(ROLE_LABELS).fillna("")
    line = label + "：" + _masked(m["text"].fillna(""), mask)
    pos = pd.Series(np.arange(len(m)), index=m["message_id"].to_numpy())
    pos = pos[~pos.index.duplicated()]
    at = h["message_id"].map(pos).to_numpy(dtype="float64", na_value=np.nan)
    conv = m["conversation_id"].to_numpy()
    ctx = []
    for p, cid in zip(at, h["conversation_id"], strict=True):
        if np.isnan(p):
            ctx.append("")
            continue
        p = int(p)
        prev = [line.iat[q] for q in (p - 2, p - 1) if q >= 0 and conv[q] == cid]
        ctx.append("\n".join(prev))
    text = _masked(h["text"].fillna(""), mask)
    start = pd.to_numeric(h["start"], errors="coerce")
    end = pd.to_numeric(h["end"], errors="coerce")
    marked = []
    for t, a, b in zip(text, start, end, strict=True):
        if pd.isna(a) or pd.isna(b) or not 0 <= int(a) <= int(b) <= len(t):
            marked.append(t)
        else:
            a, b = int(a), int(b)
            marked.append(f"{t[:a]}【{t[a:b]}】{t[b:]}")
    term = h["term"].astype("str")
    term = mask_series(term) if mask else term
    out = pd.DataFrame({
        "item": np.arange(1, len(h) + 1),
        "conversation_id": h["conversation_id"].astype("str"),
        "agent": h["agent"].astype("str"),
        "rule": h["rule"].astype("str"),
        "category": h["category"].astype("str"),
        "severity": h["severity"].astype("str"),
        "term": term,
        "context": ctx,
        "message": marked,
        "verdict": None,
        "comment": None,
        "message_id": h["message_id"].astype("str"),
        "start": start.astype("Int64"),
        "rule_version": h["rule"].astype("str").map(versions).fillna(""),
    })
    return out


def conversation_rows(audit: Any, drawn: pd.DataFrame, n_findings: pd.Series, mask: bool = True,
                      max_chars: int = 8000) -> pd.DataFrame:
    """The 会话 sheet's rows (columns = :data:`CONVERSATION_HEADERS` values) for the sample ``drawn``."""
    tz = audit.config.latency.timezone
    ids = drawn["conversation_id"].astype("str").tolist()
    conv = audit.conversations.set_index("conversation_id")
    t = audit.turns
    t = t.loc[t["conversation_id"].isin(ids).to_numpy()].sort_values(["conversation_id", "turn"], kind="stable")
    who = t["role"].astype("str").map(ROLE_LABELS).fillna("")
    who = who.where(t["role"].astype("str") != "agent", "客服 " + t["agent"].fillna("").astype("str"))
    when = _local(t["start"], tz, "%m-%d %H:%M:%S")
    when = when.where(when == "", "[" + when + "] ")
    lines = when + who + "：" + _masked(t["text"].fillna(""), mask)
    transcript = lines.groupby(t["conversation_id"].to_numpy()).agg("\n".join)
    transcript = transcript.map(lambda s: s if len(s) <= max_chars else s[: max_chars - 1] + "…")
    out = pd.DataFrame({
        "item": np.arange(1, len(ids) + 1),
        "conversation_id": ids,
        "agent": drawn["agent"].astype("str").to_numpy(),
        "reason": drawn["reason"].map(REASON_LABELS).fillna(drawn["reason"]).to_numpy(),
        "start": _local(conv["start"].reindex(ids), tz, "%Y-%m-%d %H:%M:%S").to_numpy(),
    })
    for col in ("qa_score", "score_responsiveness", "score_politeness", "score_compliance", "score_satisfaction",
                "score_conversion"):
        vals = pd.to_numeric(conv[col], errors="coerce").reindex(ids) if col in conv else pd.Series(np.nan, index=ids)
        out[col] = vals.round(1).to_numpy()
    out["n_findings"] = n_findings.reindex(ids).fillna(0).astype("int64").to_numpy()
    out["transcript"] = transcript.reindex(ids).fillna("").to_numpy()
    for col in CONVERSATION_INPUTS:
        out[col] = None
    return out


def sample_id(fingerprint: str, conversation_ids: list[str], seed: Any, per_agent: Any) -> str:
    """Identity of one review sample (the same for every copy of the same workbook)."""
    return _digest({"audit": fingerprint, "conversations": sorted(conversation_ids), "seed": seed, "per_agent": per_agent})


def write_workbook(audit: Any, drawn: pd.DataFrame, path: str | Path, mask: bool = True, seed: int | None = None,
                   per_agent: int | None = None) -> Path:
    """Write the review workbook for the sample ``drawn`` (:func:`csaudit.review.sample`) to ``path``
    (written to a temporary file first, then moved into place)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.hyperlink import Hyperlink

    path = Path(path)
    ids = drawn["conversation_id"].astype("str").tolist()
    fp = audit_fingerprint(audit)
    sid = sample_id(fp, ids, seed, per_agent)
    f_rows = finding_rows(audit, ids, mask)
    c_rows = conversation_rows(audit, drawn, f_rows.groupby("conversation_id").size(), mask,
                               audit.config.review.transcript_max_chars)
    conv_row = {c: i + 2 for i, c in enumerate(ids)}

    wb = Workbook()
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    fill = PatternFill("solid", fgColor="FFF2CC")  # the cells a reviewer fills

    ws = wb.active
    ws.title = INSTRUCTIONS
    _put(ws, 1, 1, "客服质检复核表 (csaudit review)").font = Font(bold=True, size=14)
    _put(ws, 3, 1, REVIEWER_LABEL).font = bold
    ws[REVIEWER_CELL[1]].fill = fill
    _put(ws, 4, 1, "审计 audit")
    _put(ws, 4, 2, fp)
    _put(ws, 5, 1, "抽样 sample")
    _put(ws, 5, 2, f"{sid} · {len(ids)} 会话, {len(f_rows)} 条发现 · seed {seed} · 每人 {per_agent}"
                   + (" · 个人信息已脱敏" if mask else " · 未脱敏 NOT masked"))
    for i, line in enumerate(INSTRUCTION_LINES):
        _put(ws, 7 + i, 1, line)
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 60

    def sheet(name: str, headers: dict[str, str], rows: pd.DataFrame, inputs: tuple[str, ...],
              widths: dict[str, float]) -> Any:
        s = wb.create_sheet(name)
        cols = list(headers.values())
        for j, head in enumerate(headers, start=1):
            _put(s, 1, j, head).font = bold
            s.column_dimensions[get_column_letter(j)].width = widths.get(headers[head], 12)
        for i, rec in enumerate(rows[cols].itertuples(index=False, name=None), start=2):
            for j, (col, v) in enumerate(zip(cols, rec, strict=True), start=1):
                c = _put(s, i, j, v)
                if col in inputs:
                    c.fill = fill
                if col in ("context", "message", "transcript", "comment"):
                    c.alignment = wrap
        s.freeze_panes = "C2"
        return s

    fs = sheet(FINDINGS, FINDING_HEADERS, f_rows, FINDING_INPUTS,
               {"conversation_id": 16, "agent": 16, "rule": 22, "context": 40, "message": 50, "verdict": 10,
                "comment": 24, "message_id": 16})
    link_col = list(FINDING_HEADERS.values()).index("conversation_id") + 1
    for i, cid in enumerate(f_rows["conversation_id"], start=2):
        c = fs.cell(row=i, column=link_col)
        c.hyperlink = Hyperlink(ref=c.coordinate, location=f"'{CONVERSATIONS}'!B{conv_row[cid]}",
                                tooltip="打开对话记录 open the transcript")
        c.style = "Hyperlink"
    cs = sheet(CONVERSATIONS, CONVERSATION_HEADERS, c_rows, CONVERSATION_INPUTS,
               {"conversation_id": 16, "agent": 16, "start": 19, "transcript": 70, "comment": 24,
                "dispute_reason": 24, "dispute_status": 10})

    def dropdown(s: Any, headers: dict[str, str], col: str, n: int, **kw: Any) -> None:
        if n == 0:
            return
        letter = get_column_letter(list(headers.values()).index(col) + 1)
        dv = DataValidation(allow_blank=True, showErrorMessage=True, **kw)
        s.add_data_validation(dv)
        dv.add(f"{letter}2:{letter}{n + 1}")

    dropdown(fs, FINDING_HEADERS, "verdict", len(f_rows), type="list", formula1='"正确,误报,不确定"',
             error="请选择 正确 / 误报 / 不确定", errorTitle="判定")
    dropdown(cs, CONVERSATION_HEADERS, "override_score", len(c_rows), type="decimal", operator="between",
             formula1="0", formula2="100", error="0–100", errorTitle="复核评分")
    dropdown(cs, CONVERSATION_HEADERS, "dispute", len(c_rows), type="list", formula1='"是,否"')
    dropdown(cs, CONVERSATION_HEADERS, "dispute_status", len(c_rows), type="list", formula1='"待处理,已采纳,已驳回"')

    ms = wb.create_sheet(META)
    meta_rows = [("format", FORMAT), ("audit_fingerprint", fp), ("sample_id", sid), ("seed", seed),
                 ("per_agent", per_agent), ("created", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
                 ("masked", bool(mask)), ("n_findings", len(f_rows)), ("n_conversations", len(c_rows)),
                 ("rule_versions", "")]
    meta_rows += sorted(audit_rule_versions(audit).items())
    for i, (k, v) in enumerate(meta_rows, start=1):
        _put(ms, i, 1, k)
        _put(ms, i, 2, v)
    ms.sheet_state = "hidden"

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    wb.save(tmp)
    tmp.replace(path)
    log.info("review workbook %s: %d conversations, %d findings", path, len(c_rows), len(f_rows))
    return path
