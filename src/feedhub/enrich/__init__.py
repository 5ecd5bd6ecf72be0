"""The enrich stage (docs/architecture.md): what feedhub learns about an article beyond its
feed entry. So far the full text of the article's page (issue 15):

- ``extract.py``: page bytes → ``model.Extracted`` (trafilatura, sanitized), pure; it runs in
  the parse workers, beside the parse;
- ``robots.py``: robots.txt rules, pure.

The IO (fetching pages and robots.txt through the feed fetcher, per-host limits, retries)
is the runner's: ``ingest/pages.py``.
"""
