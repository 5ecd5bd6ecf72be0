"""The ``feedhub`` command. Thin: it loads the config, opens the store, wires stages, prints.

Exit codes: 0 success (``fetch`` also when some sources failed — their errors are printed),
1 an operational error (store, output), 2 a usage or config error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from feedhub import __version__

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from rich.console import Console
    from rich.progress import TaskID

    from feedhub.config import Config
    from feedhub.model import SourceInfo
    from feedhub.related.progress import Progress, Step
    from feedhub.store import Store
    from feedhub.store.pages import PageStats
    from feedhub.store.related import RelatedItem
    from feedhub.textable import Row

# Start-up is most of a short command (`feedhub -q fetch` when every source answers 304),
# so heavy modules load where they are used: rich when something is printed, pydantic with
# the config, SQLAlchemy with the store, the stages in their commands.


class _LazyConsole:
    """A rich ``Console`` made on first use (a quiet run prints nothing and skips rich)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


# Wide tables when piped (rich assumes 80 columns off a terminal and would fold every cell).
out = _LazyConsole(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


class Context:
    """What every command needs: the config path, verbosity, and lazily the config/store."""

    def __init__(self, config: str | None, verbose: int, quiet: bool) -> None:
        from feedhub.config import config_path

        self.config_file = config_path(config)
        self.verbose = verbose
        self.quiet = quiet
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = self.load_config()
        return self._config

    def load_config(self, *, check_files: bool = False) -> Config:
        """The config, or exit 2 after printing every problem, one line each."""
        from feedhub.config import ConfigError, load_config

        try:
            return load_config(self.config_file, check_files=check_files)
        except ConfigError as e:
            for line in e.problems:
                err.print(line, markup=False)
            raise SystemExit(2) from None

    def config_from_text(self, text: str) -> None:
        """Use ``text`` as the config, read as if it were the file (``publish
        --config-stdin``: the service hands its child the config it runs on)."""
        from feedhub.config import ConfigError
        from feedhub.config.load import parse_config

        try:
            self._config = parse_config(text, self.config_file)
        except ConfigError as e:
            for line in e.problems:
                err.print(line, markup=False)
            raise SystemExit(2) from None

    @contextmanager
    def store(self) -> Iterator[Store]:
        from feedhub.store import Store, StoreError

        try:
            store = Store.open(self.config.store_url)
        except StoreError as e:
            fail(str(e))
        try:
            yield store
        except Exception as e:
            # A store failure mid-command (disk full, locked past the busy timeout, the
            # server gone) is one line naming the store, not a traceback.
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(e, SQLAlchemyError):
                raise
            from feedhub.config.env import mask_url
            from feedhub.store import first_line

            fail(f"store {mask_url(self.config.store_url)}: {first_line(e)}")
        finally:
            store.close()


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"feedhub: error: {message}", markup=False)
    raise SystemExit(code)


pass_ctx = click.make_pass_decorator(Context)


def _late_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """``-c/-v/-q`` given after a command's name: the same as before it (the later ``-c``
    wins, ``-v`` counts add up)."""
    obj = ctx.find_object(Context)
    if obj is None or not value:
        return
    if param.name == "late_config":
        from feedhub.config import config_path

        obj.config_file = config_path(value)
    elif param.name == "late_verbose":
        obj.verbose += value
    else:
        obj.quiet = True


