"""Rules with context over the conversation (DESIGN §2 ``rules/``, §5 "Rules with context").

Term matching with in-message context (negation, conditionals, questions, purpose clauses, emoticon
codes, co-occurring phrases) is declared on lexicon categories and evaluated by the one matcher,
:mod:`csaudit.metrics.lexicon`. Rules that need more than one message — the agent's whole turn —
are declared as ``[[rule]]`` tables (``csaudit/rules/rules.toml``, and shop files named in
``Config.lexicon.files``) and evaluated by :mod:`csaudit.rules.turn` on the hit table.
"""

from csaudit.rules.turn import TurnRule, load_rules, turn_rule_hits

__all__ = ["TurnRule", "load_rules", "turn_rule_hits"]
