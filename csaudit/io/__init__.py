"""Readers: one module per export format, all emitting the MESSAGES schema (+ rejects)."""
