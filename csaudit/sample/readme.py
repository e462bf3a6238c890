"""The README written next to the ground truth (``data/sample_truth/README.md``)."""

TRUTH_README = r"""# Ground truth of the sample (`data/sample_truth/`)

Written by `csaudit sample --out data/sample_chats --seed 7` (`csaudit.sample.generate`) from what the
generator knows it wrote. Do not edit by hand: regenerate. It sits next to `data/sample_chats/`, never
inside it, so `read_chats("data/sample_chats")` does not read it. CSV files are UTF-8, `,`-separated,
with a header; big ones are gzip-compressed (`pd.read_csv` reads `.csv.gz` directly). Timestamps are
ISO 8601 with the shop offset (`2026-11-09T14:03:07+08:00`); booleans are `true`/`false`; empty = none.

The shop is `栖木家居`; agents are `栖木家居:<子账号>` (half-width colon); the robot is `栖木家居:店小蜜`.
Period: 2026-11-02 … 2026-11-15 (ISO weeks 2026-W45, W46); a few orders fall after it.

| file | one row per | columns |
|---|---|---|
| `messages.csv.gz` | message, in file order | `source` (relative to `data/sample_chats`, `/` separators; zip members as `qianniu_json.zip/<member>`), `line` (1-based line of the message header: the `SENDER TIME` line — or the sender line when the time stands on the next line — in client text; the `HH:MM:SS` line in web history; the system line itself for header-less system lines; the 1-based index in `chats` for JSON), `role` (customer/agent/auto_reply/bot/system), `sender` (as exported, colon as written; empty for header-less system lines, `系统` for JSON system records), `agent` (normalised `店铺名:子账号` for agent/auto_reply/bot rows, else empty), `customer`, `ts` (empty when the export carries no time: header-less system lines of client text and web history), `text` (exact stored text, lines joined with `\n`) |
| `conversations.csv.gz` | conversation | `conversation` (key `customer\|first timestamp`), `customer`, `source`, `start`, `end`, `agent` (primary: first `agent` message), `agents` (`\|`-joined, in order), `n_messages`, `n_customer`, `n_agent`, `is_inquiry` |
| `rounds.csv.gz` | 首问首答 round (a customer message that only acknowledges — `latency.acknowledgements` — opens none) | `conversation`, `customer`, `agent`, `round` (1-based within the conversation), `start` (first customer message of the round), `reply` (first agent reply, empty if unanswered), `response_s` (int seconds, empty if unanswered), `in_hours` (start within 08:00–23:00), `transfer` (closed unanswered by a transfer line) |
| `planted_hits.csv.gz` | term occurrence in an agent or customer message | `source`, `line` (as in messages), `role`, `side` (agent/customer), `agent`, `category`, `term`, `start`, `end` (character offsets in `text`: `text[start:end] == term`) |
| `conversions.csv` | inquiry conversation | `conversation`, `customer`, `start`, `agent`, `order_id`/`created`/`paid` (first order created within 48 h, else empty), `converted_48h`, `paid_48h` (an order of the customer paid within 48 h) |
| `orders.csv` | order of `data/sample_chats/orders.csv` | `order_id`, `customer`, `created`, `paid`, `amount`, `refund`, `inquiry_conversation`, `attributed_agent` (attribution mode `order`), `silent` |
| `personas.json` | — | agent → persona and shift; `expected` orderings (`slowest_agent`, `most_slang_agent`, `most_refusals_agent`, `best_conversion_agent`, `wechat_agent`, `auto_reply_agent`, `night_agent`, `fastest_agent`) |

## Definitions (DESIGN §5, default `taobao` settings)

* **Conversation**: same customer; new after an idle gap > 30 min or at local midnight, judged on the
  messages that carry a timestamp in their export. A header-less system line belongs to the
  conversation of the next timed message when that one starts a new conversation, else to the current.
  Planned sessions with a long pause, or running over midnight, are therefore two conversations.
* **Round**: opened by the first customer message after the last `agent` reply; later customer messages
  merge into it (the clock runs from the first); closed by the first `agent` message. `auto_reply`,
  `bot` and `system` never close a round. A transfer line `由 A 转交给 B` closes an open round as
  unanswered for A (`transfer = true`); the next customer message opens B's round. An unanswered round
  is credited to the last human agent who spoke in the conversation (A for a transfer), else empty.
  A round cut by midnight stays unanswered in the first conversation; the reply after midnight then
  answers no round.
* **Inquiry**: the conversation has a customer message and none of its customer texts contains an
  after-sales keyword (`Config().conversion.after_sales_keywords`, matched after
  `csaudit.text.normalize_one`, so Traditional text counts too).
* **Conversion**: an order of the customer created within `[start, start + 48 h]`. An order is
  attributed to the agent of the customer's latest inquiry that started at most 48 h before its creation;
  orders with no such inquiry are `silent` (after-sales customers' earlier orders, buyers who never chatted,
  late orders).
* **Planted hits**: every occurrence of the terms listed in `csaudit/sample/texts.py`
  (`AGENT_TERMS` for `agent` rows, `CUSTOMER_TERMS` for `customer` rows; auto-replies, bot and system rows
  are not listed), leftmost-longest, non-overlapping, plus `curt` for an agent message that is a lone
  嗯/恩/哦. Category `whitelist` marks look-alikes (`不好意思`, `不客气`): no negative-category hit may
  overlap them (the politeness lexicon may still count 不好意思 as an apology). The audit's own lexicon
  may contain more terms than these: the list is a subset to find, not the full expected hit table.
"""
