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

import copy
import dataclasses
import difflib
import json
import re
import tomllib
import types
import typing
import zoneinfo
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PRESETS_DIR = Path(__file__).parent / "presets"
PRESET_NAMES = ("taobao", "jd", "douyin")


class ConfigError(ValueError):
    """A setting that cannot be used: names the file, ``section.key``, the value and what is expected.

    ``where`` (file or ``config``), ``key`` (``section.key``), ``value`` and ``expected`` are kept as
    attributes; ``str(error)`` is the one line the command line prints (exit code 2)."""

    def __init__(self, where: str, key: str, value: Any, expected: str, *, message: str | None = None) -> None:
        self.where, self.key, self.value, self.expected = where, key, value, expected
        super().__init__(message or f"{where}: {key} = {show_value(value)}: expected {expected}")


def show_value(value: Any) -> str:
    """``value`` as it would be written in TOML (strings quoted, ``true``/``false``), shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def setting(default: Any, **rules: Any) -> Any:
    """A Config field with its default and the range rules :func:`validate_section` checks.

    Rules (all optional): ``gt`` / ``ge`` / ``lt`` / ``le`` (bounds of a number, or of each number of
    a list or of each value of a table); ``choices`` (the allowed strings, for a string or each item of
    a list); ``check`` (``"timezone"``: an IANA zone; ``"clock"``: ``HH:MM`` from 00:00 to 24:00;
    ``"regex"``: each string compiles); ``keys`` (the allowed keys of a table, or ``"default"``: the
    keys of the default); ``not_all_zero`` (a table or list of numbers that are not all 0);
    ``nonempty`` (a non-empty string, or a list of non-empty strings). Lists and tables get a fresh
    copy of ``default`` per instance."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=rules)
    return field(default=default, metadata=rules)


@dataclass
class SessionConfig:
    """How messages are split into conversations (same shop + customer)."""

    idle_gap_min: float = setting(30.0, gt=0)
    """A new conversation starts after an idle gap longer than this many minutes."""
    split_on_day: bool = True
    """A new conversation also starts at local midnight."""


@dataclass
class RolesConfig:
    """How senders and texts map to roles (customer, agent, auto_reply, bot, system)."""

    agent_separators: list[str] = setting([":", "："], nonempty=True)
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
    system_patterns: list[str] = setting(
        [
            r"撤回了一条消息",
            r"^当前用户来自",
            r"^由\s*\S+\s*转交给",
            r"^原因[:：]\s*【",
            r"^【即将超时】",
            r"^系统关闭会话",
            r"^系统消息",
            r"^\[系统\]",
            r"^会话已(结束|关闭|转接)",
        ],
        check="regex",
    )
    """Regular expressions (searched on a whole line) that mark platform/system lines."""


#: default :attr:`LatencyConfig.acknowledgements`: closings and acknowledgements that need no reply
ACKNOWLEDGEMENTS = (
    "好的", "好", "好吧", "好滴", "好嘞", "好哒", "行", "可以", "ok", "okay", "en", "嗯", "嗯嗯", "恩恩", "哦", "哦哦",
    "噢", "喔", "谢谢", "谢谢你", "谢谢亲", "多谢", "感谢", "好的谢谢", "辛苦", "辛苦了", "不客气", "thx", "thanks",
    "没有", "没有了", "没了", "没事了", "没问题", "没别的了", "没有其他问题了", "暂时没有了", "暂时没了", "不用了",
    "知道了", "明白了", "了解", "收到", "我再看看", "我再考虑一下", "再见", "拜拜", "88",
)


