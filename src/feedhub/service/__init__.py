"""The background service: the scheduler that ingests and publishes, and the HTTP server.

Modules: ``state`` (what the scheduler and the server share), ``metrics`` (Prometheus),
``files`` (safe static-file lookup with ETag/gzip caching), ``server`` (the aiohttp app),
``scheduler`` (APScheduler sweeps and debounced publishing), ``logs`` (text/JSON logging)
and ``app`` (``feedhub run``: process set-up, signals, shutdown).
"""
