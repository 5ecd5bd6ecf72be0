"""Imports every module that defines tables, so ``metadata`` is complete before migrating."""

from feedhub.store import dedupe, related, schema, vectors

__all__ = ["dedupe", "related", "schema", "vectors"]