@dataclass
class LatencyConfig:
    """Rounds (首问首答) and response-time figures."""

    timezone: str = setting("Asia/Shanghai", check="timezone")
    """IANA time zone of the shop (e.g. ``Asia/Shanghai``): local dates, service hours, periods."""
    service_start: str = setting("08:00", check="clock")
    """Service hours start (local time, inclusive); rounds starting outside are not averaged."""
    service_end: str = setting("23:00", check="clock")
    """Service hours end (local time, exclusive)."""
    cap_s: float = setting(600.0, gt=0)
    """Each round's response time is capped at this many seconds for the average (平响)."""
    unanswered: str = setting("cap", choices=("cap", "exclude"))
    """``cap``: unanswered rounds count as ``cap_s``; ``exclude``: left out of the average."""
    slow_s: float = setting(180.0, gt=0)
    """A round slower than this is a slow response (慢响应)."""
    rate_thresholds_s: list[float] = setting([30.0, 180.0, 300.0], gt=0)
    """Shares of rounds answered within each of these many seconds."""
    answer_ratio_min: float = setting(1.0, ge=0)
    """答问比 (agent ÷ customer messages) below this is flagged."""
    acknowledgements: list[str] = setting(list(ACKNOWLEDGEMENTS), nonempty=True)
    """A customer message made only of these phrases (after NFKC, Traditional → Simplified and ASCII
    lower-case; pieces separated by whitespace, punctuation, symbols/emoji or ``[表情]`` codes; each
    piece one or more phrases, each phrase optionally followed by the particles 了啦呢哈呀哒滴嘛,
    e.g. 好的，谢谢 / 嗯嗯好的 / 没有了呢) is an acknowledgement: it opens no round,
    and inside an open round it is one of its messages without changing its start or reply (see
    :mod:`csaudit.model.rounds`). An empty list: every customer message can open a round."""


@dataclass
class LexiconConfig:
    """Politeness and negative-phrase lexicons (``csaudit/lexicons/*.toml``)."""

    files: list[str] = field(default_factory=list)
    """Shop lexicon files that add, remove or override terms (paths relative to the config file)."""
    disabled_categories: list[str] = field(default_factory=list)
    """Categories switched off for this shop."""
    keyword_max_texts: int = setting(50_000, ge=1)
    """Complaint keywords (jieba TF-IDF) use at most this many distinct customer texts, the most
    frequent first (segmentation costs ≈ 50 µs per text; the top keywords are stable long before)."""


@dataclass
class QCConfig:
    """Quality-control (质检) rules."""

    long_wait_s: float = setting(180.0, gt=0)
    """A round slower than this must be followed by an apology ..."""
    apology_within_msgs: int = setting(5, ge=1)
    """... within this many agent messages."""
    hold_followup_min: float = setting(15.0, gt=0)
    """"稍等/我查一下" must be followed by another agent message within this many minutes."""
    closing_last_n: int = setting(10, ge=1)
    """A closing or rating invitation is expected among the last this-many messages."""
    disabled_rules: list[str] = field(default_factory=list)


@dataclass
class SentimentConfig:
    """Customer sentiment (snownlp) per conversation."""

    k: int = setting(3, ge=1)
    """Start = mean of the first k customer messages, end = mean of the last k."""
    deteriorated_drift: float = setting(-0.2, ge=-1, le=0)
    """A conversation whose drift (end − start) is at most this has deteriorated."""
    model: str = ""
    """Folder of a sentiment model trained on the shop's own texts (``csaudit train-sentiment``;
    relative to the config file's folder). Empty = snownlp's shipped model."""


@dataclass
class ConversionConfig:
    """Inquiries (询单) and their conversion to orders."""

    window_h: float = setting(48.0, ge=24, le=15 * 24)
    """An order within this many hours after an inquiry started counts for it (24 h – 15 d)."""
    attribution: str = setting("order", choices=("order", "payment", "order_first"))
    """``order``: by order creation; ``payment``: by payment time; ``order_first``: created, else paid."""
    after_sales_keywords: list[str] = field(
        default_factory=lambda: ["退款", "退货", "售后", "物流", "快递", "换货", "维修", "补发", "签收"]
    )
    """Conversations whose customer text has any of these are after-sales, not inquiries."""


