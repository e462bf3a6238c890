"""Every threshold of the audit, as dataclasses with presets.

``Config()`` holds the ``taobao`` defaults and needs no file. ``Config.preset("jd")`` starts from a
shipped preset (``csaudit/presets/*.toml``), ``Config.load("csaudit.toml")`` reads a shop's file,
which may name a preset (``preset = "jd"``) and then override any setting by section::

    preset = "jd"
    [latency]
    slow_s = 120
    [lexicon]
    files = ["my_shop_terms.toml"]

Units are in the field names (``_s`` seconds, ``_min`` minutes, ``_h`` hours). The preset name and
version, and every setting, are recorded in a saved audit (``Config.to_dict``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PRESETS_DIR = Path(__file__).parent / "presets"
PRESET_NAMES = ("taobao", "jd", "douyin")


@dataclass
class SessionConfig:
    """How messages are split into conversations (same shop + customer)."""

    idle_gap_min: float = 30.0
    """A new conversation starts after an idle gap longer than this many minutes."""
    split_on_day: bool = True
    """A new conversation also starts at local midnight."""


@dataclass
class RolesConfig:
    """How senders and texts map to roles (customer, agent, auto_reply, bot, system)."""

    agent_separators: list[str] = field(default_factory=lambda: [":", "："])
    """A sender ``店铺名:子账号`` (either colon) is an agent-side account."""
    auto_reply_prefixes: list[str] = field(
        default_factory=lambda: ["[自动回复]", "【自动回复】", "[自动]", "【自动】", "[auto]"]
    )
    """Agent-side texts starting with one of these are shop auto-replies."""
    auto_reply_templates: list[str] = field(default_factory=list)
    """Exact agent-side texts (after whitespace trim) that the shop has set as auto-replies."""
    auto_reply_zero_delay: bool = False
    """Also treat an agent-side message sent 0 s after a customer message as an auto-reply."""
    bot_accounts: list[str] = field(default_factory=lambda: ["店小蜜", "机器人", "智能客服", "小蜜"])
    """Sub-account names (after the colon) of full-auto robot reception."""
    system_patterns: list[str] = field(
        default_factory=lambda: [
            r"撤回了一条消息",
            r"^当前用户来自",
            r"^由\s*\S+\s*转交给",
            r"^原因[:：]\s*【",
            r"^【即将超时】",
            r"^系统关闭会话",
            r"^系统消息",
            r"^\[系统\]",
            r"^会话已(结束|关闭|转接)",
        ]
    )
    """Regular expressions (searched on a whole line) that mark platform/system lines."""


@dataclass
class LatencyConfig:
    """Rounds (首问首答) and response-time figures."""

    timezone: str = "Asia/Shanghai"
    service_start: str = "08:00"
    """Service hours start (local time, inclusive); rounds starting outside are not averaged."""
    service_end: str = "23:00"
    """Service hours end (local time, exclusive)."""
    cap_s: float = 600.0
    """Each round's response time is capped at this many seconds for the average (平响)."""
    unanswered: str = "cap"
    """``cap``: unanswered rounds count as ``cap_s``; ``exclude``: left out of the average."""
    slow_s: float = 180.0
    """A round slower than this is a slow response (慢响应)."""
    rate_thresholds_s: list[float] = field(default_factory=lambda: [30.0, 180.0, 300.0])
    """Shares of rounds answered within each of these many seconds."""
    answer_ratio_min: float = 1.0
    """答问比 (agent ÷ customer messages) below this is flagged."""


@dataclass
class LexiconConfig:
    """Politeness and negative-phrase lexicons (``csaudit/lexicons/*.toml``)."""

    files: list[str] = field(default_factory=list)
    """Shop lexicon files that add, remove or override terms (paths relative to the config file)."""
    disabled_categories: list[str] = field(default_factory=list)
    """Categories switched off for this shop."""
    keyword_max_texts: int = 50_000
    """Complaint keywords (jieba TF-IDF) use at most this many distinct customer texts, the most
    frequent first (segmentation costs ≈ 50 µs per text; the top keywords are stable long before)."""


@dataclass
class QCConfig:
    """Quality-control (质检) rules."""

    long_wait_s: float = 180.0
    """A round slower than this must be followed by an apology ..."""
    apology_within_msgs: int = 5
    """... within this many agent messages."""
    hold_followup_min: float = 15.0
    """"稍等/我查一下" must be followed by another agent message within this many minutes."""
    closing_last_n: int = 10
    """A closing or rating invitation is expected among the last this-many messages."""
    disabled_rules: list[str] = field(default_factory=list)


@dataclass
class SentimentConfig:
    """Customer sentiment (snownlp) per conversation."""

    k: int = 3
    """Start = mean of the first k customer messages, end = mean of the last k."""
    deteriorated_drift: float = -0.2
    """A conversation whose drift (end − start) is at most this has deteriorated."""
    model: str = ""
    """Folder of a sentiment model trained on the shop's own texts (``csaudit train-sentiment``;
    relative to the config file's folder). Empty = snownlp's shipped model."""


