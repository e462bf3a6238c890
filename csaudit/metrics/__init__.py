"""Metrics: latency, lexicon (politeness, negative phrases, QC rules), sentiment, conversion."""