@dataclass
class ScoreConfig:
    """The QA score: categories 0–100, weighted mean per conversation, mean per agent."""

    weights: dict[str, float] = setting(
        {
            "responsiveness": 0.20,
            "politeness": 0.10,
            "compliance": 0.20,
            "satisfaction": 0.40,
            "conversion": 0.10,
        },
        ge=0,
        keys="default",
        not_all_zero=True,
    )
    """Weight of each category (``responsiveness, politeness, compliance, satisfaction, conversion``) in a
    conversation's QA score, renormalised over the categories that apply (≥ 0, not all 0; categories as in
    the default)."""
    critical_categories: list[str] = field(
        default_factory=lambda: ["off_platform", "abuse", "inducement"]
    )
    """A hit in any of these categories sets the conversation's QA score to 0."""
    responsiveness_full_s: float = setting(30.0, ge=0)
    """A round answered within this many seconds earns full responsiveness points (linear to 0 at the cap)."""
    severity_penalty: dict[str, float] = setting(
        {"critical": 100.0, "major": 25.0, "minor": 10.0}, ge=0, keys=("info", "minor", "major", "critical")
    )
    """Compliance points deducted per penalised hit, by severity (severities not listed, e.g. ``info``, cost 0)."""
    penalty_sides: list[str] = setting(["agent"], choices=("agent", "customer"))
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
    red_line: str = "rank_last"
    """How red lines (conversations zeroed by a critical hit) affect the agent ``rank``: ``rank_last`` — agents
    with any red-line conversation rank below every agent without one (by ``qa_score`` within each group);
    ``conversation_zero`` — only the zeroed conversations count (rank by ``qa_score`` alone)."""
    csat_model: str = ""
    """Predicted-satisfaction (``csat``) model file written by ``csaudit calibrate`` (JSON; relative
    paths are resolved against the config file's folder). Empty = the shipped model
    ``csaudit/models/csat.json`` fitted on STC-3 (see README "Predicted satisfaction")."""
    rating_window_h: float = setting(24.0, ge=0)
    """A rating matched by customer + time (no conversation id) belongs to that customer's latest
    conversation starting at or before the rating time, if the rating came no later than this many
    hours after that conversation's end."""


@dataclass
class ReportConfig:
    """Batch report generation."""

    mask: bool = True
    """Mask phone numbers, order numbers and addresses in reports."""
    kernel_name: str = setting("csaudit", nonempty=True)
    """Jupyter kernel the notebooks run on (``make`` registers ``csaudit`` for the project's .venv)."""
    timeout_s: float = setting(600.0, gt=0)
    """Per-notebook execution timeout in seconds (also each cell's timeout)."""
    workers: int = setting(2, ge=1)
    """Notebooks run in parallel."""
    retries: int = setting(1, ge=0)
    """A failed notebook is run again this many times, on a fresh kernel."""
    worst_conversations: int = setting(3, ge=0)
    """An agent report shows this many conversations with the worst sentiment drift, with transcripts."""
    coaching_points: int = setting(3, ge=0)
    """An agent report lists this many coaching points."""
    lang: str = "zh"
    """Language of every label in the reports and the workbook: ``zh`` (Chinese, default) or ``en`` (``--lang``)."""
    max_transcripts: int = 60
    """At most this many transcripts per agent page (red lines first, then the worst, then those findings
    point to); a note says how many were left out."""
    max_rows: int = 200
    """Evidence tables (one rule's findings, slow rounds, unreplied, lost inquiries) show at most this many
    rows per page, with a note; the workbook has every row."""


@dataclass
class ReviewConfig:
    """The review and calibration loop (``csaudit review``; README "Review and calibration")."""

    min_reviews: int = setting(20, ge=1)
    """A rule's reviewed precision is judged only after at least this many decisive verdicts
    (正确 or 误报) on its current version."""
    min_precision: float = setting(0.8, ge=0, le=1)
    """A rule whose reviewed precision (正确 ÷ (正确 + 误报), fraction 0–1) is below this, after
    ``min_reviews`` verdicts, is unreliable: its hits stay visible but cost no points."""
    reviews_path: str = ""
    """Folder of earlier reviews (every ``reviews.parquet`` under it, e.g. saved audits) that an audit
    uses when ``--reviews`` is not given; relative to the config file; empty: none."""
    confidence_z: float = setting(1.96, gt=0)
    """z of the Wilson interval around a rule's precision (1.96 = 95 %)."""
    sample_lowest: float = setting(0.3, ge=0, le=1)
    """Share of an agent's sample taken from its lowest-QA-score conversations."""
    sample_critical: float = setting(0.2, ge=0, le=1)
    """Share taken from its conversations with a critical finding (lowest score first)."""
    sample_outliers: float = setting(0.2, ge=0, le=1)
    """Share taken from its outliers: the longest customer wait (slowest round; unanswered first)."""
    max_rows: int = setting(20_000, ge=1)
    """An imported review sheet with more data rows than this is rejected."""
    max_cell_chars: int = setting(32_767, ge=1)
    """An imported cell longer than this many characters (Excel's own limit) is rejected."""
    transcript_max_chars: int = setting(8_000, ge=1)
    """A transcript in the review workbook is cut after this many characters (marked …)."""