@dataclass
class ConversionConfig:
    """Inquiries (询单) and their conversion to orders."""

    window_h: float = 48.0
    """An order within this many hours after an inquiry started counts for it (24 h – 15 d)."""
    attribution: str = "order"
    """``order``: by order creation; ``payment``: by payment time; ``order_first``: created, else paid."""
    after_sales_keywords: list[str] = field(
        default_factory=lambda: ["退款", "退货", "售后", "物流", "快递", "换货", "维修", "补发", "签收"]
    )
    """Conversations whose customer text has any of these are after-sales, not inquiries."""


@dataclass
class ScoreConfig:
    """The QA score: categories 0–100, weighted mean per conversation, mean per agent."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "responsiveness": 0.20,
            "politeness": 0.10,
            "compliance": 0.20,
            "satisfaction": 0.40,
            "conversion": 0.10,
        }
    )
    """Weight of each category (``responsiveness, politeness, compliance, satisfaction, conversion``)
    in the conversation's weighted mean, renormalised over the categories that apply."""
    critical_categories: list[str] = field(
        default_factory=lambda: ["off_platform", "abuse", "inducement"]
    )
    """A hit in any of these categories sets the conversation's QA score to 0."""
    responsiveness_full_s: float = 30.0
    """A round answered within this many seconds earns full responsiveness points (linear to 0 at the cap)."""
    severity_penalty: dict[str, float] = field(
        default_factory=lambda: {"critical": 100.0, "major": 25.0, "minor": 10.0}
    )
    """Compliance points deducted per penalised hit, by severity (severities not listed, e.g. ``info``, cost 0)."""
    penalty_sides: list[str] = field(default_factory=lambda: ["agent"])
    """Only hits on these sides cost compliance points or zero a conversation (critical)."""
    greeting_categories: list[str] = field(default_factory=lambda: ["greeting"])
    """Lexicon categories that count as a greeting in the first agent reply."""
    closing_categories: list[str] = field(default_factory=lambda: ["closing", "rating_invite"])
    """Lexicon categories that count as a closing among the conversation's last ``qc.closing_last_n`` messages."""
    apology_categories: list[str] = field(default_factory=lambda: ["apology"])
    """Lexicon categories that count as an apology after a long wait (``qc.long_wait_s``) or a complaint."""
    complaint_categories: list[str] = field(default_factory=lambda: ["escalation", "repeated", "dissatisfied"])
    """Customer-side lexicon categories that call for an apology (the politeness check is needed only
    after one of these or a long wait; it is never a plus in conversations that did not need it)."""
    politeness_rules: list[str] = field(
        default_factory=lambda: ["qc:no_greeting_first_reply", "qc:no_apology_after_wait", "qc:no_closing"]
    )
    """QC rules already scored by the politeness category; they cost no compliance points (no double count)."""
    csat_model: str = ""
    """Predicted-satisfaction (``csat``) model file written by ``csaudit calibrate`` (JSON; relative
    paths are resolved against the config file's folder). Empty = the shipped model
    ``csaudit/models/csat.json`` fitted on STC-3 (see README "Predicted satisfaction")."""
    rating_window_h: float = 24.0
    """A rating matched by customer + time (no conversation id) belongs to that customer's latest
    conversation starting at or before the rating time, if the rating came no later than this many
    hours after that conversation's end."""


@dataclass
class ReportConfig:
    """Batch report generation."""

    mask: bool = True
    """Mask phone numbers, order numbers and addresses in reports."""
    kernel_name: str = "csaudit"
    """Jupyter kernel the notebooks run on (``make`` registers ``csaudit`` for the project's .venv)."""
    timeout_s: float = 600.0
    """Per-notebook execution timeout in seconds (also each cell's timeout)."""
    workers: int = 2
    retries: int = 1
    """A failed notebook is run again this many times, on a fresh kernel."""
    worst_conversations: int = 3
    """An agent report shows this many conversations with the worst sentiment drift, with transcripts."""
    coaching_points: int = 3
    """An agent report lists this many coaching points."""