class _Command(click.Command):
    """A command that also takes the global options after its name (``feedhub sources -c
    FILE``), and whose one-line help in ``feedhub --help`` is wrapped, never cut with "…"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params += [
            click.Option(["-c", "--config", "late_config"], metavar="PATH", expose_value=False,
                         callback=_late_option, help="Config file (as before the command)."),
            click.Option(["-v", "--verbose", "late_verbose"], count=True, expose_value=False,
                         callback=_late_option, help="More output (repeat for debug)."),
            click.Option(["-q", "--quiet", "late_quiet"], is_flag=True, expose_value=False,
                         callback=_late_option, help="Only errors."),
        ]

    def get_short_help_str(self, limit: int = 45) -> str:
        return _first_paragraph(self.short_help or self.help or "")


class _Group(click.Group):
    """Groups whose commands are ``_Command``s, and whose own line in a help is whole."""

    command_class = _Command
    group_class = type  # subgroups (opml, store) are _Groups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return _first_paragraph(self.short_help or self.help or "")


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="feedhub")
@click.option(
    "-c",
    "--config",
    metavar="PATH",
    help="Config file (default: $FEEDHUB_CONFIG, else config/feedhub.yaml).",
)
@click.option("-v", "--verbose", count=True, help="More output (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int, quiet: bool) -> None:
    """feedhub: aggregate news sources, publish per-topic Atom feeds with Related News."""
    ctx.obj = Context(config, verbose, quiet)


@cli.command()
@pass_ctx
def check(ctx: Context) -> None:
    """Validate the config file, its local sources and folders; exit 2 with one line
    per problem."""
    cfg = ctx.load_config(check_files=True)
    if not ctx.quiet:
        out.print(
            f"{cfg.path}: ok — {len(cfg.sources)} sources, {len(cfg.file.topics)} topics",
            markup=False,
        )


@cli.command()
@click.option("-s", "--source", "names", multiple=True, metavar="NAME", help="Only this source.")
@click.option("--publish", "then_publish", is_flag=True, help="Publish the feeds afterwards.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), help="Parser processes (default: CPUs).")
@pass_ctx
def fetch(ctx: Context, names: tuple[str, ...], then_publish: bool, jobs: int | None) -> None:
    """Fetch every enabled source once (or the named ones), store new articles, exit."""
    from feedhub.ingest.pool import StageBroken, prestart

    cfg = ctx.config
    for n in names:
        if cfg.source(n) is None:
            fail(f"no source named {n!r} in {cfg.path}", 2)
    pool = prestart(cfg.store_url, jobs)  # before the imports below: see prestart
    from feedhub.ingest.run import SourceReport, ingest

    with ctx.store() as store, _shut_down(pool):
        with _progress(ctx, len(names) or sum(s.enabled for s in cfg.sources)) as advance:

            def done(r: SourceReport) -> None:
                advance()
                if r.error and r.error.startswith("parse workers failed"):
                    return  # said once, below
                if r.error:
                    err.print(f"{r.name}: {r.error}", markup=False)
                elif ctx.verbose:
                    out.print(
                        f"{r.name}: {r.outcome} (+{r.new} new, {r.updated} updated) "
                        f"in {r.duration:.2f}s",
                        markup=False,
                    )

            try:
                reports = asyncio.run(
                    ingest(cfg, store, names or None, workers=jobs, on_done=done, pool=pool)
                )
            except StageBroken as e:  # a broken install: one line, not one per source
                fail(str(e), 1)
        if not ctx.quiet:
            failed = sum(1 for r in reports if r.error)
            out.print(
                f"fetched {len(reports)} sources: {sum(r.new for r in reports)} new, "
                f"{sum(r.updated for r in reports)} updated articles, {failed} failed",
                markup=False,
            )
        if then_publish:
            _publish(ctx, store)


@contextmanager
def _shut_down(pool: Executor | None) -> Iterator[None]:
    """Shut ``pool`` down however the block ends (ingest does too when it ran)."""
    try:
        yield
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _publish(ctx: Context, store: Store, *, background: bool = False,
             as_json: bool = False, progress_lines: bool = False) -> None:
    from feedhub.pipeline import BACKGROUND_PAUSE, publish
    from feedhub.publish.run import PublishError

    out_dir = ctx.config.output_dir

    def waiting() -> None:
        if not ctx.quiet:
            err.print(f"waiting for another publish to {out_dir} to finish…", markup=False)

    try:
        with _publish_progress(ctx, progress_lines) as progress:
            report = publish(
                ctx.config, store, pause=BACKGROUND_PAUSE if background else 0.0,
                on_wait=waiting, progress=progress,
            )
    except PublishError as e:
        fail(str(e))
    for warning in report.warnings:
        err.print(warning, markup=False)
    if as_json:
        import dataclasses
        import json

        sys.stdout.write(json.dumps(dataclasses.asdict(report)) + "\n")
    elif not ctx.quiet:
        out.print(
            f"published {report.topics} topics to {ctx.config.output_dir}: "
            f"{report.written} files written, {report.unchanged} unchanged",
            markup=False,
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_ctx
def sources(ctx: Context, as_json: bool) -> None:
    """List sources with their fetch state."""
    from feedhub.store.pages import page_stats
    from feedhub.store.sources import source_infos

    with ctx.store() as store, store.read() as conn:
        infos = source_infos(conn)
        pages = page_stats(conn)
    configured = {s.name for s in ctx.config.sources}
    modes = {s.name: s.full_text.value for s in ctx.config.sources}
    if as_json:
        _print_json([
            {**_source_json(i, i.name in configured),
             "full_text": _full_text_json(modes.get(i.name, "off"), pages.get(i.name))}
            for i in infos
        ])
        return
    from feedhub.config.env import mask_url
    from feedhub.textable import Row

    # The full-text column only when some source has (or had) full text (issue 15).
    full = bool(pages) or any(m != "off" for m in modes.values())
    rows = []
    for i in infos:
        status, note = _source_status(i, i.name in configured)
        cells = (i.name, status, str(i.article_count))
        notes = [note] if note else []
        if full:
            cell, error = _full_text_cell(modes.get(i.name, "off"), pages.get(i.name))
            cells += (cell,)
            if error:
                notes.append(f"full text: {error}")
        rows.append(
            Row(
                (*cells, _short(i.last_fetch), _short(i.next_due) if i.enabled else "-"),
                urls=(mask_url(i.moved_to or i.url),),  # a password in a feed URL stays hidden
                notes=tuple(notes),
            )
        )
    headers = ("name", "status", "articles", *(("full text",) if full else ()), "last fetch",
               "next due")
    _print_table(headers, rows, wrap=(1, 0), right=(2,))


def _full_text_cell(mode: str, stats: PageStats | None) -> tuple[str, str | None]:
    """A source's full-text cell (articles with their page's text, failures, the mode) and
    its last extraction error."""
    if stats is None:
        return ("-" if mode == "off" else f"0 ({mode})"), None
    cell = f"{stats.full_text}"
    if stats.failed:
        cell += f", {stats.failed} failed"
    if stats.pending:
        cell += f", {stats.pending} waiting"
    return f"{cell} ({mode})", stats.last_error


def _full_text_json(mode: str, stats: PageStats | None) -> dict[str, Any]:
    from feedhub.store.pages import PageStats

    s = stats or PageStats()
    return {"mode": mode, "articles": s.full_text, "failed": s.failed, "pending": s.pending,
            "last_error": s.last_error}


def _source_status(i: SourceInfo, configured: bool) -> tuple[str, str | None]:
    """A source's short status for the table, and the long reason under it (if any)."""
    if not configured and i.disabled_reason is None:
        return "not in config", None
    if not i.enabled:
        return "disabled", i.disabled_reason
    if i.last_error:
        errors = f"{i.error_count} errors" if i.error_count > 1 else "error"
        return errors, f"error: {i.last_error}"
    if i.last_fetch is None:
        return "new", None
    return (f"ok {i.last_status}" if i.last_status else "ok"), None