@dataclass
class TextConfig:
    """How much of one message the text stages (lexicon and rule matching, sentiment, jieba) read."""

    max_chars_head: int = setting(2000, ge=1)
    """A message longer than ``max_chars_head + max_chars_tail`` characters is read as its first
    ``max_chars_head`` and last ``max_chars_tail`` characters (a hit's offsets still index the whole
    text); the messages table keeps the whole text."""
    max_chars_tail: int = setting(2000, ge=0)
    """See ``max_chars_head``."""


@dataclass
class IOConfig:
    """Limits and placeholders of the readers (``read_chats``); every limit has a safe default."""

    unknown_agent: str = setting("未知客服", nonempty=True)
    """Sub-account name given to agent-side rows whose account the export does not name (a role
    column without an agent/sender column; WeCom without ``servicer_userid``): such a row is kept as
    ``店铺名:未知客服`` (the shop of the row, else the file's most common shop, else
    :attr:`unknown_shop`) and counted in ``sources.unknown_agent``."""
    unknown_shop: str = setting("未知店铺", nonempty=True)
    """Shop of those placeholder accounts when neither the row nor its file names one."""
    zip_max_bytes: int = setting(1 << 30, ge=1)
    """Bytes (inflated) read from one archive given on the command line, nested archives included;
    members beyond it are skipped (listed in ``sources`` with the reason)."""
    zip_max_ratio: float = setting(200.0, gt=1)
    """Inflated ÷ compressed size above which a zip member is skipped as a probable zip bomb
    (checked while it inflates, once it passes :attr:`zip_ratio_min_bytes`)."""
    zip_ratio_min_bytes: int = setting(16 << 20, ge=0)
    """Members smaller than this many inflated bytes are never refused for their ratio."""
    zip_max_depth: int = setting(4, ge=0)
    """Archives nested deeper than this (a zip in a zip … ) are not opened (a ``sources`` row and a reject)."""
    max_rejects_per_file: int = setting(1000, ge=0)
    """Rejects kept per file (the first ones); the rest are counted in ``sources.rejects_omitted``."""


# --------------------------------------------------------------------------------------------
# shop figures (issue 14): commission, customers, sales actions, workload, after-sales, service depth


@dataclass
class CommissionConfig:
    """Agent commission (提成) on the orders attributed to them (``csaudit.metrics.commission``)."""

    rate: float = setting(0.01, ge=0, le=1)
    """Commission as a fraction (0–1) of the agent's attributed sales (currency units of ``amount``)."""
    refund_deduction_rate: float = setting(0.01, ge=0, le=1)
    """Fraction (0–1) of the refunded amount of the agent's attributed orders deducted from the commission."""
    paid_only: bool = True
    """Only paid orders count toward sales (an unpaid order earns nothing)."""
    silent_pool_share: float = setting(0.0, ge=0, le=1)
    """Fraction (0–1) of the silent sales (静默下单, net of refunds) pooled and shared among the team."""
    pool_split: str = setting("equal", choices=("equal", "sales"))
    """How the pool is shared: ``equal`` (every agent with a conversation) or ``sales`` (by attributed sales)."""
    period: str = setting("", choices=("", "W", "M"))
    """Roll-up: ``""`` one row per agent for the whole audit, ``W`` per ISO week, ``M`` per month (order creation, local)."""


@dataclass
class CustomersConfig:
    """Customer table and follow-up tiers (``csaudit.metrics.customers``)."""

    high_interest_min_inquiries: int = setting(2, ge=1)
    """高意向未成交: at least this many inquiry conversations and no order."""
    potential_orders: int = setting(1, ge=1)
    """可挖掘: exactly this many orders."""
    repeat_min_orders: int = setting(2, ge=1)
    """圈养 (repeat buyer): at least this many orders."""
    vip_top_share: float = setting(0.1, gt=0, le=1)
    """VIP: the paying customers in the top fraction (0–1) by paid amount (at least one customer when any paid)."""
    vip_min_amount: float = setting(0.0, ge=0)
    """VIP also needs a paid amount of at least this much (currency units)."""


