"""Declared contracts of every output table: for each column its dtype, unit and definition.

This module is the one place where the meaning of a column is written down. The README's column
tables (between ``<!-- contract:NAME -->`` markers) and the workbook's ``definitions`` sheet are
generated from it, so the documentation shipped with the package and the documentation in the
repository cannot drift apart::

    python -m csaudit.model.contracts --readme README.md          # rewrite the marked README sections
    python -m csaudit.model.contracts --readme README.md --check  # exit 1 when they are out of date

Columns that code names from settings or lexicons (``within_30s_rate`` from
``latency.rate_thresholds_s``, ``<category>_hits`` of a shop's own lexicon category) are declared
as *patterns*: :meth:`Contract.column` finds the declared column for any name, exact names first.

dtypes are pandas dtype names (``a|b``: either, e.g. a count that is NA without orders is
``int64|float64``); ``ts`` is a tz-aware ``datetime64[ns, <shop timezone>]``. Units:
``s`` seconds, ``0–1`` a fraction, ``count``, ``per 100 msgs`` per 100 agent messages, ``0–100`` a
score, ``money`` the orders' currency, ``text`` free text; ``a / b / c`` lists a label's values.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Column:
    """One declared column. ``pattern`` (a regex over the whole name) makes it a family of columns
    whose ``name`` is a placeholder such as ``<category>_hits``."""

    name: str
    dtype: str
    unit: str
    definition: str
    pattern: str | None = None
    optional: bool = False
    """Present only in some audits (e.g. ``rating`` only when ratings were given)."""

    def matches(self, name: str) -> bool:
        return name == self.name if self.pattern is None else re.fullmatch(self.pattern, name) is not None


@dataclass(frozen=True)
class Contract:
    """The declared columns of one table (in order) and what one row is."""

    table: str
    row: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        """The declaration of column ``name``: the exact one, else the first pattern that matches."""
        exact = next((c for c in self.columns if c.pattern is None and c.name == name), None)
        return exact or next((c for c in self.columns if c.pattern is not None and c.matches(name)), None)

    @property
    def names(self) -> list[str]:
        """Names of the columns declared exactly (no patterns), optional ones included."""
        return [c.name for c in self.columns if c.pattern is None]

    @property
    def required(self) -> list[str]:
        """Names of the exactly declared columns every such table has (not optional)."""
        return [c.name for c in self.columns if c.pattern is None and not c.optional]

    def undeclared(self, columns: Iterable[str]) -> list[str]:
        """The given column names that no declaration covers."""
        return [c for c in columns if self.column(c) is None]

    def dtype_mismatches(self, df: pd.DataFrame) -> list[str]:
        """``column: declared … but is …`` for every declared column of ``df`` whose dtype differs."""
        out = []
        for name, dtype in df.dtypes.items():
            col = self.column(str(name))
            if col is not None and not dtype_matches(dtype, col.dtype):
                out.append(f"{name}: declared {col.dtype} but is {dtype}")
        return out

    def markdown(self) -> str:
        """The README table of this contract (``| column | unit | definition |``)."""
        lines = ["| column | unit | definition |", "|---|---|---|"]
        for c in self.columns:
            lines.append(f"| `{c.name}` | {c.unit} | {c.definition} |")
        return "\n".join(lines)


def dtype_matches(actual: object, declared: str) -> bool:
    """Whether a pandas dtype is the declared one (``ts``: any tz-aware nanosecond timestamp;
    ``a|b``: either, e.g. ``bool|boolean`` for a flag that is NA without orders)."""
    if "|" in declared:
        return any(dtype_matches(actual, d) for d in declared.split("|"))
    if declared == "ts":
        return isinstance(actual, pd.DatetimeTZDtype)
    if declared == "category":
        return isinstance(actual, pd.CategoricalDtype)
    return str(actual) == declared


C = Column

MESSAGES = Contract("messages", "one chat message, sorted by conversation, then time, then file order", (
    C("message_id", "str", "text", "16 hex digits of a hash of shop, customer, sender, time, text and the occurrence "
      "of identical rows in one source: stable across runs, independent of the file path"),
    C("conversation_id", "str", "text", "the conversation the message belongs to (see `conversations`)"),
    C("shop", "str", "text", "the shop: the part of an agent account before the colon, or WeCom's `open_kfid`"),
    C("customer", "str", "text", "the buyer's nickname as exported"),
    C("sender", "str", "text", "the sender as exported (a customer's nickname, an agent account, a system name)"),
    C("agent", "str", "text", "the sub-account `店铺名:子账号` (colon half-width) on agent-side rows; NA on the customer's"),
    C("role", "category", "customer / agent / auto_reply / bot / system",
      "who spoke: auto-replies, robots and platform notices are never counted as agent speech"),
    C("ts", "ts", "time", "when the message was sent, in the shop timezone; NA when the export has no time"),
    C("text", "str", "text", "the message (NFC, zero-width marks removed, original script kept)"),
    C("source", "str", "text", "the file it was read from (`x.zip/member` inside a zip)"),
    C("line", "int64", "line", "1-based line of the message header in its source"),
    C("sentiment", "float64", "0–1", "snownlp sentiment of a customer message (NaN on other rows)"),
))

TURNS = Contract("turns", "consecutive messages of one speaker merged (what transcripts show)", (
    C("conversation_id", "str", "text", "the conversation"),
    C("turn", "int64", "1…n", "position of the turn in its conversation"),
    C("role", "category", "role", "the speaker's role (as in `messages`)"),
    C("agent", "str", "text", "the agent account of an agent-side turn, else NA"),
    C("start", "ts", "time", "time of the turn's first message"),
    C("end", "ts", "time", "time of the turn's last message"),
    C("n_messages", "int64", "count", "messages merged into the turn"),
    C("text", "str", "text", "the messages' texts joined with line breaks"),
))

CONVERSATIONS = Contract("conversations", "one conversation: same shop + customer; a new one after *30 min* "
                         "idle or at midnight", (
    C("conversation_id", "str", "text", '"c" + 12 hex digits of a hash of shop, customer and first timestamp'),
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "primary agent: the first account that sent an agent-role message, else the first "
      "auto-reply account, else NA"),
    C("agents", "str", "text", "every agent-role account in order of first message, joined with `|` (transfers)"),
    C("start", "ts", "time", "first timestamp"),
    C("end", "ts", "time", "last timestamp"),
    C("n_customer", "int64", "count", "customer messages"),
    C("n_agent", "int64", "count", "agent-role messages"),
    C("first_response_s", "float64", "s", "first customer message → first valid reply (NA if none)"),
    C("is_inquiry", "bool", "bool", "询单: the customer asked before buying (no after-sales keyword before their order)"),
    C("sentiment_start", "float64", "0–1", "mean snownlp score of the first *3* customer messages"),
    C("sentiment_end", "float64", "0–1", "mean snownlp score of the last *3* customer messages"),
    C("sentiment_drift", "float64", "−1…1", "`sentiment_end − sentiment_start`"),
    C("ordered", "bool|boolean", "bool", "an inquiry followed by an order within the window (NA without orders)"),
    C("paid", "bool|boolean", "bool", "an inquiry followed by a payment within the window (NA without orders)"),
    C("order_amount", "float64", "money", "amount of the orders attributed to this conversation"),
    C("n_hits", "int64", "count", "lexicon + QC hits"),
    C("qa_score", "float64", "0–100", "the conversation's QA score (0 with a critical agent-side hit; see *The QA score*)"),
    C("csat", "float64", "0–100", "predicted satisfaction (see *Predicted satisfaction*)"),
    C("rating", "float64", "0–100", "the customer's own rating (only with ratings; NA when unrated; see *Shop ratings "
      "and calibration*)", optional=True),
    C("n_rounds", "int64", "count", "首问首答 rounds"),
    C("deteriorated", "bool", "bool", "`sentiment_drift` ≤ *−0.2* (`sentiment.deteriorated_drift`)"),
    C("n_scored", "int64", "count", "customer messages scored for sentiment"),
    C("after_sales", "bool", "bool", "an after-sales keyword (退款/退货/售后/物流/快递 …) came before the customer's order"),
    C("order_id", "str", "text", "the attributed order"),
    C("qa_score_critical_free", "float64", "0–100", "the QA score without the critical zeroing"),
    C("critical", "bool", "bool", "an agent-side hit in a critical category"),
    C("score_<category>", "float64", "0–100", "the category scores responsiveness, politeness, compliance, "
      "satisfaction, conversion (NA when the category does not apply)", pattern=r"score_[a-z0-9_]+"),
    C("greeting_ok", "boolean", "bool", "politeness check: a greeting in the first agent turn"),
    C("closing_ok", "boolean", "bool", "politeness check: a closing or rating invitation among the last *10* speech messages"),
    C("apology_needed", "boolean", "bool", "the agent replied after a wait of more than *180 s*, or the customer "
      "complained (*escalation, repeated, dissatisfied* hit; `score.complaint_categories`)"),
    C("apology_ok", "boolean", "bool", "an agent apology in the message of the first such event or a later one "
      "(False when none was needed)"),
))

ROUNDS = Contract("rounds", "one 首问首答 round: from the first customer message after the last valid reply to the "
                  "first agent-role reply", (
    C("conversation_id", "str", "text", "the conversation"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "the account that answered, or, when unanswered, the account that was on the conversation"),
    C("round", "int64", "1…n", "position of the round in its conversation"),
    C("start", "ts", "time", "the round's first customer message (the clock runs from it)"),
    C("reply", "ts", "time", "the first valid reply (auto-replies, bots and system lines never end a round); NA if none"),
    C("response_s", "float64", "s", "`reply − start` (NA when unanswered)"),
    C("capped_s", "float64", "s", "`response_s` capped at *600 s*; an unanswered round counts as the cap"),
    C("answered", "bool", "bool", "the round got a valid reply"),
    C("in_hours", "bool", "bool", "the round started inside service hours"),
    C("slow", "bool", "bool", "慢响应: in hours and slower than *180 s* (unanswered counts as slow)"),
    C("n_messages", "int64", "count", "customer messages merged into the round"),
    C("transfer", "bool", "bool", "the conversation was transferred during the round"),
    C("start_message_id", "str", "text", "the message that started the round (evidence)"),
    C("reply_message_id", "str", "text", "the reply that ended it (evidence)"),
))

HITS = Contract("hits", "one finding with its evidence: the lexicon hits in message order (then by offset), then "
                "the QC findings by conversation and time", (
    C("message_id", "str", "text", "the message with the finding (NA for a conversation-level QC finding)"),
    C("conversation_id", "str", "text", "the conversation"),
    C("agent", "str", "text", "the agent the finding counts for"),
    C("ts", "ts", "time", "time of the message"),
    C("rule", "str", "text", "`lexicon:<category>`, `rule:<name>` (a turn rule) or `qc:<rule>`"),
    C("category", "str", "text", "the lexicon category or the QC rule's category"),
    C("severity", "str", "info / minor / major / critical", "how much the finding weighs (compliance penalty)"),
    C("side", "str", "agent / customer", "who said it"),
    C("term", "str", "text", "the matched term: `text[start:end] == term`"),
    C("start", "Int64", "characters", "offset of the term in `text` (NA for a QC finding without a term)"),
    C("end", "Int64", "characters", "end offset (exclusive)"),
    C("text", "str", "text", "the whole message"),
    C("suggestion", "category", "text", "coaching advice (a categorical column)"),
))

AGENTS = Contract("agents", "one agent (an account that sent an agent-role message or is a conversation's primary "
                  "agent), sorted by `rank`", (
    C('agent', 'str', 'text',
      'sub-account `店铺名:子账号` (colon half-width) or WeCom `servicer_userid`'),
    C('rank', 'int64', '1…n',
      '1 = best `qa_score`; ties share the best rank; agents without a scored conversation rank last'),
    C('n_conversations', 'int64', 'count',
      'conversations whose primary agent is the agent'),
    C('n_customers', 'int64', 'count',
      'distinct customers of those conversations'),
    C('n_transfers_in', 'int64', 'count',
      'conversations the agent joined after another agent had replied first (transfers in)'),
    C('n_rounds', 'int64', 'count',
      "the agent's 首问首答 rounds, all hours"),
    C('n_answered', 'int64', 'count',
      'of those, rounds that got a valid reply'),
    C('first_response_mean_s', 'float64', 's',
      'mean first response time (first customer message → first valid reply, not capped) of the conversations in which the agent sent that first reply and whose first customer message was in service hours'),
    C('first_response_median_s', 'float64', 's',
      'median of the same'),
    C('avg_response_s', 'float64', 's',
      '平响: mean capped response time of the agent\'s in-hours rounds; each round capped at *600 s*; unanswered rounds count as 600 s (*`latency.unanswered = "cap"`*) or are left out (`"exclude"`)'),
    C('median_response_s', 'float64', 's',
      'median of the same values'),
    C('p90_response_s', 'float64', 's',
      '90th percentile of the same values'),
    C('within_30s_rate', 'float64', '0–1',
      'share of those rounds answered within 30 s (inclusive)'),
    C('within_3min_rate', 'float64', '0–1',
      '… within 3 min'),
    C('within_5min_rate', 'float64', '0–1',
      '… within 5 min (thresholds: *`latency.rate_thresholds_s`*, one column each)'),
    C('slow_rounds', 'int64', 'count',
      '慢响应: in-hours rounds slower than *180 s*; unanswered in-hours rounds count under `cap`'),
    C('slow_customers', 'int64', 'count',
      'distinct customers with at least one slow round'),
    C('reply_rate', 'float64', '0–1',
      '回复率: customers whose last round with the agent got a valid reply ÷ customers who had a round with the agent '
      '(a customer message that only acknowledges — 好的, 谢谢, 没有了 … — opens no round: see *Acknowledgements* '
      'under Rounds)'),
    C('unreplied_customers', 'int64', 'count',
      'the others — listed in the `unreplied` table'),
    C('n_customer_msgs', 'int64', 'count',
      "customer messages in the agent's rounds (a transfer splits them between accounts)"),
    C('n_agent_msgs', 'int64', 'count',
      'agent-role messages the agent sent (auto-replies, bot and system lines excluded); the denominator of every `_per100` figure'),
    C('answer_ratio', 'float64', 'ratio',
      '答问比 = `n_agent_msgs ÷ n_customer_msgs` (healthy ≈ 1.2–1.5)'),
    C('answer_ratio_low', 'bool', 'bool',
      '`answer_ratio` below *1.0* (`latency.answer_ratio_min`)'),
    C('greeting_per100', 'float64', 'per 100 msgs',
      'greeting-term hits (您好, 亲, 欢迎光临 …) per 100 agent messages'),
    C('please_per100', 'float64', 'per 100 msgs',
      '请 / 麻烦您 / 请稍等 …'),
    C('thanks_per100', 'float64', 'per 100 msgs',
      '谢谢 / 感谢 / 多谢支持 …'),
    C('apology_per100', 'float64', 'per 100 msgs',
      '不好意思 / 抱歉 / 久等了 …'),
    C('honorific_per100', 'float64', 'per 100 msgs',
      'honorific 您 / 咱们 forms'),
    C('closing_per100', 'float64', 'per 100 msgs',
      '欢迎下次光临 / 感谢光临 …'),
    C('rating_invite_per100', 'float64', 'per 100 msgs',
      'invitations to rate the service'),
    C('first_reply_greeting_rate', 'float64', '0–1',
      'share of the conversations where the agent gave the first reply whose first agent turn has a greeting'),
    C('closing_rate', 'float64', '0–1',
      'share of the conversations the agent ended with a closing or rating invitation among the last *10* speech messages'),
    C('negative_hits', 'int64', 'count',
      'agent-side hits of the negative-phrase categories below'),
    C('negative_per100', 'float64', 'per 100 msgs',
      '`negative_hits` per 100 agent messages'),
    C('critical_hits', 'int64', 'count',
      'agent-side lexicon hits of severity critical (off-platform steering, inducements, abuse)'),
    C('refusal_hits', 'int64', 'count',
      '我不能 / 没办法 / 不行 …'),
    C('deflection_hits', 'int64', 'count',
      '推诿: 不归我管 / 找平台去 …'),
    C('contradiction_hits', 'int64', 'count',
      '但是 right after a positive (好的，但是…)'),
    C('curt_hits', 'int64', 'count',
      'a lone 嗯 / 哦 as the whole reply'),
    C('slang_hits', 'int64', 'count',
      'internet slang (晕, 擦, 呵呵 …)'),
    C('impatience_hits', 'int64', 'count',
      'impatience and rhetorical questions (说了多少遍, 你不懂吗 …)'),
    C('off_platform_hits', 'int64', 'count',
      'off-platform steering (微信, VX, QQ, 加我 …) — critical'),
    C('absolute_claim_hits', 'int64', 'count',
      'absolute claims banned in advertising (最低价, 第一, 100% …)'),
    C('inducement_hits', 'int64', 'count',
      '好评返现, 刷单 … — critical'),
    C('risky_promise_hits', 'int64', 'count',
      '肯定能退, 保证 …'),
    C('abuse_hits', 'int64', 'count',
      'abusive language — critical'),
    C('bargain_refusal_hits', 'int64', 'count',
      'a flat no to bargaining (不讲价, 没有优惠了 …) with nothing offered instead in the same message'),
    C('bare_refusal_hits', 'int64', 'count',
      'rule bare_refusal: a refusal whose agent turn gives neither a reason nor an alternative, and that '
      'answers no question asking for no action (csaudit/rules/rules.toml)'),
    C('no_deescalation_hits', 'int64', 'count',
      "rule no_deescalation: customer escalations (投诉, 差评 …) in the agent's conversations met by neither an "
      'apology nor a concrete step within the next 2 agent messages'),
    C('repeated_hits', 'int64', 'count',
      "QC 顾客重复: customer messages saying they repeated themselves (我刚刚说过了, 说了好几遍 …) in the agent's conversations"),
    C('escalation_hits', 'int64', 'count',
      "QC 投诉风险: customer messages threatening escalation (投诉, 差评, 12315, 找你们领导 …) in the agent's conversations"),
    C('nin_count', 'int64', 'count',
      "honorific 您 (incl. 您好, 您们) in the agent's messages (jieba words)"),
    C('ni_count', 'int64', 'count',
      'plain 你 (incl. 你好, 你们)'),
    C('honorific_ratio', 'float64', '0–1',
      '您 ÷ (您 + 你); guidance: address the customer as 您'),
    C('wo_count', 'int64', 'count',
      '我 as "I" (not 我们 / 我司)'),
    C('we_count', 'int64', 'count',
      'inclusive "we": 咱们 / 咱'),
    C('wo_ratio', 'float64', '0–1',
      '我 ÷ (我 + 您 + 咱们); guidance: talk of 您 / 咱们, not 我'),
    C('qc_hits', 'int64', 'count',
      "all QC (质检) findings on the agent's messages and conversations (the four rules below)"),
    C('qc_no_greeting_first_reply', 'int64', 'count',
      'first agent reply without a greeting'),
    C('qc_no_apology_after_wait', 'int64', 'count',
      'a reply after more than *180 s* not followed by an apology within the next *5* agent messages'),
    C('qc_hold_no_followup', 'int64', 'count',
      '稍等 / 我查一下 not followed by another agent message within *15 min*'),
    C('qc_no_closing', 'int64', 'count',
      'no closing or rating invitation among the last *10* messages'),
    C('sentiment_start_mean', 'float64', '0–1',
      "mean over the agent's conversations of the customer's start sentiment (first *3* customer messages, snownlp)"),
    C('sentiment_end_mean', 'float64', '0–1',
      '… end sentiment (last 3 customer messages), shown beside `csat_mean`'),
    C('sentiment_drift_mean', 'float64', '−1…1',
      'mean drift = end − start'),
    C('deteriorated_rate', 'float64', '0–1',
      "share of the agent's conversations with drift ≤ *−0.2* (`sentiment.deteriorated_drift`)"),
    C('inquiries', 'int64', 'count',
      "询单: the agent's conversations in which the customer asked before buying (no after-sales keyword 退款/退货/售后/物流/快递 … before their order)"),
    C('ordered_inquiries', 'int64|float64', 'count',
      'inquiries followed by an order by the same customer within *48 h* (`conversion.window_h`)'),
    C('paid_inquiries', 'int64|float64', 'count',
      'inquiries followed by a payment within the window'),
    C('order_conversion', 'float64', '0–1',
      '询单→下单 = `ordered_inquiries ÷ inquiries` (NA without orders)'),
    C('paid_conversion', 'float64', '0–1',
      '询单→付款 = `paid_inquiries ÷ inquiries`'),
    C('cs_sales', 'float64', 'money',
      "落实销售额: Σ amount of the orders attributed to the agent (the customer's latest inquiry before the order; *`conversion.attribution`*)"),
    C('cs_buyers', 'int64|float64', 'count',
      'distinct customers with an order attributed to the agent'),
    C('avg_order_value', 'float64', 'money',
      '客单价 = `cs_sales ÷ cs_buyers`'),
    C('refund_rate', 'float64', '0–1',
      "Σ refund ÷ Σ amount of the agent's attributed orders"),
    C('lost_inquiries', 'int64|float64', 'count',
      'inquiries neither ordered nor paid — listed in the `lost_inquiries` table'),
    C('n_scored_conversations', 'int64', 'count',
      "the agent's conversations with a QA score"),
    C('qa_score', 'float64', '0–100',
      'mean conversation `qa_score` (critical hits count as 0)'),
    C('qa_score_critical_free', 'float64', '0–100',
      'mean conversation score without the critical zeroing'),
    C('score_responsiveness', 'float64', '0–100',
      "mean category score over the agent's conversations where it applies (see *The QA score*)"),
    C('score_politeness', 'float64', '0–100',
      '…'),
    C('score_compliance', 'float64', '0–100',
      '…'),
    C('score_satisfaction', 'float64', '0–100',
      '…'),
    C('score_conversion', 'float64', '0–100',
      '…'),
    C('critical_conversations', 'int64', 'count',
      "the agent's conversations zeroed by a critical hit"),
    C('csat_mean', 'float64', '0–100',
      "mean predicted satisfaction `csat` of the agent's conversations (primary agent)"),
    C('n_rated', 'int64', 'count',
      "the agent's conversations with a customer rating (only with `--ratings`)", optional=True),
    C('rating_mean', 'float64', '0–100',
      'mean customer rating (满意度) of those conversations, on the 0–100 scale (only with `--ratings`)', optional=True),
    C("within_<t>_rate", "float64", "0–1", "the same share for any other threshold of `latency.rate_thresholds_s` "
      "(`30s`, `3min`, `1h` …)", pattern=r"within_\d+(?:s|min|h)_rate"),
    C("<category>_per100", "float64", "per 100 msgs", "hits per 100 agent messages of any other politeness "
      "category (a shop lexicon's own)", pattern=r"[a-z0-9_]+_per100"),
    C("<category>_hits", "int64", "count", "agent-side hits of any other negative or customer category "
      "(a shop lexicon's own)", pattern=r"[a-z0-9_]+_hits"),
    C("qc_<rule>", "int64", "count", "findings of any other QC rule", pattern=r"qc_[a-z0-9_]+"),
    C("score_<category>", "float64", "0–100", "mean score of any other QA category", pattern=r"score_[a-z0-9_]+"),
))

ORDERS = Contract("orders", "one order of the orders file, with its attribution", (
    C("order_id", "str", "text", "the order number"),
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("created", "ts", "time", "when the order was placed"),
    C("paid", "ts", "time", "when it was paid (NA if unpaid)"),
    C("amount", "float64", "money", "order amount"),
    C("refund", "float64", "money", "refunded amount (0 if none)"),
    C("conversation_id", "str", "text", "the inquiry it is attributed to (NA: silent order)"),
    C("agent", "str", "text", "that inquiry's primary agent"),
    C("attributed", "bool", "bool", "the order is credited to an agent (*`conversion.attribution`*)"),
    C("silent", "bool", "bool", "静默下单: no inquiry in the window before it"),
    C("attributed_by", "str", "order / payment", "whether the order or its payment fell in the window"),
))

UNREPLIED = Contract("unreplied", "a customer whose last round got no valid reply", (
    C("customer", "str", "text", "the buyer"),
    C("conversation_id", "str", "text", "the conversation of that round"),
    C("agent", "str", "text", "the account that was on it"),
    C("start", "ts", "time", "when the unanswered round started"),
    C("text", "str", "text", "the customer's first message of the round"),
))

LOST_INQUIRIES = Contract("lost_inquiries", "an inquiry neither ordered nor paid within the window", (
    C("conversation_id", "str", "text", "the conversation"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "its primary agent"),
    C("start", "ts", "time", "when the conversation started"),
    C("text", "str", "text", "the customer's first message"),
))

SALES = Contract("sales", "one row: the shop's sales in the period", (
    C("shop_sales", "float64", "money", "Σ amount of every order"),
    C("cs_sales", "float64", "money", "Σ amount of the orders attributed to an agent"),
    C("silent_sales", "float64", "money", "Σ amount of the silent orders"),
    C("cs_buyers", "int64", "count", "distinct customers with an attributed order"),
    C("avg_order_value", "float64", "money", "`cs_sales ÷ cs_buyers`"),
    C("refund_rate", "float64", "0–1", "Σ refund ÷ Σ amount of the attributed orders"),
    C("n_orders", "int64", "count", "orders"),
    C("n_attributed", "int64", "count", "orders attributed to an agent"),
    C("n_silent", "int64", "count", "silent orders"),
))

KEYWORDS = Contract("keywords", "one of the top complaint keywords (jieba words) of an agent's customers", (
    C("agent", "str", "text", "the agent"),
    C("keyword", "str", "text", "the word"),
    C("weight", "float64", "weight", "its TF-IDF weight among the customers' messages"),
))

REVIEWS = Contract("reviews", "one reviewer's verdict on a finding (`kind = finding`), or what a reviewer wrote for a "
                   "sampled conversation (`kind = conversation`); see README \"Review and calibration\"", (
    C("kind", "str", "text", "`finding` or `conversation`"),
    C("reviewer", "str", "text", "the reviewer's name from the workbook's instructions sheet"),
    C("source", "str", "text", "the workbook file the row was imported from"),
    C("sample_id", "str", "text", "the review sample the workbook was drawn as"),
    C("audit_fingerprint", "str", "text", "the audit the sample was drawn from (hash of its ids and period)"),
    C("conversation_id", "str", "text", "the conversation reviewed"),
    C("agent", "str", "text", "its primary agent"),
    C("message_id", "str", "text", "the finding's message (findings only)"),
    C("rule", "str", "text", "the finding's rule (findings only)"),
    C("rule_version", "str", "text", "the version of the rule the finding was made with"),
    C("category", "str", "text", "the finding's category"),
    C("severity", "str", "text", "the finding's severity"),
    C("start", "Int64", "chars", "the term's offset in the message (findings only)"),
    C("verdict", "str", "text", "`correct` (正确), `false_positive` (误报) or `unsure` (不确定)"),
    C("override_score", "float64", "0–100", "the reviewer's 复核评分 of the conversation (conversations only)"),
    C("comment", "str", "text", "the reviewer's comment"),
    C("dispute", "boolean", "bool", "申诉: the agent disputes the review"),
    C("dispute_reason", "str", "text", "the dispute's reason"),
    C("dispute_status", "str", "text", "`open`, `accepted` or `rejected`"),
    C("imported", "str", "time", "when the row was imported (ISO, UTC)"),
))

RULE_REVIEWS = Contract("rule_reviews", "one rule with reviews of its current version, as used for the scores", (
    C("rule", "str", "text", "the rule"),
    C("rule_version", "str", "text", "its current version (12 hex digits of a hash of its definition)"),
    C("n_reviews", "int64|float64", "count", "decisive verdicts: correct + false_positive"),
    C("n_correct", "int64|float64", "count", "verdicts 正确"),
    C("n_false_positive", "int64|float64", "count", "verdicts 误报"),
    C("n_unsure", "int64|float64", "count", "verdicts 不确定 (not in the precision)"),
    C("precision", "float64", "0–1", "`n_correct ÷ n_reviews`"),
    C("precision_lo", "float64", "0–1", "lower end of the 95 % Wilson interval of the precision"),
    C("precision_hi", "float64", "0–1", "upper end of the 95 % Wilson interval of the precision"),
    C("unreliable", "bool", "bool", "`n_reviews ≥ review.min_reviews` and `precision < review.min_precision`: "
      "its hits are kept but not scored"),
))

# --------------------------------------------------------------------------------------------
# Shop figures (csaudit.metrics.shop, issue 14): definitions from the README's "Shop figures" and
# the docstrings of csaudit/metrics/{commission,customers,sales_actions,workload,aftersales,service_depth}.py

COMMISSION = Contract("commission", "one agent and period: every agent of the audit (the pool agents) gets a row for "
                      "every period with orders, also without sales of their own", (
    C("agent", "str", "text", "the agent"),
    C("period", "str", "all / YYYY-Www / YYYY-MM", "`all`, ISO week or month of the order's creation in local time "
      "(`[commission] period = \"\" / \"W\" / \"M\"`)"),
    C("n_orders", "int64", "count", "counted orders attributed to the agent in the period"),
    C("attributed_sales", "float64", "money", "Σ amount of the agent's counted orders: attributed to one of their "
      "inquiries (rule `order`/`payment`, see conversion) and paid (`paid_only = true`, default)"),
    C("refunds", "float64", "money", "Σ refund of those orders"),
    C("pool_share", "float64", "money", "the agent's share of `silent_pool_share` × Σ (amount − refund) of the period's "
      "silent orders, split `equal`ly among the audit's agents or by `sales` (equally when nobody sold)"),
    C("commission", "float64", "money", "`rate` × (attributed_sales + pool_share) − `refund_deduction_rate` × refunds "
      "(defaults *1 %* and *1 %*; may be negative when refunds exceed sales)"),
))

COMMISSION_ORDERS = Contract("commission_orders", "one order of the orders file: the commission evidence (which order, "
                             "which inquiry, which rule)", (
    C("order_id", "str", "text", "the order number"),
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "the agent the order is attributed to (NA for a silent order)"),
    C("conversation_id", "str", "text", "the inquiry the order is attributed to (NA for a silent order)"),
    C("rule", "str", "order / payment / silent_pool / no_agent", "`order` / `payment`: the attribution rule that gave "
      "the order to the agent of inquiry `conversation_id` (`orders.attributed_by`); `silent_pool`: a silent order "
      "(静默下单), whose net amount goes to the team pool; `no_agent`: attributed to an inquiry nobody answered "
      "(counts for no one)"),
    C("period", "str", "all / YYYY-Www / YYYY-MM", "the commission period of the order's creation (as in `commission`)"),
    C("created", "ts", "time", "when the order was placed"),
    C("paid", "ts", "time", "when it was paid (NA if unpaid)"),
    C("amount", "float64", "money", "order amount"),
    C("refund", "float64", "money", "refunded amount (0 if none)"),
    C("counted", "bool", "bool", "the order counts: paid (`paid` not NA), or any order when `paid_only = false`"),
    C("sales", "float64", "money", "`amount` when counted, else 0"),
    C("refunds", "float64", "money", "`refund` when counted, else 0"),
    C("commission", "float64", "money", "the order's own part: `rate` × sales − `refund_deduction_rate` × refunds for "
      "an agent's order, `silent_pool_share` × (sales − refunds) put into the pool for a silent one, 0 for `no_agent`"),
))

CUSTOMERS = Contract("customers", "one customer (shop + customer) of the chats or the orders, sorted by paid amount, "
                     "then customer", (
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("first_contact", "ts", "time", "start of the customer's first conversation (NA without one)"),
    C("last_contact", "ts", "time", "end of their last conversation (NA without one)"),
    C("conversations", "int64", "count", "the customer's conversations"),
    C("inquiries", "int64", "count", "of those, inquiries (`is_inquiry`)"),
    C("orders", "int64", "count", "orders created, over the audit's orders (attributed or silent)"),
    C("paid_orders", "int64", "count", "of those, the paid ones"),
    C("paid_amount", "float64", "money", "Σ amount of the paid orders"),
    C("refunds", "float64", "money", "Σ refund of the orders"),
    C("last_agent", "str", "text", "primary agent of the latest conversation that had one"),
    C("tier", "str", "vip / repeat / potential / high_interest / other", "first that applies: `vip` (paying, in the "
      "top `vip_top_share` = *10 %* of the paying customers by paid amount, ≥ `vip_min_amount`; ties at the cut-off "
      "are all in), `repeat` 圈养 (≥ `repeat_min_orders` = *2* orders), `potential` 可挖掘 (exactly "
      "`potential_orders` = *1* order), `high_interest` 高意向未成交 (≥ `high_interest_min_inquiries` = *2* "
      "inquiries, no order), `other`"),
))

FOLLOWUPS = Contract("followups", "a customer to contact again: every high-interest customer (their latest "
                     "conversation) and every lost inquiry, newest first (a lost inquiry that is a high-interest "
                     "customer's latest conversation is listed once, as `high_interest`)", (
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("reason", "str", "high_interest / lost_inquiry", "why the customer is listed"),
    C("tier", "str", "text", "the customer's `tier` (see `customers`)"),
    C("conversation_id", "str", "text", "the conversation to follow up (the latest one, or the lost inquiry)"),
    C("agent", "str", "text", "the conversation's primary agent"),
    C("last_ts", "ts", "time", "time of the conversation's last message"),
    C("last_role", "str", "role", "who sent it (as in `messages.role`)"),
    C("last_text", "str", "text", "the last message"),
))

PAYMENT_REMINDERS = Contract("payment_reminders", "one pending order (待付款): an attributed order not paid within "
                             "`pending_after_min` = *10 min* of its creation (`paid` NA or later)", (
    C("order_id", "str", "text", "the order number"),
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "the agent the order is attributed to"),
    C("conversation_id", "str", "text", "the inquiry it is attributed to"),
    C("created", "ts", "time", "when the order was placed"),
    C("paid", "ts", "time", "when it was paid (NA if unpaid)"),
    C("amount", "float64", "money", "order amount"),
    C("reminded", "bool", "bool", "the order's agent sent a `payment_reminder` phrase to that customer (same shop, "
      "any conversation) after the creation, within `remind_within_h` = *24 h* and not after the payment"),
    C("reminder_message_id", "str", "text", "the first such message (evidence; NA when not reminded)"),
    C("reminder_ts", "ts", "time", "its time"),
    C("reminder_text", "str", "text", "its text"),
    C("reminder_delay_s", "float64", "s", "creation → reminder"),
    C("paid_after_reminder", "bool", "bool", "reminded and then paid"),
))

RECOMMENDATIONS = Contract("recommendations", "one inquiry conversation and its recommendations (搭配)", (
    C("conversation_id", "str", "text", "the inquiry"),
    C("agent", "str", "text", "its primary agent"),
    C("recommended", "bool", "bool", "at least one agent message with a `recommendation` (搭配) phrase"),
    C("n_recommendations", "int64", "count", "agent messages with a `recommendation` phrase"),
    C("message_id", "str", "text", "the first of them (evidence; NA when none)"),
    C("term", "str", "text", "the phrase matched in it"),
    C("ordered", "bool|boolean", "bool", "the inquiry was followed by an order (`conversations.ordered`; NA without "
      "orders)"),
    C("order_amount", "float64", "money", "amount of the orders attributed to the inquiry"),
))

LOST_REASONS = Contract("lost_reasons", "one lost inquiry with the reason that wins and its evidence message", (
    C("conversation_id", "str", "text", "the conversation"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "its primary agent"),
    C("start", "ts", "time", "when the conversation started"),
    C("reason", "str", "no_reply / after_refusal / price / stock_size / considering / other", "first that applies in "
      "`lost_reason_order`: `no_reply` (last round unanswered), `after_refusal` (an agent hit of a "
      "`refusal_categories` lexicon category), `price`, `stock_size`, `considering` (考虑/收藏) (customer phrases; the "
      "last occurrence is the evidence), else `other`"),
    C("message_id", "str", "text", "the evidence message: the unanswered round's first customer message, the refusal, "
      "the phrase (NA for `other`)"),
    C("term", "str", "text", "the matched phrase or refusal term (NA for `no_reply` and `other`)"),
    C("evidence_text", "str", "text", "the evidence message's text (for `other`: the lost inquiry's last customer "
      "text)"),
))

_SLOT_FIGURES = (
    C("conversations", "int64", "count", "conversations starting in the slot (primary agent)"),
    C("peak_concurrent", "int64", "count", "the largest number of the agent's (team: everybody's) conversations open at "
      "the start of one of them (open = started at or before, ending after)"),
    C("rounds", "int64", "count", "rounds (首问首答) starting in the slot, by the round's agent"),
    C("median_response_s", "float64", "s", "median `response_s` of the answered ones"),
    C("reply_rate", "float64", "0–1", "answered ÷ rounds"),
    C("findings", "int64", "count", "agent-side hits of severity in `finding_severities` (*minor, major, critical*) "
      "sent in the slot"),
    C("qa_score", "float64", "0–100", "mean QA score of the conversations starting in the slot"),
)

WORKLOAD = Contract("workload", "one agent (`(team)` for the whole shop) and slot `weekday` × `hour` over the audit, "
                    "local time (slots with nothing are left out)", (
    C("agent", "str", "text", "the agent, or `(team)`"),
    C("weekday", "int64", "0–6", "local weekday, 0 = Monday"),
    C("hour", "int64", "0–23", "local hour"),
    *_SLOT_FIGURES,
))

WORKLOAD_DAILY = Contract("workload_daily", "one agent (`(team)` for the whole shop) and local day (days with nothing "
                          "are left out)", (
    C("agent", "str", "text", "the agent, or `(team)`"),
    C("date", "object", "date", "the local date (a `datetime.date`)"),
    *_SLOT_FIGURES,
))

BUSY_NOTICES = Contract("busy_notices", "a busy conversation: its agent's `peak_concurrent` in the local clock hour of "
                        "its start reaches `busy_concurrency` = *5*", (
    C("conversation_id", "str", "text", "the conversation"),
    C("agent", "str", "text", "its primary agent"),
    C("start", "ts", "time", "when it started"),
    C("hour", "ts", "time", "the local clock hour of the start"),
    C("peak_concurrent", "int64", "count", "the agent's peak concurrency in that hour"),
    C("message_id", "str", "text", "the first agent message of the conversation (evidence)"),
    C("first_reply_text", "str", "text", "its text"),
    C("notified", "bool", "bool", "that first agent message has a `busy_notice` phrase (warns of slower replies)"),
))

AFTERSALES = Contract("aftersales", "one conversation and its after-sales handling", (
    C("conversation_id", "str", "text", "the conversation"),
    C("shop", "str", "text", "the shop"),
    C("customer", "str", "text", "the buyer"),
    C("agent", "str", "text", "its primary agent"),
    C("kind", "str", "presales / after_sales / none", "`presales` (an inquiry), `after_sales` (the customer spoke, not "
      "an inquiry), `none` (the customer did not speak)"),
    C("start", "ts", "time", "first timestamp"),
    C("end", "ts", "time", "last timestamp"),
    C("handling_s", "float64", "s", "first customer message → last agent message (NA when the agent did not write "
      "after it)"),
    C("recontact", "bool", "bool", "the same customer started their next conversation within `recontact_h` = *48 h* "
      "of this one's end"),
    C("recontact_conversation_id", "str", "text", "that next conversation (NA without re-contact)"),
    C("refund_linked", "float64", "money", "presales: refunds of the orders attributed to the conversation; after-sales: "
      "refunds of the customer's orders created within `refund_lookback_d` = *30 days* before it"),
    C("refund_orders", "int64", "count", "the refunded orders counted in `refund_linked`"),
    C("sentiment_end", "float64", "0–1", "the customer's end sentiment (`conversations.sentiment_end`; NA when absent)"),
))

QUICK_REPLIES = Contract("quick_replies", "one agent text used as a quick reply (快捷短语), most used first", (
    C("text", "str", "text", "the trimmed text (≥ `quick_reply_min_chars` = *6* characters) that the shop's agents sent "
      "in ≥ `quick_reply_min_conversations` = *2* conversations"),
    C("n_conversations", "int64", "count", "conversations it was sent in"),
    C("n_messages", "int64", "count", "agent messages with that text"),
    C("n_agents", "int64", "count", "distinct agents who sent it"),
))

SHOP_AGENTS = Contract("shop_agents", "one agent of the audit: the per-agent shop figures", (
    C("agent", "str", "text", "the agent"),
    C("commission", "float64", "money", "the agent's `commission` over the whole audit (one period)"),
    C("attributed_sales", "float64", "money", "… its `attributed_sales`"),
    C("pool_share", "float64", "money", "… its `pool_share`"),
    C("buyers", "int64", "count", "customers with an order attributed to the agent"),
    C("repeat_buyers", "int64", "count", "of them those with ≥ `repeat_min_orders` orders in total"),
    C("repeat_rate", "float64", "0–1", "`repeat_buyers ÷ buyers` (NA without buyers)"),
    C("high_interest", "int64", "count", "customers of tier `high_interest` whose `last_agent` is the agent"),
    C("vip", "int64", "count", "customers of tier `vip` whose `last_agent` is the agent"),
    C("pending_orders", "int64", "count", "the agent's pending orders (`payment_reminders`)"),
    C("reminded_orders", "int64", "count", "of them the reminded ones"),
    C("remind_rate", "float64", "0–1", "reminded ÷ pending"),
    C("reminded_paid_rate", "float64", "0–1", "paid ÷ reminded (NA without reminded orders)"),
    C("unreminded_paid_rate", "float64", "0–1", "paid ÷ pending without a reminder"),
    C("recommended", "int64", "count", "the agent's inquiries with a recommendation (搭配)"),
    C("recommend_rate", "float64", "0–1", "inquiries with a recommendation ÷ inquiries"),
    C("conversion_with_rec", "float64", "0–1", "ordered share of the inquiries with a recommendation"),
    C("conversion_without_rec", "float64", "0–1", "… without one"),
    C("aov_with_rec", "float64", "money", "客单价: mean attributed `order_amount` of the inquiries with sales, with a "
      "recommendation"),
    C("aov_without_rec", "float64", "money", "… without one"),
    C("busy_conversations", "int64", "count", "the agent's busy conversations (`busy_notices`)"),
    C("busy_notified", "int64", "count", "of them those whose first reply had a busy notice"),
    C("busy_notice_rate", "float64", "0–1", "`busy_notified ÷ busy_conversations` (NA without busy conversations)"),
    C("presales", "int64", "count", "the agent's presales conversations (primary agent; `aftersales.kind`)"),
    C("after_sales", "int64", "count", "the agent's after-sales conversations"),
    C("after_sales_share", "float64", "0–1", "after-sales ÷ conversations where the customer spoke"),
    C("after_sales_handling_s", "float64", "s", "median `handling_s` of the agent's after-sales conversations"),
    C("recontact_rate", "float64", "0–1", "share of those after-sales conversations with a `recontact`"),
    C("after_sales_refunds", "float64", "money", "Σ linked refunds (`refund_linked`) of those conversations"),
    C("after_sales_refund_orders", "int64", "count", "linked refunded orders (`refund_orders`) of those conversations"),
    C("after_sales_sentiment_end", "float64", "0–1", "mean end sentiment of those conversations"),
    C("emoticons_per100", "float64", "per 100 msgs", "matches of `[service] emoticon_patterns` (旺旺 codes like "
      "`[微笑]`, slash codes like `/:^_^`, emoji) × 100 ÷ agent messages"),
    C("emoticon_message_share", "float64", "0–1", "agent messages with at least one emoticon"),
    C("quick_reply_share", "float64", "0–1", "the agent's messages whose trimmed text is a quick reply (快捷短语, see "
      "`quick_replies`) ÷ agent messages"),
    C("csat_with_quick", "float64", "0–1", "mean predicted satisfaction `csat` of the agent's conversations with a "
      "quick reply (NA until conversations carry `csat`)"),
    C("csat_without_quick", "float64", "0–1", "… without one"),
    C("typing_cpm", "float64", "characters per minute", "**an estimate**: median over consecutive agent messages of one "
      "turn ≤ `typing_max_gap_s` = *120 s* apart of (characters of the later message ÷ gap); it assumes the later "
      "message was typed in the gap, so reading/thinking time lowers it; quick replies are left out"),
    C("typing_samples", "int64", "count", "message pairs used for `typing_cpm`"),
    C("lost_<reason>", "int64", "count", "the agent's lost inquiries by reason (`lost_reasons.reason`: `lost_no_reply`, "
      "`lost_after_refusal`, `lost_price`, `lost_stock_size`, `lost_considering`, `lost_other`; a column per reason "
      "that occurs)", pattern=r"lost_[a-z0-9_]+"),
))

CONTRACTS: dict[str, Contract] = {c.table: c for c in (
    MESSAGES, TURNS, CONVERSATIONS, ROUNDS, HITS, AGENTS, ORDERS, UNREPLIED, LOST_INQUIRIES, SALES, KEYWORDS,
    REVIEWS, RULE_REVIEWS, COMMISSION, COMMISSION_ORDERS, CUSTOMERS, FOLLOWUPS, PAYMENT_REMINDERS,
    RECOMMENDATIONS, LOST_REASONS, WORKLOAD, WORKLOAD_DAILY, BUSY_NOTICES, AFTERSALES, QUICK_REPLIES, SHOP_AGENTS)}
"""Every table of an :class:`csaudit.audit.Audit`, by name."""


def contract(table: str) -> Contract:
    """The contract of ``table`` (``KeyError`` naming the known tables otherwise)."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise KeyError(f"no contract for table {table!r}; tables: {', '.join(CONTRACTS)}") from None


