"""Helpers shared by tests: real servers on 127.0.0.1, never mocks (docs/architecture.md)."""