@dataclass
class SalesConfig:
    """Sales actions: 催付, 搭配 recommendations, lost-inquiry reasons (``csaudit.metrics.sales_actions``)."""

    lexicon_files: list[str] = field(default_factory=list)
    """Shop files adding to ``csaudit/lexicons/sales.toml`` (same format as lexicon files, relative to the config)."""
    pending_after_min: float = setting(10.0, ge=0)
    """An attributed order not paid within this many minutes of its creation needs a payment reminder."""
    remind_within_h: float = setting(24.0, gt=0)
    """A payment reminder counts when the order's agent sends it within this many hours after the order's creation."""
    refusal_categories: list[str] = field(default_factory=lambda: ["refusal"])
    """Agent-side lexicon categories that make a lost inquiry ``after_refusal``."""
    lost_reason_order: list[str] = setting(
        ["no_reply", "after_refusal", "price", "stock_size", "considering"],
        choices=("no_reply", "after_refusal", "price", "stock_size", "considering"),
    )
    """Priority of the lost-inquiry reasons when several apply (the first that applies wins; else ``other``)."""


@dataclass
class WorkloadConfig:
    """Workload by hour and day, and the busy-notice rule (``csaudit.metrics.workload``)."""

    busy_concurrency: int = setting(5, ge=1)
    """An agent-hour is busy when the agent's peak concurrent conversations reach this many."""
    finding_severities: list[str] = field(default_factory=lambda: ["minor", "major", "critical"])
    """Agent-side hits of these severities count as findings."""


@dataclass
class AftersalesConfig:
    """After-sales handling (``csaudit.metrics.aftersales``)."""

    recontact_h: float = setting(48.0, gt=0)
    """The same customer (same shop) starting another conversation within this many hours of a conversation's end is a re-contact."""
    refund_lookback_d: float = setting(30.0, gt=0)
    """An after-sales conversation is linked to the customer's refunded orders created up to this many days before it."""


@dataclass
class ShopConfig:
    """The shop figures as a whole (README "Shop figures"; ``csaudit.metrics.shop``)."""

    enabled: bool = False
    """Compute the shop-figure tables (commission, customers, sales actions, workload, after-sales,
    service depth) in ``ca.audit``. Off by default for now: the stage costs ≈ 8–9 s per million
    messages on 2 cores (more than the rest of the audit) and its tables are not yet shown in the
    report pages; with it off they are empty tables and the workbook has no shop sheets."""


