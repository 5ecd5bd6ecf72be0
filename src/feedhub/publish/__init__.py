"""Publish stage: render topics to Atom/OPML/HTML (pure) and write the files atomically.

Modules: ``views`` (the renderer's input values), ``atom`` (one Atom document),
``archive`` (RFC 5005 planning of subscription + monthly archive documents), ``index``
(OPML and index.html), ``text`` (escaping and date helpers) and ``write`` (the only module
here that touches the disk).
"""
