"""Small helpers every layer may use (they import nothing of feedhub's): masking secrets
in URLs, UTC times, HTML to plain text. See docs/architecture.md, "Rules"."""
