"""The handlers of ``csaudit review sample`` and ``csaudit review import`` (arguments: :mod:`csaudit.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def cmd_sample(args: argparse.Namespace) -> int:
    from csaudit.audit import Audit
    from csaudit.review import sample, write_workbook

    audit = Audit.load(args.audit_dir)
    drawn = sample(audit, per_agent=args.per_agent, seed=args.seed)
    mask = bool(audit.config.report.mask and not args.no_mask)
    out = write_workbook(audit, drawn, args.output, mask=mask, seed=args.seed, per_agent=args.per_agent)
    counts = drawn["reason"].value_counts()
    print(f"wrote {out}: {len(drawn)} conversations of {drawn['agent'].nunique()} agents "
          f"({', '.join(f'{r} {int(n)}' for r, n in counts.items())})" + ("" if mask else ", NOT masked"))
    return 0


def summary(audit: object, reviews: pd.DataFrame) -> str:
    """What ``review import`` prints: precision per rule, agreement, reviewed scores, disputes."""
    from csaudit.review import (
        agreement,
        audit_fingerprint,
        disputes,
        reviewed_scores,
        rule_precision,
        rule_versions,
    )
    from csaudit.score import format_scorecard

    cfg = audit.config.review
    fp = audit_fingerprint(audit)
    versions = audit.meta.get("rule_versions") or rule_versions(audit.config)
    prec = rule_precision(reviews, versions, cfg.min_reviews, cfg.min_precision, cfg.confidence_z)
    agree = agreement(reviews, versions)
    scores = reviewed_scores(audit.conversations, reviews, fp)
    disp = disputes(reviews, fp)
    parts = ["precision per rule (current versions; 95 % Wilson interval):",
             format_scorecard(prec, prec.columns) if len(prec) else "(no verdicts yet)", "",
             "reviewers' agreement (Cohen's kappa):", format_scorecard(agree, agree.columns), "",
             "reviewed QA score per agent:", format_scorecard(scores, scores.columns), "",
             f"disputes: {int((~disp['resolved']).sum())} open, {int(disp['resolved'].sum())} resolved"]
    return "\n".join(parts)


def cmd_import(args: argparse.Namespace) -> int:
    from csaudit.audit import Audit
    from csaudit.review import load, save_reviews

    audit = Audit.load(args.audit_dir)
    before = len(audit.reviews)
    reviews = load(args.paths, audit)  # every workbook is checked before anything is written
    target = save_reviews(Path(args.audit_dir), reviews)
    print(f"imported {len(args.paths)} workbook(s): reviews {before} → {len(reviews)} rows in {target}")
    print()
    print(summary(audit, reviews))
    return 0
