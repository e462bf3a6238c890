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
score, ``money`` the orders' currency, ``text`` free text.
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
        """Names of the columns declared exactly (no patterns)."""
        return [c.name for c in self.columns if c.pattern is None]

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
    C("n_rounds", "int64", "count", "首问首答 rounds"),
    C("deteriorated", "bool", "bool", "`sentiment_drift` ≤ *−0.2* (`sentiment.deteriorated_drift`)"),
    C("n_scored", "int64", "count", "customer messages scored for sentiment"),
    C("after_sales", "bool", "bool", "an after-sales keyword (退款/退货/售后/物流/快递 …) came before the customer's order"),
    C("order_id", "str", "text", "the attributed order"),
    C("qa_score_critical_free", "float64", "0–100", "the QA score without the critical zeroing"),
    C("critical", "bool", "bool", "an agent-side hit in a critical category"),
    C("score_<category>", "float64", "0–100", "the category scores responsiveness, politeness, compliance, sentiment, "
      "conversion (NA when the category does not apply)", pattern=r"score_[a-z0-9_]+"),
    C("greeting_ok", "boolean", "bool", "politeness check: a greeting in the first agent turn"),
    C("closing_ok", "boolean", "bool", "politeness check: a closing or rating invitation among the last *10* speech messages"),
    C("apology_needed", "boolean", "bool", "the agent replied after a wait of more than *180 s*"),
    C("apology_ok", "boolean", "bool", "an apology at or after that reply (NA when none was needed)"),
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
      '… end sentiment (last 3 customer messages) — what the QA score uses'),
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
    C('score_sentiment', 'float64', '0–100',
      '…'),
    C('score_conversion', 'float64', '0–100',
      '…'),
    C('critical_conversations', 'int64', 'count',
      "the agent's conversations zeroed by a critical hit"),
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

CONTRACTS: dict[str, Contract] = {c.table: c for c in (
    MESSAGES, TURNS, CONVERSATIONS, ROUNDS, HITS, AGENTS, ORDERS, UNREPLIED, LOST_INQUIRIES, SALES, KEYWORDS,
    REVIEWS, RULE_REVIEWS)}
"""Every table of an :class:`csaudit.audit.Audit`, by name."""


def contract(table: str) -> Contract:
    """The contract of ``table`` (``KeyError`` naming the known tables otherwise)."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise KeyError(f"no contract for table {table!r}; tables: {', '.join(CONTRACTS)}") from None


def plain(text: str) -> str:
    """A definition without Markdown marks (for the workbook): no backticks, no ``*`` emphasis."""
    return re.sub(r"\*([^*]+)\*", r"\1", text.replace("`", ""))


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
