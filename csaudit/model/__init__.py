"""The data model: schemas and roles (``schema``), conversations (``sessions``), rounds (``rounds``)."""

from csaudit.model.schema import ROLES, SchemaError, conform, empty, failures, validate

__all__ = ["ROLES", "SchemaError", "conform", "empty", "failures", "validate"]
