"""Ingest: runs one source (or many) through fetch → parse → decide → store."""