@dataclass
class ReviewConfig:
    """The review and calibration loop (``csaudit review``; README "Review and calibration")."""

    min_reviews: int = 20
    """A rule's reviewed precision is judged only after at least this many decisive verdicts
    (正确 or 误报) on its current version."""
    min_precision: float = 0.8
    """A rule whose reviewed precision (正确 ÷ (正确 + 误报), fraction 0–1) is below this, after
    ``min_reviews`` verdicts, is unreliable: its hits stay visible but cost no points."""
    reviews_path: str = ""
    """Folder of earlier reviews (every ``reviews.parquet`` under it, e.g. saved audits) that an audit
    uses when ``--reviews`` is not given; relative to the config file; empty: none."""
    confidence_z: float = 1.96
    """z of the Wilson interval around a rule's precision (1.96 = 95 %)."""
    sample_lowest: float = 0.3
    """Share of an agent's sample taken from its lowest-QA-score conversations."""
    sample_critical: float = 0.2
    """Share taken from its conversations with a critical finding (lowest score first)."""
    sample_outliers: float = 0.2
    """Share taken from its outliers: the longest customer wait (slowest round; unanswered first)."""
    max_rows: int = 20_000
    """An imported review sheet with more data rows than this is rejected."""
    max_cell_chars: int = 32_767
    """An imported cell longer than this many characters (Excel's own limit) is rejected."""
    transcript_max_chars: int = 8_000
    """A transcript in the review workbook is cut after this many characters (marked …)."""


_SECTIONS: dict[str, type] = {
    "session": SessionConfig,
    "roles": RolesConfig,
    "latency": LatencyConfig,
    "lexicon": LexiconConfig,
    "qc": QCConfig,
    "sentiment": SentimentConfig,
    "conversion": ConversionConfig,
    "score": ScoreConfig,
    "report": ReportConfig,
    "review": ReviewConfig,
}


@dataclass
class Config:
    """All settings of an audit. ``Config()`` = the ``taobao`` preset."""

    preset_name: str = "taobao"
    preset_version: str = "2025.1"
    session: SessionConfig = field(default_factory=SessionConfig)
    roles: RolesConfig = field(default_factory=RolesConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)
    qc: QCConfig = field(default_factory=QCConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    base_dir: str = "."
    """Folder that relative paths in the settings (lexicon files) are resolved against."""

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> Config:
        """The shipped preset ``taobao`` (default), ``jd`` or ``douyin``."""
        if name not in PRESET_NAMES:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESET_NAMES)}")
        data = tomllib.loads((PRESETS_DIR / f"{name}.toml").read_text(encoding="utf-8"))
        return cls().updated(data)

    @classmethod
    def load(cls, path: str | Path, preset: str | None = None) -> Config:
        """Read a ``csaudit.toml``: an optional ``preset = ...`` then section overrides.

        ``preset`` (e.g. from ``--preset``) is the base when the file names none; a file naming a
        different preset is an error rather than a silent choice between the two."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        named = data.pop("preset", preset or "taobao")
        if preset is not None and named != preset:
            raise ValueError(f"{path}: names preset {named!r} but --preset {preset!r} was given")
        cfg = cls.preset(named).updated(data, where=str(path))
        cfg.base_dir = str(path.parent.resolve())
        return cfg

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Inverse of :meth:`to_dict` (used when loading a saved audit)."""
        return cls().updated(dict(data))

    def updated(self, data: dict[str, Any], where: str = "config") -> Config:
        """A copy with the settings in ``data`` (nested by section) applied; unknown keys are errors."""
        cfg = dataclasses.replace(self)
        for key, value in data.items():
            if key in _SECTIONS:
                if not isinstance(value, dict):
                    raise ValueError(f"{where}: [{key}] must be a table of settings")
                section = getattr(cfg, key)
                known = {f.name for f in fields(section)}
                unknown = set(value) - known
                if unknown:
                    raise ValueError(
                        f"{where}: unknown setting(s) {sorted(unknown)} in [{key}]; expected {sorted(known)}"
                    )
                setattr(cfg, key, dataclasses.replace(section, **value))
            elif key in ("preset_name", "preset_version", "base_dir"):
                setattr(cfg, key, value)
            elif key == "preset":
                continue
            else:
                raise ValueError(f"{where}: unknown section {key!r}; expected one of {sorted(_SECTIONS)}")
        cfg._check(where)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _check(self, where: str) -> None:
        if self.latency.unanswered not in ("cap", "exclude"):
            raise ValueError(f"{where}: latency.unanswered must be 'cap' or 'exclude'")
        if self.conversion.attribution not in ("order", "payment", "order_first"):
            raise ValueError(f"{where}: conversion.attribution must be 'order', 'payment' or 'order_first'")
        if not 24 <= self.conversion.window_h <= 15 * 24:
            raise ValueError(f"{where}: conversion.window_h must be between 24 and 360 hours")
        if self.session.idle_gap_min <= 0:
            raise ValueError(f"{where}: session.idle_gap_min must be positive")
        r = self.review
        if not 0 <= r.min_precision <= 1:
            raise ValueError(f"{where}: review.min_precision must be between 0 and 1")
        if r.min_reviews < 1:
            raise ValueError(f"{where}: review.min_reviews must be at least 1")
        shares = (r.sample_lowest, r.sample_critical, r.sample_outliers)
        if any(not 0 <= x <= 1 for x in shares) or sum(shares) > 1:
            raise ValueError(f"{where}: review.sample_* shares must be between 0 and 1 and sum to at most 1")