def plain(text: str) -> str:
    """A definition without Markdown marks (for the workbook): no backticks, no ``*`` / ``**`` emphasis."""
    return re.sub(r"(\*\*?)([^*]+)\1", r"\2", text.replace("`", ""))


# --------------------------------------------------------------------------------------------
# README generation

_BLOCK = re.compile(r"(<!-- contract:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /contract:(?P=name) -->)", re.S)


def render_readme(text: str) -> str:
    """``text`` with every ``<!-- contract:NAME -->…<!-- /contract:NAME -->`` block replaced by the
    generated table of contract ``NAME`` (an unknown NAME raises ``KeyError``)."""
    def block(m: re.Match[str]) -> str:
        return m.group(1) + contract(m.group("name")).markdown() + "\n" + m.group(4)

    return _BLOCK.sub(block, text)


def readme_blocks(text: str) -> list[str]:
    """Names of the contract blocks in a README text."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m csaudit.model.contracts", description=__doc__.splitlines()[0])
    p.add_argument("--readme", default="README.md", help="the README to rewrite (default README.md)")
    p.add_argument("--check", action="store_true", help="only check: exit 1 when the README is out of date")
    args = p.parse_args(argv)
    path = Path(args.readme)
    old = path.read_text(encoding="utf-8")
    new = render_readme(old)
    if args.check:
        if new != old:
            sys.stderr.write(f"{path}: column tables out of date; run python -m csaudit.model.contracts --readme {path}\n")
            return 1
        return 0
    if new != old:
        path.write_text(new, encoding="utf-8")
    sys.stdout.write(f"{path}: {len(readme_blocks(new))} contract table(s) {'rewritten' if new != old else 'up to date'}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
