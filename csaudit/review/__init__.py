"""The review and calibration loop (抽检 / 复核 / 申诉): README "Review and calibration".

>>> import csaudit as ca
>>> drawn = ca.review.sample(audit, per_agent=10, seed=1)              # doctest: +SKIP
>>> ca.review.write_workbook(audit, drawn, "review.xlsx", seed=1)       # doctest: +SKIP
>>> reviews = ca.review.load(["review.xlsx"], audit)                   # doctest: +SKIP
>>> ca.review.rule_precision(reviews, ca.review.rule_versions(audit.config))  # doctest: +SKIP
"""

from csaudit.review.apply import penalised_hits, rule_reviews
from csaudit.review.common import (
    REVIEW_COLUMNS,
    audit_fingerprint,
    combine_reviews,
    conform_reviews,
    empty_reviews,
    fingerprint_of,
    rule_versions,
)
from csaudit.review.loading import ReviewError, load, read_reviews_dir, read_workbook, save_reviews
from csaudit.review.sampling import sample
from csaudit.review.stats import (
    agreement,
    cohen_kappa,
    disputes,
    reviewed_scores,
    rule_precision,
    unreliable_rules,
    wilson,
)
from csaudit.review.workbook import write_workbook

__all__ = [
    "REVIEW_COLUMNS", "ReviewError", "agreement", "audit_fingerprint", "cohen_kappa", "combine_reviews",
    "conform_reviews", "disputes", "empty_reviews", "fingerprint_of", "load", "penalised_hits", "read_reviews_dir", "read_workbook",
    "reviewed_scores", "rule_precision", "rule_reviews", "rule_versions", "sample", "save_reviews",
    "unreliable_rules", "wilson", "write_workbook",
]
