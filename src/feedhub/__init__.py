"""feedhub: a self-hosted news aggregator that publishes per-topic Atom feeds.

The public surface is the ``feedhub`` command (see ``feedhub.cli``); the packages below are
the pipeline's stages, in the order data flows through them:
config → fetch → parse → dedupe → topics → store → related → publish → service.
"""

__version__ = "0.1.0"