def _source_json(i: SourceInfo, configured: bool) -> dict[str, Any]:
    """A source for ``sources --json``: the store's fields, URLs masked like the table's."""
    from feedhub.config.env import mask_url

    return {
        "name": i.name,
        "title": i.title,
        "url": mask_url(i.url),
        "moved_to": mask_url(i.moved_to) if i.moved_to else None,
        "kind": i.kind.value,
        "enabled": i.enabled,
        "in_config": configured,
        "status": _source_status(i, configured)[0],
        "last_fetch": i.last_fetch,
        "last_status": i.last_status,
        "last_error": i.last_error,
        "error_count": i.error_count,
        "disabled_reason": i.disabled_reason,
        "next_due": i.next_due if i.enabled else None,
        "articles": i.article_count,
    }


@cli.group()
def opml() -> None:
    """Import sources from OPML, or export them as OPML 2.0."""


@opml.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@pass_ctx
def opml_export(ctx: Context, output: Path | None) -> None:
    """Write the configured feed sources as OPML 2.0 (stdout by default).

    Each is named by its configured title, else the feed's title as last fetched; folder
    sources are not feeds and are left out.
    """
    from feedhub.model import SourceKind
    from feedhub.opml import sources_to_opml
    from feedhub.store.sources import source_infos

    with ctx.store() as store, store.read() as conn:
        known = {i.name: i for i in source_infos(conn)}
    data = sources_to_opml(ctx.config.file.site.title, ctx.config.sources, known)
    folders = [s.name for s in ctx.config.sources if s.kind is SourceKind.FOLDER]
    if folders and not ctx.quiet:
        err.print(f"left out folder sources (not feeds): {', '.join(folders)}", markup=False)
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@opml.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the YAML that would be added.")
@pass_ctx
def opml_import(ctx: Context, file: Path, dry_run: bool) -> None:
    """Add the feeds of an OPML file to the config's sources (comments are kept)."""
    from feedhub.config.edit import add_sources
    from feedhub.opml import OpmlError, parse_opml

    cfg = ctx.config
    try:
        feeds = parse_opml(file.read_bytes())
    except OpmlError as e:
        fail(f"{file}: {e}", 2)
    text = cfg.path.read_text(encoding="utf-8")
    new_text, added = add_sources(text, feeds, cfg)
    if not added:
        out.print("nothing to import: every feed is already a source", markup=False)
        return
    if dry_run:
        out.print(
            new_text[len(text.rstrip("\n")) :]
            if new_text.startswith(text.rstrip("\n"))
            else new_text,
            markup=False,
        )
        return
    from feedhub.config.edit import write_config

    write_config(cfg.path, new_text)
    out.print(f"added {len(added)} sources to {cfg.path}: {', '.join(added)}", markup=False)


