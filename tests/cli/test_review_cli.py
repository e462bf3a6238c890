"""`csaudit review sample | import` and `csaudit audit --reviews` on a small saved audit."""

from __future__ import annotations

import pytest

import csaudit as ca
from csaudit.cli import main
from tests.review.conftest import small_messages
from tests.review.helpers import fill


@pytest.fixture()
def saved(tmp_path):
    audit_dir = tmp_path / "audit"
    ca.audit(small_messages()).save(audit_dir)
    return audit_dir


def test_sample_import_and_failed_import_keeps_reviews(saved, tmp_path, capsys):
    wb = tmp_path / "review.xlsx"
    assert main(["review", "sample", str(saved), "--per-agent", "10", "--seed", "1", "-o", str(wb)]) == 0
    assert "9 conversations of 2 agents" in capsys.readouterr().out
    good = fill(wb, tmp_path / "jia.xlsx", "甲", {("a1", "lexicon:refusal"): "正确", ("a2", "lexicon:refusal"): "误报"})
    assert main(["review", "import", str(good), "--audit", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "reviews 0 → 2 rows" in out and "lexicon:refusal" in out
    before = (saved / "reviews.parquet").read_bytes()

    from openpyxl import load_workbook

    book = load_workbook(good)
    book["发现"].cell(2, 10, "差不多")
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    # a good file and a bad one in one batch: nothing of the batch is written
    assert main(["review", "import", str(good), str(bad), "--audit", str(saved)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("csaudit review: error: ") and "sheet 发现 row 2, column J (判定)" in err
    assert len(err.splitlines()) == 1
    assert (saved / "reviews.parquet").read_bytes() == before
    assert len(ca.Audit.load(saved).reviews) == 2


def test_audit_with_reviews_marks_unreliable(saved, tmp_path, capsys):
    from tests.cli.test_audit_cli import CHAT

    wb = tmp_path / "review.xlsx"
    main(["review", "sample", str(saved), "--per-agent", "10", "-o", str(wb)])
    wrong = {(f"a{i}", "lexicon:refusal"): "误报" for i in range(1, 6)}
    files = [fill(wb, tmp_path / f"r{k}.xlsx", name, wrong) for k, name in enumerate("甲乙丙丁")]
    assert main(["review", "import", *map(str, files), "--audit", str(saved)]) == 0
    export = tmp_path / "chat.txt"
    export.write_text(CHAT.replace("晕，加我微信聊吧", "这个不行"), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", str(export), "--reviews", str(tmp_path), "-o", str(tmp_path / "next")]) == 0
    assert "unreliable rules (hits kept, not scored): lexicon:refusal" in capsys.readouterr().out
    nxt = ca.Audit.load(tmp_path / "next")
    assert "lexicon:refusal" in set(nxt.hits["rule"])
    assert nxt.rule_reviews.set_index("rule").loc["lexicon:refusal", "n_reviews"] == 20
