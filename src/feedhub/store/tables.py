"""Imports every module that defines tables, so ``metadata`` is complete before migrating."""

from feedhub.store import schema

__all__ = ["schema"]
