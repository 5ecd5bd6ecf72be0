"""The ``feedhub`` command. Thin: it loads the config, opens the store, wires stages, prints.

Exit codes: 0 success (``fetch`` also when some sources failed — their errors are printed),
1 an operational error (store, output), 2 a usage or config error.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
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

    from feedhub.config import Config
    from feedhub.store import Store

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
             as_json: bool = False) -> None:
    from feedhub.publish.run import BACKGROUND_PAUSE, PublishError, publish

    out_dir = ctx.config.output_dir

    def waiting() -> None:
        if not ctx.quiet:
            err.print(f"waiting for another publish to {out_dir} to finish…", markup=False)

    try:
        report = publish(
            ctx.config, store, pause=BACKGROUND_PAUSE if background else 0.0, on_wait=waiting
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
@pass_ctx
def sources(ctx: Context) -> None:
    """List sources with their fetch state."""
    from feedhub.config.env import mask_url
    from feedhub.store.sources import source_infos

    with ctx.store() as store, store.read() as conn:
        infos = source_infos(conn)
    from rich.table import Table

    table = Table("name", "url", "status", "last fetch", "articles", "errors", "next due")
    configured = {s.name for s in ctx.config.sources}
    for i in infos:
        if not i.enabled:
            status = f"disabled: {i.disabled_reason}" if i.disabled_reason else "disabled"
        elif i.last_error:
            status = f"error: {i.last_error}"
        elif i.last_fetch is None:
            status = "new"
        else:
            status = f"ok {i.last_status}" if i.last_status else "ok"
        if i.name not in configured and i.disabled_reason is None:
            status = "not in config"
        table.add_row(
            i.name,
            mask_url(i.moved_to or i.url),  # a password in a feed URL stays hidden
            status,
            _when(i.last_fetch),
            str(i.article_count),
            str(i.error_count),
            _when(i.next_due) if i.enabled else "-",
        )
    out.print(table)


@cli.group()
def opml() -> None:
    """Import sources from OPML, or export them as OPML 2.0."""


@opml.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@pass_ctx
def opml_export(ctx: Context, output: Path | None) -> None:
    """Write the configured sources as OPML 2.0 (stdout by default)."""
    from feedhub.opml import sources_to_opml

    data = sources_to_opml(ctx.config.file.site.title, ctx.config.sources)
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
@pass_ctx
def publish_cmd(ctx: Context, background: bool, as_json: bool) -> None:
    """Render every topic's Atom feed, archives, index.opml and index.html."""
    from feedhub.process import PARENT_ENV, die_with_parent, yield_cpu

    parent = os.environ.pop(PARENT_ENV, None)
    if parent and parent.isdigit():  # the service's publish child: die with the service
        die_with_parent(int(parent))
    if background:
        yield_cpu()
    with ctx.store() as store:
        _publish(ctx, store, background=background, as_json=as_json)


@cli.command()
@pass_ctx
def topics(ctx: Context) -> None:
    """List topics with their article counts and last change."""
    from feedhub.store.topics import topic_counts

    with ctx.store() as store, store.read() as conn:
        counts = topic_counts(conn)
    from rich.table import Table

    table = Table("topic", "title", "articles", "last change", "feed")
    base = ctx.config.file.site.base_url
    for t in ctx.config.file.topics:
        n, changed = counts.get(t.name, (0, None))
        table.add_row(t.name, t.title, str(n), _when(changed), f"{base}{t.name}.atom")
    out.print(table)


@cli.command()
@click.argument("article", metavar="URL|ID")
@pass_ctx
def related(ctx: Context, article: str) -> None:
    """Show an article's Related News box with scores."""
    from sqlalchemy import or_, select

    from feedhub.dedupe.urls import canonical_url
    from feedhub.store.related import related_items
    from feedhub.store.schema import articles

    with ctx.store() as store, store.read() as conn:
        c = articles.c
        cond = (
            c.id == int(article)
            if article.isdigit()
            else or_(c.url == article, c.canonical_url == canonical_url(article))
        )
        row = conn.execute(select(c.id, c.title, c.published).where(cond).limit(1)).first()
        if row is None:
            fail(f"no stored article with id or URL {article!r}", 2)
        items = related_items(conn, row.id)
    out.print(f"{row.id}  {row.title}  ({row.published:%b %d, %Y})", markup=False)
    if not items:
        out.print("no related articles above the minimum score", markup=False)
        return
    from rich.table import Table

    table = Table("score", "id", "date", "title", "url")
    for i in items:
        table.add_row(
            f"{i.score:.3f}", str(i.article_id), f"{i.published:%b %d, %Y}", i.title, i.url or ""
        )
    out.print(table)


@cli.command()
@pass_ctx
def duplicates(ctx: Context) -> None:
    """List clusters of copies of one story, with members and similarity."""
    from feedhub.store.dedupe import list_clusters

    with ctx.store() as store, store.read() as conn:
        clusters = list_clusters(conn)
    if not clusters:
        out.print("no duplicates", markup=False)
        return
    from rich.table import Table

    for cl in clusters:
        table = Table(
            "similarity", "id", "source", "title", "url", title=f"story {cl.representative_id}"
        )
        for m in cl.members:
            table.add_row(f"{m.similarity:.2f}", str(m.article_id), m.source, m.title, m.url or "")
        out.print(table)


@cli.command()
@click.option("--rebuild", is_flag=True, required=True, help="Recompute every cluster.")
@pass_ctx
def dedupe(ctx: Context, rebuild: bool) -> None:
    """Recompute duplicate clusters from scratch (after a threshold change)."""
    from feedhub.store.dedupe import rebuild as rebuild_clusters

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


def _when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: an operational failure is one line and exit 1, no traceback."""
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
    except SystemExit as e:
        code = e.code
    else:
        code = 0
    _exit(code)


def _exit(code: object) -> NoReturn:
    """End the process without the interpreter's own clean-up.

    Every command has closed what it opened by now (store, workers, files written through a
    temporary file, fsync and rename), and the exit handlers still run (logging, executors,
    multiprocessing). What is skipped is freeing each imported module's objects one by one:
    ~0.09 s of every command (SQLAlchemy, aiohttp, pydantic), a sixth of a `feedhub fetch`
    where every source answers 304.
    """
    if isinstance(code, str):  # SystemExit("message"): printed, exit status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code if isinstance(code, int) else 0)


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