@cli.command("publish")
@click.option(
    "--background", is_flag=True,
    help="Pause between store write batches so a running service's fetches get turns.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON line.")
@click.option("--config-stdin", is_flag=True, hidden=True,
              help="Read the config's text from stdin (paths still relative to -c).")
@pass_ctx
def publish_cmd(ctx: Context, background: bool, as_json: bool, config_stdin: bool) -> None:
    """Render every topic's Atom feed, archives, index.opml and index.html."""
    from feedhub.process import PARENT_ENV, die_with_parent, yield_cpu

    parent = os.environ.pop(PARENT_ENV, None)
    if parent and parent.isdigit():  # the service's publish child: die with the service
        die_with_parent(int(parent))
    if config_stdin:
        ctx.config_from_text(sys.stdin.buffer.read().decode("utf-8", "replace"))
    if background:
        yield_cpu()
    with ctx.store() as store:
        _publish(ctx, store, background=background, as_json=as_json,
                 progress_lines=bool(parent))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_ctx
def topics(ctx: Context, as_json: bool) -> None:
    """List topics with their article counts and last change."""
    from feedhub.store.topics import topic_counts

    with ctx.store() as store, store.read() as conn:
        counts = topic_counts(conn)
    base = ctx.config.file.site.base_url
    found = []
    for t in ctx.config.file.topics:
        n, changed = counts.get(t.name, (0, None))
        found.append({"name": t.name, "title": t.title, "articles": n,
                      "last_change": changed, "feed": f"{base}{t.name}.atom"})
    if as_json:
        _print_json(found)
        return
    from feedhub.textable import Row

    rows = [
        Row((t["name"], t["title"], str(t["articles"]), _minute(t["last_change"])),
            urls=(t["feed"],))
        for t in found
    ]
    _print_table(("topic", "title", "articles", "last change"), rows, wrap=(1,), right=(2,))


