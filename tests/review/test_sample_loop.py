"""The README loop on the sample data: audit → review sample → workbook filled here → review import →
next audit with --reviews: the rule the reviewers rejected is unreliable and stops zeroing."""

from __future__ import annotations

import dataclasses

from openpyxl import load_workbook

import csaudit as ca
from csaudit.cli import main
from csaudit.review import workbook as wbm

OFF = "lexicon:off_platform"


def fill_all(src, dst, reviewer, wrong_rule):
    """Every finding judged: ``wrong_rule`` 误报, every other rule 正确."""
    wb = load_workbook(src)
    wb[wbm.INSTRUCTIONS]["B3"] = reviewer
    ws = wb[wbm.FINDINGS]
    for row in range(2, ws.max_row + 1):
        ws.cell(row, 10).value = "误报" if ws.cell(row, 4).value == wrong_rule else "正确"
    wb.save(dst)
    return dst


def test_loop_on_sample(sample_audit, sample_chats, sample_orders, tmp_path, capsys):
    week = tmp_path / "week"
    sample_audit.save(week)
    wb = tmp_path / "review.xlsx"
    assert main(["review", "sample", str(week), "--per-agent", "10", "--seed", "1", "-o", str(wb)]) == 0
    files = [fill_all(wb, tmp_path / f"{n}.xlsx", n, OFF) for n in ("甲", "乙")]
    assert main(["review", "import", *map(str, files), "--audit", str(week)]) == 0
    capsys.readouterr()

    reviews = ca.Audit.load(week).reviews
    f = reviews.loc[reviews["kind"] == "finding"]
    n_off = int((f["rule"] == OFF).sum())
    assert n_off >= 2 and len(f) == 2 * len(load_workbook(wb)[wbm.FINDINGS]["A"][1:])
    prec = ca.review.rule_precision(reviews, ca.review.rule_versions(sample_audit.config)).set_index("rule")
    assert prec.loc[OFF, "precision"] == 0 and prec.loc[OFF, "n_reviews"] == n_off
    assert (prec.drop(index=OFF)["precision"] == 1).all()
    assert ca.review.agreement(reviews).set_index("rule").loc["(all)", "agreement"] == 1.0

    cfg = dataclasses.replace(sample_audit.config,
                              review=dataclasses.replace(sample_audit.config.review, min_reviews=n_off))
    later = ca.audit(sample_chats.messages, orders=sample_orders, config=cfg, reviews=tmp_path)
    assert later.meta["unreliable_rules"] == [OFF]
    assert len(later.hits) == len(sample_audit.hits)  # still visible
    h = sample_audit.hits
    crit = h.loc[h["category"].isin(cfg.score.critical_categories) & (h["side"] == "agent")]
    only_off = set(crit.loc[crit["rule"] == OFF, "conversation_id"]) - set(crit.loc[crit["rule"] != OFF, "conversation_id"])
    c0, c1 = (x.conversations.set_index("conversation_id")["critical"] for x in (sample_audit, later))
    assert only_off and c0[list(only_off)].all() and not c1[list(only_off)].any()  # no longer zeroed
    assert c1.sum() == c0.sum() - len(only_off)
    a0, a1 = (x.agents.set_index("agent")["qa_score"] for x in (sample_audit, later))
    a1 = a1.reindex(a0.index)
    assert (a1 >= a0 - 1e-9).all() and (a1 > a0).any()
