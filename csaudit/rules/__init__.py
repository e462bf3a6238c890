"""Rules with context over the conversation (DESIGN §2 ``rules/``, §5 "Rules with context").

Term matching with in-message context (negation, conditionals, questions, purpose clauses, emoticon
codes, co-occurring phrases) is declared on lexicon categories and evaluated by the one matcher,
:mod:`csaudit.metrics.lexicon`. Rules that need more than one message — the agent's whole turn —
are declared as ``[[rule]]`` tables (``csaudit/rules/rules.toml``, and shop files named in
``Config.lexicon.files``) and evaluated by :mod:`csaudit.rules.turn` on the hit table; a rule may add a
window condition over the conversation (:mod:`csaudit.rules.window`: another hit, phrase or a slow round
within N messages or T seconds, combined with all / any / not), evaluated on the hit and round tables.
"""

from csaudit.rules.turn import TurnRule, load_rules, rule_counts, turn_rule_hits
from csaudit.rules.window import Window, parse_window

__all__ = ["TurnRule", "Window", "load_rules", "parse_window", "rule_counts", "turn_rule_hits"]