@cli.command()
@click.argument("article", metavar="URL|ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def related(ctx: Context, article: str, as_json: bool) -> None:
    """Show an article's Related News box with scores."""
    from feedhub.dedupe.urls import canonical_url
    from feedhub.store.articles import find_article
    from feedhub.store.related import related_items

    with ctx.store() as store, store.read() as conn:
        row = (
            find_article(conn, int(article), "", "")
            if article.isdigit()
            else find_article(conn, None, article, canonical_url(article))
        )
        if row is None:
            fail(f"no stored article with id or URL {article!r}", 2)
        items = related_items(conn, row.id)
        why = _explained(conn, row.id, ctx.config.file.related.window)
    _show_related(row.id, row.title, row.published, items, as_json, why)


def _explained(conn: Any, article_id: int, window: Any) -> dict[int, Any]:
    """Each box link's score parts by related id (`feedhub.related.explain`)."""
    from feedhub.related.explain import explain

    return {e.related_id: e for e in explain(conn, article_id, window)}


def _why_json(e: Any) -> dict[str, object]:
    """A link's score parts for ``--json`` (empty when they cannot be recomputed)."""
    if e is None:
        return {}
    p = e.parts
    return {"lexical": p.lexical, "semantic": p.semantic, "similarity": p.similarity,
            "time_bonus": p.time_bonus, "floor": p.floor, "shared_terms": list(e.shared)}


def _why_note(e: Any) -> tuple[str, ...]:
    """A link's lexical and semantic parts, time bonus, floor and shared terms, as a note
    under its row (as columns they would not fit 80 characters)."""
    if e is None:
        return ()
    p = e.parts
    sem = "-" if p.semantic is None else f"{p.semantic:.3f}"
    return (f"lexical {p.lexical:.3f}, semantic {sem}, time +{p.time_bonus:.3f}, "
            f"floor {p.floor:.3f}; shared: {', '.join(e.shared) or '-'}",)


def _show_related(
    article_id: int, title: str, published: datetime, items: list[RelatedItem], as_json: bool,
    why: dict[int, Any] | None = None,
) -> None:
    """An article's Related News box as a table (each URL on its own line) or JSON, with each
    link's score taken apart (``why``, from `_explained`)."""
    why = why or {}
    if as_json:
        _print_json({
            "id": article_id, "title": title, "published": published,
            "related": [
                {"id": i.article_id, "score": round(i.score, 6), "published": i.published,
                 "title": i.title, "url": i.url, **_why_json(why.get(i.article_id))}
                for i in items
            ],
        })
        return
    from feedhub.textable import terminal_width, wrapped

    heading = wrapped(f"{article_id}  {title}  ({published:%b %d, %Y})", terminal_width())
    sys.stdout.write("\n".join(heading) + "\n")
    if not items:
        out.print("no related articles above the relevance floor", markup=False)
        return
    from feedhub.textable import Row

    rows = [
        Row((f"{i.score:.3f}", str(i.article_id), f"{i.published:%b %d, %Y}", i.title),
            urls=(i.url,) if i.url else (), notes=_why_note(why.get(i.article_id)))
        for i in items
    ]
    _print_table(("score", "id", "date", "title"), rows, wrap=(3,), right=(1,))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of tables.")
@pass_ctx
def duplicates(ctx: Context, as_json: bool) -> None:
    """List clusters of copies of one story, with members and similarity."""
    from feedhub.dedupe.cluster import list_clusters

    with ctx.store() as store, store.read() as conn:
        clusters = list_clusters(conn)
    if as_json:
        _print_json([
            {"story": cl.representative_id,
             "members": [{"id": m.article_id, "source": m.source, "title": m.title,
                          "url": m.url, "similarity": round(m.similarity, 6)}
                         for m in cl.members]}
            for cl in clusters
        ])
        return
    if not clusters:
        out.print("no duplicates", markup=False)
        return
    from feedhub.textable import Row

    for n, cl in enumerate(clusters):
        out.print(("\n" if n else "") + f"story {cl.representative_id}", markup=False)
        rows = [
            Row((f"{m.similarity:.2f}", str(m.article_id), m.source, m.title),
                urls=(m.url,) if m.url else ())
            for m in cl.members
        ]
        _print_table(("similarity", "id", "source", "title"), rows, wrap=(3,), right=(1,))


@cli.command()
@click.option("-t", "--topic", metavar="TOPIC", help="Only articles filed under this topic.")
@click.option("-s", "--source", metavar="NAME", help="Only articles of this source.")
@click.option("--search", metavar="WORDS", help="Only articles with every word in the title "
              "or summary (case-insensitive).")
@click.option("-n", "--limit", type=click.IntRange(1, 100_000), default=50, show_default=True,
              help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_ctx
def articles(ctx: Context, topic: str | None, source: str | None, search: str | None,
             limit: int, as_json: bool) -> None:
    """List stored articles with their ids, newest first."""
    from feedhub.store.listing import list_articles
    from feedhub.store.sources import source_id

    cfg = ctx.config
    if topic is not None and topic not in {t.name for t in cfg.file.topics}:
        fail(f"no topic named {topic!r} in {cfg.path}", 2)
    with ctx.store() as store, store.read() as conn:
        # A source removed from the config keeps its stored articles: its name still lists.
        if source is not None and cfg.source(source) is None and source_id(conn, source) is None:
            fail(f"no source named {source!r} in {cfg.path} or the store", 2)
        found = list_articles(conn, topic=topic, source=source, search=search, limit=limit)
    if as_json:
        import dataclasses

        _print_json([dataclasses.asdict(a) for a in found])
        return
    if not found:
        out.print("no stored articles match", markup=False)
        return
    from feedhub.textable import Row

    rows = [
        Row((str(a.id), _minute(a.published), a.source, a.title), urls=(a.url,) if a.url else ())
        for a in found
    ]
    _print_table(("id", "published", "source", "title"), rows, wrap=(3,), right=(0,))


def _print_table(headers: tuple[str, ...], rows: list[Row], *, wrap: tuple[int, ...] = (),
                 right: tuple[int, ...] = ()) -> None:
    """A plain table (``textable``) that fits the terminal, each URL whole on its own line."""
    from feedhub.textable import render, terminal_width

    lines = render(headers, rows, width=terminal_width(), wrap=wrap, right=right)
    sys.stdout.write("\n".join(lines) + "\n")


def _print_json(data: object) -> None:
    """``data`` as JSON on stdout: times as ISO 8601 UTC, text as UTF-8 (no escapes)."""
    import json

    def default(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON: {type(value).__name__}")

    sys.stdout.write(json.dumps(data, default=default, ensure_ascii=False, indent=2) + "\n")


@cli.command()
@click.option("-t", "--topic", metavar="TOPIC", help="Only stories with an article filed under "
              "this topic.")
@click.option("-n", "--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True,
              help="At most this many, latest article first.")
@click.option("--rebuild", is_flag=True, help="Place every article into stories again (after "
              "a change of the stories settings), in paced transactions.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@pass_ctx
def stories(ctx: Context, topic: str | None, limit: int, rebuild: bool, as_json: bool) -> None:
    """List stories (news events over outlets and days): size, sources, first/last date."""
    from feedhub.store.stories import summaries

    cfg = ctx.config
    if topic is not None and topic not in {t.name for t in cfg.file.topics}:
        fail(f"no topic named {topic!r} in {cfg.path}", 2)
    with ctx.store() as store:
        if rebuild:
            from feedhub.pipeline import rebuild as rebuild_stories

            def waiting() -> None:
                if not ctx.quiet:
                    err.print("another publish is running; waiting for it", markup=False)

            report = rebuild_stories(cfg, store, on_wait=waiting)
            out.print(f"placed {report.placed} articles in {report.started} stories", markup=False)
            return
        with store.read() as conn:
            found = summaries(conn, topic=topic)[:limit]
    base = cfg.file.site.base_url
    feed = {s.id: f"{base}stories/{s.id}.atom" for s in found if s.clusters >= 2}
    if as_json:
        import dataclasses

        _print_json([{**dataclasses.asdict(s), "feed": feed.get(s.id)} for s in found])
        return
    if not found:
        out.print("no stories yet (they are formed at publish)", markup=False)
        return
    from feedhub.textable import Row

    rows = [
        Row((s.id, str(s.articles), str(s.sources), f"{s.first:%Y-%m-%d}", f"{s.last:%Y-%m-%d}",
             s.title), urls=(feed[s.id],) if s.id in feed else ())
        for s in found
    ]
    _print_table(("story", "arts", "srcs", "first", "last", "title"), rows, wrap=(5,),
                 right=(1, 2))


@cli.command()
@click.argument("story_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def story(ctx: Context, story_id: str, as_json: bool) -> None:
    """Show a story's articles, oldest first."""
    from feedhub.store.articles import stored_articles
    from feedhub.store.stories import story_members, summaries

    with ctx.store() as store, store.read() as conn:
        found = summaries(conn, ids=[story_id])
        if not found:
            fail(f"no story with id {story_id!r} (`feedhub stories` lists them)", 2)
        members = stored_articles(conn, story_members(conn, story_id))
    members.sort(key=lambda a: (a.published, a.id))
    s = found[0]
    if as_json:
        _print_json({
            "id": s.id, "title": s.title, "articles": [
                {"id": a.id, "published": a.published, "source": a.source, "title": a.title,
                 "url": a.url, "copy_of": a.cluster_id if a.cluster_id not in (None, a.id)
                 else None}
                for a in members
            ],
        })
        return
    out.print(f"story {s.id}: {s.title} ({s.articles} articles, {s.sources} sources)",
              markup=False)
    from feedhub.textable import Row

    rows = [
        Row((str(a.id), _minute(a.published), a.source, a.title), urls=(a.url,) if a.url else ())
        for a in members
    ]
    _print_table(("id", "published", "source", "title"), rows, wrap=(3,), right=(0,))


@cli.command()
@click.option("--rebuild", is_flag=True, required=True, help="Recompute every cluster.")
@pass_ctx
def dedupe(ctx: Context, rebuild: bool) -> None:
    """Recompute duplicate clusters from scratch (after a threshold change)."""
    from feedhub.dedupe.cluster import rebuild as rebuild_clusters

    with ctx.store() as store, store.write() as conn:
        result = rebuild_clusters(conn, window=ctx.config.file.dedupe.window)
    out.print(
        f"re-indexed {result.indexed} articles; {result.merges} merged into clusters", markup=False
    )


@cli.command()
@click.option("--once", is_flag=True, help="One sweep of due sources and a publish, then exit.")
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--role", type=click.Choice(["all", "fetch", "publish", "serve"]), default="all",
    show_default=True,
    help="Run only this part (several workers on one PostgreSQL store share the work).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), metavar="PORT",
    help="Listen on PORT instead of server.port. A fetch or publish worker then serves "
    "/healthz, /readyz and /metrics there (and nothing without it).",
)
@pass_ctx
def run(ctx: Context, once: bool, log_format: str, role: str, port: int | None) -> None:
    """Run the service: fetch sources when due, publish changes, serve the feeds."""
    from feedhub.service.app import run_service

    verbosity = -1 if ctx.quiet else ctx.verbose
    raise SystemExit(
        run_service(
            ctx.config_file, once=once, log_format=log_format, verbosity=verbosity, role=role,
            port=port,
        )
    )


@cli.command()
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_ctx
def serve(ctx: Context, log_format: str) -> None:
    """Only serve the published feeds over HTTP (no fetching, no publishing)."""
    from feedhub.service.logs import setup_logging
    from feedhub.service.server import serve_forever

    setup_logging(log_format, -1 if ctx.quiet else ctx.verbose)
    server = ctx.config.file.server
    with ctx.store() as store:
        try:
            asyncio.run(serve_forever(ctx.config, store))
        except OSError as e:
            fail(f"cannot serve on {server.host}:{server.port}: {e.strerror or e}")


@cli.command()
@pass_ctx
def prune(ctx: Context) -> None:
    """Delete articles kept longer than retention.max_age (tombstones keep them away)."""
    from feedhub.ingest.run import utcnow
    from feedhub.retention import prune as prune_store

    with ctx.store() as store:
        n = prune_store(ctx.config, store, utcnow())
    if not ctx.quiet:
        out.print(f"deleted {n} articles older than the retention limit", markup=False)


@cli.group("store")
def store_group() -> None:
    """Apply schema migrations, or copy the store to another backend."""


@store_group.command("migrate")
@pass_ctx
def store_migrate(ctx: Context) -> None:
    """Apply the schema migrations now; print the schema version before and after."""
    from sqlalchemy.exc import SQLAlchemyError

    from feedhub.config.env import mask_url
    from feedhub.store import StoreError, first_line
    from feedhub.store.db import create_store_engine
    from feedhub.store.migrations import migrate_engine

    url = ctx.config.store_url
    try:
        engine = create_store_engine(url)
        try:
            report = migrate_engine(engine)
        finally:
            engine.dispose()
    except StoreError as e:
        fail(str(e))
    except SQLAlchemyError as e:
        fail(f"cannot migrate store {mask_url(url)}: {first_line(e)}")
    if not ctx.quiet:
        before = "none (new store)" if report.before is None else str(report.before)
        state = "migrated" if report.changed else "already current"
        out.print(
            f"{mask_url(url)} ({report.dialect}): schema version {before} → {report.after}, "
            f"{state}",
            markup=False,
        )


@store_group.command("copy")
@click.option(
    "--to", "to", required=True, metavar="URL",
    help="The target store: postgresql://user@host/db, sqlite:///path, or a file path.",
)
@click.option("--force", is_flag=True, help="Replace the rows of a target that is not empty.")
@click.option(
    "--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True,
    help="Rows per read and per insert.",
)
@pass_ctx
def store_copy(ctx: Context, to: str, force: bool, batch: int) -> None:
    """Copy every table of the configured store to an empty store at URL, checked by counts."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from feedhub.config.env import mask_url
    from feedhub.store import StoreError, first_line
    from feedhub.store.copy import copy_store, open_target, target_url

    try:
        url = target_url(to)
        target = open_target(url)
    except (ArgumentError, StoreError) as e:
        fail(f"--to: {mask_url(str(e))}", 2)
    shown = mask_url(url)

    def copied(name: str, rows: int) -> None:
        if ctx.verbose:
            err.print(f"{name}: {rows} rows", markup=False)

    with ctx.store() as store:
        try:
            report = copy_store(store.engine, target, force=force, batch=batch, on_table=copied)
        except StoreError as e:
            fail(f"cannot copy to {shown}: {e}")
        except SQLAlchemyError as e:
            fail(f"cannot copy to {shown}: {first_line(e)}")
        finally:
            target.dispose()
    if not ctx.quiet or not report.ok:
        from rich.table import Table

        table = Table("table", "source rows", "target rows", "")
        for c in report.counts:
            table.add_row(c.table, str(c.source), str(c.target), "ok" if c.ok else "MISMATCH")
        (out if report.ok else err).print(table)
    if not report.ok:
        bad = ", ".join(c.table for c in report.counts if not c.ok)
        fail(f"row counts differ in {bad}: nothing was committed to {shown}")
    if not ctx.quiet:
        replaced = f" (replaced rows in {len(report.replaced)} tables)" if report.replaced else ""
        out.print(
            f"copied {report.rows} rows in {len(report.counts)} tables to {shown}{replaced}; "
            f"{len(report.sequences)} sequences moved past the copied ids",
            markup=False,
        )


@contextmanager
def _progress(ctx: Context, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal; nothing in pipes, logs and tests."""
    if ctx.quiet or not err.is_terminal:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(console=err.console, transient=True) as progress:
        task = progress.add_task("fetching", total=total)
        yield lambda: progress.advance(task)


PROGRESS_EVERY = 5.0  # seconds between two progress lines of one pass (first and last always)


@contextmanager
def _publish_progress(ctx: Context, lines: bool) -> Iterator[Progress | None]:
    """How a publish shows its related batches (issue 17: a first publish of a large store
    runs for minutes): ``lines`` (the service's publish child) writes ``progress NAME
    DONE/TOTAL`` lines on stderr, which the service logs (`service/publisher.py`); else a
    progress bar on a terminal, nothing in pipes and tests."""
    if lines:
        import time

        from feedhub.process import PROGRESS_PREFIX

        last: dict[str, float] = {}

        def line(step: Step) -> None:
            now = time.monotonic()
            if (step.done < step.total and step.name in last
                    and now - last[step.name] < PROGRESS_EVERY):
                return
            last[step.name] = now
            sys.stderr.write(f"{PROGRESS_PREFIX}{step.name} {step.done}/{step.total}\n")
            sys.stderr.flush()

        yield line
        return
    if ctx.quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import Progress as Bar

    with Bar(console=err.console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(step: Step) -> None:
            if step.name not in tasks:
                tasks[step.name] = bar.add_task(f"related {step.name}", total=step.total)
            bar.update(tasks[step.name], completed=step.done, total=step.total)

        yield advance


def _minute(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "-"


def _short(dt: datetime | None) -> str:
    """A fetch time in a narrow column: the year is this one (``--json`` has it all)."""
    return dt.strftime("%m-%d %H:%M") if dt else "-"


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: an operational failure is one line and exit 1, no traceback.

    The process ends with a plain exit (SystemExit): atexit handlers and the interpreter's
    clean-up run. ``gc.freeze()`` first spares that clean-up its full collections over every
    object the imports made (0.09 s of each command, as much as skipping the clean-up with
    ``os._exit``; benchmarks/README.md, "Exit").
    """
    try:
        try:
            cli.main(args=argv, prog_name="feedhub", standalone_mode=True)
        except KeyboardInterrupt:
            err.print("feedhub: interrupted")
            raise SystemExit(130) from None
        except Exception as e:
            message = _operational_error(e)
            if message is None:
                raise  # a bug: the traceback is what a report needs
            fail(message)
    finally:
        _flush_output()
        # Nothing is left to collect that matters: the process is ending (issue 13).
        gc.freeze()
    raise SystemExit(0)


def _flush_output() -> None:
    """Flush stdout and stderr before exiting; a reader that went away (``feedhub sources |
    head``) must not turn the exit status into a BrokenPipeError report."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            # The interpreter flushes again at exit: give it a stream that cannot fail.
            with contextlib.suppress(Exception):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _operational_error(e: Exception) -> str | None:
    """One line for a failure of the world around feedhub (store, disk), else None.

    A store error mid-command (the disk filled up, another process kept the store locked
    past the busy timeout, PostgreSQL went away) reaches here from any command.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")  # loaded only if the store was opened
    if sa_exc is not None and isinstance(e, sa_exc.SQLAlchemyError):
        from feedhub.store import first_line

        return f"store error: {first_line(e)}"
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or e}"
    return None
