"""Hostile or broken review workbooks are rejected with an error naming sheet, row and expectation."""

from __future__ import annotations

import dataclasses

import pytest
from openpyxl import load_workbook

import csaudit as ca
from csaudit.review import ReviewError

from .conftest import small_messages
from .helpers import fill


@pytest.fixture(scope="module")
def blank(small_audit, tmp_path_factory):
    drawn = ca.review.sample(small_audit, per_agent=10, seed=1)
    return ca.review.write_workbook(small_audit, drawn, tmp_path_factory.mktemp("hostile") / "review.xlsx", seed=1)


def edited(blank, tmp_path, change):
    wb = load_workbook(blank)
    change(wb)
    out = tmp_path / "edited.xlsx"
    wb.save(out)
    return out


def first_row(wb, rule="lexicon:refusal"):
    ws = wb["发现"]
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 4).value == rule)


CASES = {
    "header": (lambda wb: wb["发现"].cell(1, 10, "结论"),
               r"sheet 发现 row 1, column J: header '结论'; expected '判定'"),
    "verdict word": (lambda wb: wb["发现"].cell(first_row(wb), 10, "对"),
                     r"sheet 发现 row \d+, column J \(判定\): '对' is not a verdict; expected 正确 / 误报 / 不确定"),
    "formula": (lambda wb: wb["发现"].cell(2, 10, '=IF(1,"正确")'), r"sheet 发现 row 2, column J: a formula"),
    "formula in conversations": (lambda wb: wb["会话"].cell(2, 14, "=1+1"), r"sheet 会话 row 2, column N: a formula"),
    "missing sheet": (lambda wb: wb.remove(wb["会话"]), r"sheet 会话 missing .*expected the sheets 说明, 发现, 会话, _meta"),
    "extra column": (lambda wb: wb["发现"].cell(3, 20, "note"), r"sheet 发现 row 3, column T: a value beyond the last"),
    "edited id": (lambda wb: wb["发现"].cell(first_row(wb), 12, "m-forged"),
                  r"sheet 发现 row \d+: finding \(message 'm-forged'.* is not a finding of this audit"),
    "score": (lambda wb: wb["会话"].cell(2, 14, 150), r"sheet 会话 row 2, column N \(复核评分\): 150; expected a number"),
    "dispute word": (lambda wb: wb["会话"].cell(2, 16, "对"), r"column P \(申诉\): '对'; expected 是 / 否"),
    "status word": (lambda wb: wb["会话"].cell(2, 18, "完成"), r"column R \(申诉状态\): '完成'; expected 待处理"),
    "meta format": (lambda wb: wb["_meta"].cell(1, 2, "other"), r"sheet _meta row 1: format 'other'"),
    "reviewer label": (lambda wb: wb["说明"].cell(3, 1, "x"), r"sheet 说明 cell A3: 'x'; expected '审核人'"),
    "meta version": (lambda wb: next(wb["_meta"].cell(r, 2, "ffffffffffff") for r in range(1, 60)
                                     if wb["_meta"].cell(r, 1).value == "lexicon:refusal"),
                     r"sheet _meta: rule lexicon:refusal version 'ffffffffffff'; expected '[0-9a-f]{12}'"),
    "rule version": (lambda wb: wb["发现"].cell(first_row(wb), 14, "000000000000"),
                     r"column N \(规则版本\): '000000000000'; expected '[0-9a-f]{12}'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rejected(small_audit, blank, tmp_path, case):
    change, message = CASES[case]
    bad = edited(blank, tmp_path, change)
    with pytest.raises(ReviewError, match=message) as err:
        ca.review.load([bad], small_audit)
    assert str(err.value).startswith(str(bad)) and "\n" not in str(err.value)


def test_huge_rows_and_cells(small_audit, blank, tmp_path):
    cfg = small_audit.config
    tight = dataclasses.replace(cfg, review=dataclasses.replace(cfg.review, max_rows=10, max_cell_chars=1000))
    audit = dataclasses.replace(small_audit, config=tight)

    def many(wb):
        ws = wb["发现"]
        for r in range(ws.max_row + 1, ws.max_row + 40):
            ws.cell(r, 1, r)
    with pytest.raises(ReviewError, match=r"sheet 发现 row 12: more than 10 rows"):
        ca.review.load([edited(blank, tmp_path, many)], audit)
    with pytest.raises(ReviewError, match=r"sheet 发现 row 2, column K: 2000 characters; expected at most 1000"):
        ca.review.load([edited(blank, tmp_path, lambda wb: wb["发现"].cell(2, 11, "长" * 2000))], audit)


def test_other_audit_and_not_xlsx(small_audit, blank, tmp_path):
    m = small_messages()
    other = ca.audit(m.loc[m["conversation_id"] != "b3"])
    with pytest.raises(ReviewError, match=r"sheet _meta row 2: audit '[0-9a-f]+'; expected '[0-9a-f]+' \(this workbook "
                                          r"was drawn from another audit\)"):
        ca.review.load([blank], other)
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ReviewError, match="not an xlsx workbook"):
        ca.review.load([junk], small_audit)


def test_same_reviewer_twice_in_one_batch(small_audit, blank, tmp_path):
    a = fill(blank, tmp_path / "a.xlsx", "甲", {("a1", "lexicon:refusal"): "正确"})
    b = fill(blank, tmp_path / "b.xlsx", "甲", {("a2", "lexicon:refusal"): "正确"})
    with pytest.raises(ReviewError, match="reviewer '甲' already imported"):
        ca.review.load([a, b], small_audit)