@dataclass
class ServiceConfig:
    """Service depth: emoticons, quick replies, typing speed (``csaudit.metrics.service_depth``)."""

    emoticon_patterns: list[str] = field(
        default_factory=lambda: [
            r"\[[\u4e00-\u9fff]{1,4}\]",
            r"/:[!-~]{1,4}?(?=/:|[^!-~]|$)",
            "[\U0001F300-\U0001FAFF\u2600-\u27BF]",
        ]
    )
    """Regular expressions of one emoticon each: 旺旺 codes like [微笑], slash codes like /:^_^, emoji."""
    quick_reply_min_conversations: int = setting(2, ge=2)
    """An agent text (trimmed, exact) sent in at least this many conversations is a quick reply (快捷短语)."""
    quick_reply_min_chars: int = setting(6, ge=1)
    """... when it has at least this many characters (short acknowledgements are not templates)."""
    typing_max_gap_s: float = setting(120.0, gt=0)
    """Typing speed uses consecutive agent messages of one turn at most this many seconds apart."""


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
    "text": TextConfig,
    "io": IOConfig,
    "commission": CommissionConfig,
    "customers": CustomersConfig,
    "sales": SalesConfig,
    "workload": WorkloadConfig,
    "aftersales": AftersalesConfig,
    "service": ServiceConfig,
    "shop": ShopConfig,
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
    text: TextConfig = field(default_factory=TextConfig)
    io: IOConfig = field(default_factory=IOConfig)
    commission: CommissionConfig = field(default_factory=CommissionConfig)
    customers: CustomersConfig = field(default_factory=CustomersConfig)
    sales: SalesConfig = field(default_factory=SalesConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    aftersales: AftersalesConfig = field(default_factory=AftersalesConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    shop: ShopConfig = field(default_factory=ShopConfig)
    base_dir: str = "."
    """Folder that relative paths in the settings (lexicon files) are resolved against."""

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> Config:
        """The shipped preset ``taobao`` (default), ``jd`` or ``douyin``."""
        if name not in PRESET_NAMES:
            raise ConfigError("config", "preset", name, _one_of(PRESET_NAMES, name),
                              message=f"unknown preset {name!r}; expected one of {', '.join(PRESET_NAMES)}"
                              + _did_you_mean(name, PRESET_NAMES))
        path = PRESETS_DIR / f"{name}.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls().updated(data, where=str(path))

    @classmethod
    def load(cls, path: str | Path, preset: str | None = None) -> Config:
        """Read a ``csaudit.toml``: an optional ``preset = ...`` then section overrides.

        ``preset`` (e.g. from ``--preset``) is the base when the file names none; a file naming a
        different preset is an error rather than a silent choice between the two. Every setting is
        type- and range-checked (:func:`validate_section`): a bad one raises :class:`ConfigError`."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(str(path), "(file)", None, "UTF-8 text",
                              message=f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), "(file)", None, "TOML", message=f"{path}: not valid TOML: {exc}") from None
        named = data.pop("preset", preset or "taobao")
        if not isinstance(named, str) or named not in PRESET_NAMES:
            raise ConfigError(str(path), "preset", named, _one_of(PRESET_NAMES, named))
        if preset is not None and named != preset:
            raise ConfigError(str(path), "preset", named, f"--preset {preset!r}",
                              message=f"{path}: names preset {named!r} but --preset {preset!r} was given")
        cfg = cls.preset(named).updated(data, where=str(path))
        cfg.base_dir = str(path.parent.resolve())
        return cfg

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Inverse of :meth:`to_dict` (used when loading a saved audit)."""
        return cls().updated(dict(data))

    def updated(self, data: dict[str, Any], where: str = "config") -> Config:
        """A copy with the settings in ``data`` (nested by section) applied. Unknown sections and keys,
        wrong types and out-of-range values raise :class:`ConfigError` naming ``where`` and
        ``section.key``."""
        cfg = dataclasses.replace(self)
        sections = section_types()
        top = {f.name for f in fields(self) if f.name not in sections}
        for key, value in data.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(where, key, value, f"a table [{key}] of settings",
                                      message=f"{where}: [{key}] must be a table of settings, not {show_value(value)}")
                section = getattr(cfg, key)
                setattr(cfg, key, dataclasses.replace(section, **validate_section(section, value, where, key)))
            elif key in top:
                setattr(cfg, key, _checked(value, _hints(type(self))[key], {}, where, key))
            elif key == "preset":
                continue
            else:
                raise ConfigError(where, key, value, "a section", message=(
                    f"{where}: unknown section {key!r}" + _did_you_mean(key, [*sections, "preset"])
                    + f"; expected one of {', '.join(sorted(sections))}"))
        cfg.validate(where)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self, where: str = "config") -> Config:
        """Check every setting's type and range (also of a Config built or changed in Python) and the
        rules between settings; returns ``self``. Raises :class:`ConfigError`. Cheap (≈ 0.1 ms):
        :func:`csaudit.audit` calls it."""
        sections = section_types()
        hints = _hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in sections:
                if not isinstance(value, sections[f.name]):
                    raise ConfigError(where, f.name, value, f"a {sections[f.name].__name__}")
                validate_section(value, {g.name: getattr(value, g.name) for g in fields(value)}, where, f.name)
            else:
                _checked(value, hints[f.name], dict(f.metadata), where, f.name)
        _cross_checks(self, where)
        return self


def section_types() -> dict[str, type]:
    """Sections of :class:`Config` (its dataclass fields) by name, in declaration order."""
    hints = _hints(Config)
    return {f.name: hints[f.name] for f in fields(Config) if dataclasses.is_dataclass(hints[f.name])}


# -- validation ---------------------------------------------------------------------------------


def validate_section(section: Any, values: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    """``values`` (key → value for the dataclass ``section``, named ``name``) checked against each
    field's annotation and :func:`setting` rules; returns them converted (an int for a float field
    becomes a float, a tuple a list). Unknown keys raise :class:`ConfigError` with a did-you-mean."""
    declared = {f.name: f for f in fields(section)}
    hints = _hints(type(section))
    out = {}
    for key, value in values.items():
        if key not in declared:
            raise ConfigError(where, f"{name}.{key}", value, "a known setting", message=(
                f"{where}: unknown setting {name}.{key}" + _did_you_mean(key, declared)
                + f"; [{name}] has {', '.join(declared)}"))
        f = declared[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[key] = _checked(value, hints[key], dict(f.metadata), where, f"{name}.{key}", default)
    return out


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _checked(value: Any, tp: Any, rules: dict[str, Any], where: str, key: str, default: Any = None) -> Any:
    """``value`` checked against the type ``tp`` (bool, int, float, str, list[...], dict[str, ...])
    and ``rules``; converted (int → float, tuple → list). Raises :class:`ConfigError`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # e.g. ``str | None``: None, or the first type that fits
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        errors = []
        for a in args:
            try:
                return _checked(value, a, rules, where, key, default)
            except ConfigError as exc:
                errors.append(exc.expected)
        raise ConfigError(where, key, value, " or ".join(errors))
    if origin is typing.Literal:
        return _checked(value, type(typing.get_args(tp)[0]), {**rules, "choices": typing.get_args(tp)}, where, key)
    expected = _expected(tp, rules)

    def fail(problem: str | None = None) -> typing.NoReturn:
        raise ConfigError(where, key, value, expected + (f" ({problem})" if problem else ""))

    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail()
        (item_tp,) = typing.get_args(tp)[:1] or (Any,)
        if typing.get_origin(item_tp) in (list, tuple, dict):  # nested containers: each item in full
            return [_checked(v, item_tp, rules, where, f"{key}[{i}]") for i, v in enumerate(value)]
        items = []
        for i, v in enumerate(value):
            def fail_item(problem: str | None = None, i: int = i, v: Any = v) -> typing.NoReturn:
                _fail_item(where, f"{key}[{i}]", v, item_tp, rules, problem)

            items.append(_scalar(v, item_tp, fail_item))
            _check_rules(items[-1], rules, fail_item)
        if rules.get("not_all_zero") and items and not any(items):
            raise ConfigError(where, key, value, expected + " (not all 0)")
        return items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            fail()
        args = typing.get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        allowed = rules.get("keys")
        if allowed == "default":
            allowed = tuple(default or ())
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                fail()
            if typing.get_origin(val_tp) in (list, tuple, dict):  # nested containers: each value in full
                out[k] = _checked(v, val_tp, rules, where, f"{key}.{k}")
                continue
            if allowed is not None and k not in allowed:
                raise ConfigError(where, f"{key}.{k}", v, f"a key among {', '.join(allowed)}", message=(
                    f"{where}: unknown key {key}.{k}" + _did_you_mean(k, allowed) + f"; expected {', '.join(allowed)}"))
            def fail_value(problem: str | None = None, k: str = k, v: Any = v) -> typing.NoReturn:
                _fail_item(where, f"{key}.{k}", v, val_tp, rules, problem)

            out[k] = _scalar(v, val_tp, fail_value)
            _check_rules(out[k], rules, fail_value)
        if rules.get("not_all_zero") and out and not any(out.values()):
            raise ConfigError(where, key, value, "values that are not all 0")
        return out
    v = _scalar(value, tp, fail)
    _check_rules(v, rules, fail)
    return v


def _fail_item(where: str, key: str, value: Any, tp: Any, rules: dict[str, Any], problem: str | None = None) -> typing.NoReturn:
    raise ConfigError(where, key, value, _expected(tp, rules) + (f" ({problem})" if problem else ""))


def _scalar(value: Any, tp: Any, fail: Any) -> Any:
    """``value`` as the scalar type ``tp``: bool only from a real bool; int not from a bool (nor a
    float); float from an int or float (finite); str only from a str."""
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")
        ):
            fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            fail()
        return value
    if isinstance(tp, type) and not isinstance(value, tp):  # pragma: no cover - no such setting yet
        fail()
    return value


def _check_rules(v: Any, rules: dict[str, Any], fail: Any) -> None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if ("gt" in rules and not v > rules["gt"]) or ("ge" in rules and not v >= rules["ge"]):
            fail()
        if ("lt" in rules and not v < rules["lt"]) or ("le" in rules and not v <= rules["le"]):
            fail()
    if isinstance(v, str):
        if "choices" in rules and v not in rules["choices"]:
            fail()
        if rules.get("nonempty") and not v.strip():
            fail()
        check = rules.get("check")
        if check is not None:
            problem = _CHECKS[check](v)
            if problem is not None:
                fail(problem)


def _is_timezone(name: str) -> str | None:
    """None for a valid IANA zone name, else why not."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return "no such time zone"
    return None


_CLOCK = re.compile(r"([01]?\d|2[0-3]):[0-5]\d|24:00")  # 8:00 or 08:00; 24:00 ends the day


def _is_clock(text: str) -> str | None:
    return None if _CLOCK.fullmatch(text.strip()) else "not a time of day"


def _compiles(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    return None


_CHECKS = {"timezone": _is_timezone, "clock": _is_clock, "regex": _compiles}
_CHECK_NAMES = {
    "timezone": "an IANA time zone such as \"Asia/Shanghai\"",
    "clock": "a time HH:MM from 00:00 to 24:00",
    "regex": "a valid regular expression",
}


def _expected(tp: Any, rules: dict[str, Any]) -> str:
    """What a value of type ``tp`` with ``rules`` must be, in words (for error messages)."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return "an array of " + _plural(_expected(item, rules))
    if origin is dict:
        args = typing.get_args(tp)
        return "a table of " + _plural(_expected(args[1] if len(args) == 2 else Any, rules))
    if "check" in rules:
        return _CHECK_NAMES[rules["check"]]
    if "choices" in rules:
        return _one_of(rules["choices"])
    text = _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))
    bounds = []
    if "ge" in rules and "le" in rules:
        return f"{text} from {rules['ge']:g} to {rules['le']:g}"
    if "gt" in rules:
        bounds.append(f"> {rules['gt']:g}")
    if "ge" in rules:
        bounds.append(f"≥ {rules['ge']:g}")
    if "lt" in rules:
        bounds.append(f"< {rules['lt']:g}")
    if "le" in rules:
        bounds.append(f"≤ {rules['le']:g}")
    if rules.get("nonempty"):
        text = "a non-empty string"
    return text + (" " + " and ".join(bounds) if bounds else "")


def _plural(text: str) -> str:
    for a, b in (("a whole number", "whole numbers"), ("a number", "numbers"), ("a string", "strings"),
                 ("a non-empty string", "non-empty strings"), ("true or false", "true/false values")):
        if text.startswith(a):
            return b + text[len(a):]
    return text


def _one_of(choices: Any, value: Any = None) -> str:
    text = "one of " + ", ".join(json.dumps(c, ensure_ascii=False) for c in choices)
    return text + (_did_you_mean(value, choices) if isinstance(value, str) else "")


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _hints(cls: type) -> dict[str, Any]:
    return _HINTS.get(cls) or _HINTS.setdefault(cls, typing.get_type_hints(cls))


_HINTS: dict[type, dict[str, Any]] = {}


def _cross_checks(cfg: Config, where: str) -> None:
    """Rules between settings."""
    r = cfg.review
    shares = r.sample_lowest + r.sample_critical + r.sample_outliers
    if shares > 1 + 1e-9:
        raise ConfigError(where, "review.sample_lowest", r.sample_lowest,
                          f"review.sample_lowest + sample_critical + sample_outliers at most 1 (they sum to {shares:g})")
    if cfg.score.responsiveness_full_s >= cfg.latency.cap_s:
        raise ConfigError(where, "score.responsiveness_full_s", cfg.score.responsiveness_full_s,
                          f"a number below latency.cap_s ({cfg.latency.cap_s:g}): responsiveness falls to 0 at the cap")
