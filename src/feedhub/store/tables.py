"""Imports every module that defines tables, so ``metadata`` is complete before migrating."""

from feedhub.store import dedupe, pages, related, schema, vectors

__all__ = ["dedupe", "pages", "related", "schema", "vectors"]
