"""The fetch stage: bytes in from HTTP or local files, as ``FetchResult`` values.

This is the pipeline's IO edge: everything here talks to the network or the disk and
turns every failure into ``FetchResult.error`` instead of an exception.
"""

from feedhub.fetch.http import DEFAULT_SETTINGS, FetchSettings, HttpFetcher
from feedhub.fetch.local import read_file, read_folder

__all__ = ["DEFAULT_SETTINGS", "FetchSettings", "HttpFetcher", "read_file", "read_folder"]
