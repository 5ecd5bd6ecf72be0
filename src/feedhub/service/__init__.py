"""The background service (``feedhub run``): the clock that ingests and publishes, and the
HTTP server.

- ``app``: process set-up, roles, signals and shutdown; ``roles``: which parts one process runs.
- ``scheduler``: the due-time loop that claims and starts due sources; ``leasing`` (source
  leases between workers), ``generations`` (ingester, fetcher and fetch slots per config),
  ``fetch_reports`` (per-fetch log lines, summaries, metrics), ``housekeeping`` (debounced
  publishing and retention), ``publisher`` (the publish child process), ``reload`` (SIGHUP).
- ``workers``: the parse worker processes; ``threads``: work in a daemon thread; ``gate``:
  the service's write transactions take turns.
- ``server`` (the aiohttp app), ``files`` (static files with ETag/gzip), ``conditional``
  (HTTP negotiation decisions), ``state`` (what the scheduler and the server share),
  ``metrics`` (Prometheus) and ``logs`` (text/JSON logging).
"""
