"""The `kuroshio` command: one-off crawls, reading the archive, the offline demo, schema upgrades.

Exit codes: 0 when the command did its job (a crawl with some failed pages included), 1 when a
crawl could not do its job (every source failed), 2 for a bad config or bad arguments, 3 when a
daemon already runs on the database, 69 when the database cannot be connected to (the server down or
unreachable, the login refused, no such database), 74 when the database refused writes (full,
read-only, its disk failing: a later try may succeed), 75 when every source asked for is being crawled
elsewhere, 130 when Ctrl-C stopped a crawl (143 for SIGTERM). A database URL is only ever shown with
its password masked.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import signal
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kuroshio.scheduler.check_command import check_command
from kuroshio.scheduler.cli_context import OneLineError, config_from, open_store, parse_since, store_errors_reported
from kuroshio.scheduler.config import Config, ConfigError, SourceConfig, load_config
from kuroshio.scheduler.dead_runs import mark_dead_runs_reported
from kuroshio.scheduler.digest_command import digest_command
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_BUSY, EXIT_INTERRUPTED, exit_for_signal
from kuroshio.scheduler.extract_command import extract_command
from kuroshio.scheduler.feed_command import feed_command
from kuroshio.scheduler.listing import LIMIT, known_sources, known_topics, limit_count, report_cut, require_known
from kuroshio.scheduler.render import clip, render_table, to_the_second
from kuroshio.scheduler.runs_command import runs_command
from kuroshio.scheduler.serve_command import serve_command
from kuroshio.scheduler.status_command import status_command
from kuroshio.scheduler.topics_command import topics_command
from kuroshio.storage.text import one_line

if TYPE_CHECKING:
    from kuroshio.crawler.run import OnInterrupt, SourceRun
    from kuroshio.crawler.topics import Explanation

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
FORMATS = ("table", "json", "jsonl", "csv")
TABLE_LIMIT = 50  # rows of `articles list` in the table when --limit is not given; the exports have no cap
TITLE_WIDTH = 70  # terminal cells of a title in a table


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="kuroshio")


@click.group()
@click.version_option(package_name="kuroshio", prog_name="kuroshio", message="%(prog)s %(version)s")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), envvar="KUROSHIO_CONFIG",
              help="TOML config file (default: built-in sources and topic).")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), help="Also append the log to this file.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str, log_file: Path | None) -> None:
    """Kuroshio: a scheduled news monitor."""
    _configure_logging(log_level.upper(), log_file)
    ctx.obj = {"config_path": config_path, "log_level": log_level.upper()}


def _configure_logging(level: str, log_file: Path | None) -> None:
    """stderr (journald adds the time) and an optional file (with times), each filtering at `level`:
    the handler level also tames Scrapy's own loggers, which Scrapy sets to DEBUG."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setFormatter(_ControlFreeFormatter(LOG_FORMAT))
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[1].setFormatter(_ControlFreeFormatter("%(asctime)s " + LOG_FORMAT))
    for handler in handlers:
        handler.setLevel(level)
        if level != "DEBUG":
            handler.addFilter(_quiet_libraries)
    logging.basicConfig(level=level, handlers=handlers, force=True)


# Control characters but tab and line feed (a traceback's lines and indentation stay).
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _ControlFreeFormatter(logging.Formatter):
    """Log lines without control characters: a log line quotes URLs, servers' answers and their errors,
    and an escape sequence in one (`ESC]0;...BEL`, `ESC[2J`) would rewrite the operator's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return TERMINAL_CONTROLS.sub(" ", super().format(record))


NOISY_LIBRARIES = ("scrapy", "twisted", "apscheduler", "alembic", "protego", "trafilatura", "htmldate", "py.warnings")


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Below DEBUG, libraries speak only of warnings and errors: their INFO (Scrapy's stats dump,
    APScheduler's every job start) buries what an operator reads; Kuroshio's own INFO says it."""
    return record.levelno >= logging.WARNING or not record.name.startswith(NOISY_LIBRARIES)


@cli.command()
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Crawl only this source (repeatable).")
@click.option("--since", metavar="DATE", help="Backfill: fetch what was published since this ISO date, instead of "
              "within crawl.max_age (crawl.max_pages still caps each source).")
@click.option("--max-pages", type=click.IntRange(min=0), metavar="N",
              help="Cap each source at N pages for this crawl instead of crawl.max_pages; 0: no cap.")
@click.pass_context
def crawl(ctx: click.Context, source_names: tuple[str, ...], since: str | None, max_pages: int | None) -> None:
    """Crawl now: discover, fetch, extract, filter and store new articles."""
    config = config_from(ctx)
    since_at = parse_since(since)
    if max_pages is not None:
        config = replace(config, crawl=replace(config.crawl, max_pages=max_pages))
    try:
        sources = config.select_sources(source_names)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--source") from None
    interruption = _Interruption()
    try:
        with store_errors_reported(config):  # every write is one transaction: a refused one changed nothing
            results = _crawl_free_sources(ctx, config, sources, since=since_at, on_interrupt=interruption.heard)
    except KeyboardInterrupt:  # before the crawl took the signals over, or while it recorded its runs
        click.echo("kuroshio: interrupted", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    click.echo(_crawl_summary(results))
    if interruption.signum is not None:
        ctx.exit(exit_for_signal(interruption.signum))
    if all(result.status == "failed" for result in results):
        ctx.exit(1)


class _Interruption:
    """The signal that stopped a crawl, said on stderr as it comes: the crawl goes on a while."""

    signum: int | None = None

    def heard(self, signum: int, at_once: bool) -> None:
        self.signum = signum
        if at_once:
            click.echo("kuroshio: stopping at once", err=True)
            return
        what, again = ("interrupted", "Ctrl-C again") if signum == signal.SIGINT else ("terminated", "a second SIGTERM")
        click.echo(f"kuroshio: {what}: stopping after the pages in flight ({again} to stop at once)", err=True)


def _crawl_free_sources(ctx: click.Context, config: Config, sources: tuple[SourceConfig, ...], *,
                        since: datetime | None = None, on_interrupt: OnInterrupt | None = None) -> list[SourceRun]:
    """Crawl those of `sources` no other process is crawling, holding their leases meanwhile."""
    from kuroshio.crawler.run import progress_stream
    from kuroshio.scheduler.crawls import crawl as run_crawl
    from kuroshio.scheduler.dead_runs import mark_dead_runs
    from kuroshio.scheduler.locks import CRAWL_LEASE_TTL, LeaseHeld, LeaseKeeper, crawl_lease

    sessions = open_store(config)
    mark_dead_runs(sessions)
    busy, free = _busy_sources(sessions, sources)
    for name, holder in busy.items():
        click.echo(f"kuroshio: {name} is already being crawled by {holder.describe()}: not crawled now", err=True)
    if not free:
        ctx.exit(EXIT_BUSY)
    keeper = LeaseKeeper(sessions, [crawl_lease(source.name) for source in free], ttl=CRAWL_LEASE_TTL)
    try:
        with keeper:
            return run_crawl(config, free, since=since, log_level=ctx.obj["log_level"], progress=progress_stream(),
                             on_interrupt=on_interrupt)
    except LeaseHeld as held:  # taken between our look and our claim
        click.echo(f"kuroshio: {held}: not crawled now", err=True)
        ctx.exit(EXIT_BUSY)


def _busy_sources(sessions, sources) -> tuple[dict, tuple]:
    """Sources another live process is crawling (with its holder), and the rest."""
    from kuroshio.scheduler.locks import crawl_lease, holder

    busy = {}
    with sessions() as session:
        for source in sources:
            current = holder(session, crawl_lease(source.name))
            if current is not None and current.alive():
                busy[source.name] = current
    return busy, tuple(source for source in sources if source.name not in busy)


def _crawl_summary(results: list) -> str:
    rows = [
        (r.source, r.status, r.pages_fetched, r.not_modified, r.articles_new, r.articles_relevant,
         r.duplicates_skipped, r.errors_count)
        for r in results
    ]
    lines = [render_table(["source", "status", "pages", "unchanged", "new", "relevant", "duplicates", "errors"],
                          rows)]
    for result in results:
        if result.message:
            lines.append(one_line(f"{result.source}: {result.message}"))
        for error in result.errors:
            lines.append("  " + one_line(f"{result.source}: {error['url']}: {error['reason']}"))
        if (unlisted := result.errors_count - len(result.errors)) > 0:
            lines.append(f"  {one_line(result.source)}: {unlisted} more errors, not listed")
    return "\n".join(lines)


@cli.group()
def articles() -> None:
    """List, show and search stored articles."""


@articles.command("list")
@click.option("--topic", help="Only articles matching this topic.")
@click.option("--since", help="Only articles published (or first seen) since this ISO date.")
@click.option("--source", help="Only articles from this source.")
@click.option("--all", "include_unmatched", is_flag=True, help="Also articles that matched no topic.")
@click.option("--limit", type=LIMIT, metavar="N|all", help=f"At most N articles, or 'all'. Default: {TABLE_LIMIT} in the table; the "
              "json, jsonl and csv exports list every one.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def articles_list(ctx: click.Context, topic: str | None, since: str | None, source: str | None,
                  include_unmatched: bool, limit: int | str | None, output_format: str) -> None:
    """List articles, newest first (by default only those matching a topic). A listing cut by --limit
    says so on stderr."""
    from kuroshio.storage.articles import article_record, count_articles, iter_articles

    config = config_from(ctx)
    since_at = parse_since(since)
    count = limit_count(limit, default=TABLE_LIMIT if output_format == "table" else None)
    filters: dict[str, Any] = {"topic": topic, "since": since_at, "source": source,
                               "include_unmatched": include_unmatched}
    with open_store(config)() as session:
        require_known("source", source, known_sources(config, session))
        require_known("topic", topic, known_topics(config, session))
        # Written as read: an export of the whole archive never holds it in memory.
        records = (article_record(article) for article in iter_articles(session, **filters, limit=count))
        shown = _write_records(records, output_format)
        total = count_articles(session, **filters) if shown == count else shown
    if total > shown:
        report_cut(shown, total=total, what="articles")


@articles.command("show")
@click.argument("ref")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def articles_show(ctx: click.Context, ref: str, output_format: str) -> None:
    """Show one article by id or by any URL it was seen under."""
    from kuroshio.storage.articles import article_record, get_article

    config = config_from(ctx)
    lookup = _article_lookup(ref)
    with open_store(config)() as session:
        article = get_article(session, lookup) if lookup is not None else None
        record = article_record(article) if article else None
    if record is None:
        click.echo(f"kuroshio: no article with id or URL {ref!r}", err=True)
        ctx.exit(1)
    explained = _explained(config, record)
    if output_format == "json":
        record = {**record, "topics_not_matched": [
            {"name": topic.topic, "reason": topic.reason, "score": topic.score, "terms": list(topic.terms)}
            for topic in explained.refusals
        ], "topics_matching_now": [
            {"name": topic.topic, "score": topic.score, "terms": list(topic.terms)} for topic in explained.matching_now
        ], "topics_admitted_by_scorer": [{"name": name, "reason": reason}
                                         for name, reason in explained.admitted.items()]}
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    topics = ", ".join(f"{t['name']} ({t['score']:g}: {', '.join(t['terms'])})" for t in record["topics"]) or "none"
    others = "".join(f"matched: {name}: {reason}\n" for name, reason in explained.admitted.items())
    others += "".join(f"not matched: {topic.topic}: {topic.reason}\n" for topic in explained.refusals)
    others += "".join(f"matches now: {topic.topic} ({topic.score:g}: {', '.join(topic.terms)}), not in the stored "
                      "matches, which predate its definition: kuroshio topics rematch\n"
                      for topic in explained.matching_now)
    head = (
        f"{record['title']}\n"
        f"source:    {record['source']}\nurl:       {record['url']}\ncanonical: {record['canonical_url']}\n"
        f"published: {record['published'] or 'unknown'}\nauthors:   {', '.join(record['authors']) or 'unknown'}\n"
        f"language:  {record['language'] or 'unknown'}\ntopics:    {topics}\n{others}"
        f"partial:   {PARTIAL_LINE if record['partial'] else 'no'}"
    )
    # Stored text is web input: no escape sequence in it reaches the terminal (line breaks stay).
    click.echo(TERMINAL_CONTROLS.sub(" ", f"{head}\n\n{record['text']}"))


def _explained(config: Config, record: dict[str, Any]) -> Explanation:
    """For each configured topic the stored article does not match, why it refuses the article, or the
    match it makes now when the stored matches are older than the topic's definition; for each stored
    match a topic's scorer made where the topic's rules refuse the article, why."""
    from kuroshio.crawler.topics import explain_topics

    return explain_topics(config.topics, {topic["name"] for topic in record["topics"]}, title=record["title"],
                          text=record["text"])


# The largest id an article can have: the column is an INTEGER, 32 bits on PostgreSQL (a larger number
# is an SQL error there, past 64 bits on SQLite too), and ids count up from 1.
MAX_ARTICLE_ID = 2**31 - 1


def _article_lookup(ref: str) -> str | None:
    """What `articles show REF` looks up: an id (ASCII digits), or the URL canonicalised (URLs are stored
    canonical: a pasted link with tracking parameters still finds its article). None for an id no
    article can have; a usage error (exit 2) for a REF that is neither an id nor a URL."""
    from kuroshio.storage.urls import canonicalize_url

    ref = ref.strip()
    try:
        ref.encode("utf-8")
    except UnicodeEncodeError:  # argv that was not UTF-8 arrives with lone surrogates
        raise BadArgument(f"article {ref!r}: not valid UTF-8") from None
    if ref.isdigit():  # also true of "²" and other digits int() does not read
        if not ref.isascii():
            raise BadArgument(f"article {ref!r}: neither an id (digits 0-9) nor a URL")
        return ref if int(ref) <= MAX_ARTICLE_ID else None
    try:
        return canonicalize_url(ref)
    except ValueError as error:
        raise BadArgument(f"article {ref!r}: neither an id nor a usable URL ({error})") from None


class BadArgument(OneLineError):
    """An argument that cannot mean anything: one line naming it and why, exit 2."""

    exit_code = EXIT_BAD_CONFIG


# What `articles show` says of an article stored from a page that showed only part of it.
PARTIAL_LINE = "yes: the page showed only the title and lead (a paywall or an archive teaser); the text is the lead"


@articles.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=LIMIT, metavar="N|all", default=20, show_default=True, help="At most N articles, or 'all'.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def articles_search(ctx: click.Context, query: tuple[str, ...], limit: int | str, output_format: str) -> None:
    """Search every stored article with a topic query (words joined by spaces): TSMC AND 熊本, Japan*,
    "Taiwan Strait", a OR b, NOT c, @Japan. Found as the topic filter finds terms (README: Searching)."""
    from kuroshio.storage.articles import article_record
    from kuroshio.storage.query import QuerySyntaxError
    from kuroshio.storage.search import search_articles

    config = config_from(ctx)
    try:
        with open_store(config)() as session:
            count = limit_count(limit, default=None)
            # One more than asked for tells whether the listing was cut; confirming every match to count
            # them all would cost as much as --limit all.
            found = search_articles(session, " ".join(query), limit=count + 1 if count is not None else None)
            records = [article_record(article) for article in found[:count]]
    except QuerySyntaxError as error:
        click.echo(f"kuroshio: bad search query: {one_line(str(error))}", err=True)
        ctx.exit(EXIT_BAD_CONFIG)
    click.echo(_format_records(records, output_format), nl=False)
    if len(found) > len(records):
        report_cut(len(records), total=None, what="articles found")


def _write_records(records: Iterable[dict[str, Any]], output_format: str) -> int:
    """Write `records` to stdout as `_format_records` would, each export record as it comes (the table,
    at most a screenful, is laid out whole); how many were written."""
    if output_format == "table":
        listed = list(records)
        click.echo(_format_records(listed, output_format), nl=False)
        return len(listed)
    row = io.StringIO()
    writer = csv.writer(row)
    if output_format == "csv":
        writer.writerow(CSV_COLUMNS)
    written = 0
    for record in records:
        if output_format == "csv":
            writer.writerow([record["id"], *map(_csv_cell, _csv_fields(record))])
        elif output_format == "jsonl":
            row.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:  # one element of json.dumps(records, indent=2)'s array
            row.write(("[\n" if not written else ",\n") + textwrap.indent(json.dumps(record, ensure_ascii=False,
                                                                                     indent=2), "  "))
        click.echo(row.getvalue(), nl=False)
        row.seek(0)
        row.truncate()
        written += 1
    if output_format == "json":
        click.echo("\n]\n" if written else "[]\n", nl=False)
    elif output_format == "csv" and not written:
        click.echo(row.getvalue(), nl=False)  # the header alone
    return written


def _format_records(records: list[dict[str, Any]], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if output_format == "jsonl":
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([r["id"], *map(_csv_cell, _csv_fields(r))] for r in records)
        return buffer.getvalue()
    rows = [(r["id"], (r["published"] or "")[:16], r["source"], clip(r["title"], TITLE_WIDTH),
             ",".join(t["name"] for t in r["topics"])) for r in records]
    return render_table(["id", "published", "source", "title", "topics"], rows) + "\n"


# Every field of an article's JSON record but its text, which is no cell's size (a spreadsheet cell holds
# 32,767 characters): the first six as they always were, lists joined by ";", each topic's score and
# terms under its name.
CSV_COLUMNS = ("id", "published", "source", "title", "url", "topics", "canonical_url", "authors", "language",
               "partial", "first_seen_at", "topic_scores", "topic_terms")


def _csv_fields(record: dict[str, Any]) -> tuple[str, ...]:
    """The text cells of `record` after its id, in `CSV_COLUMNS` order."""
    topics = record["topics"]
    return (record["published"] or "", record["source"], record["title"], record["url"],
            ";".join(t["name"] for t in topics), record["canonical_url"], ";".join(record["authors"]),
            record["language"] or "", "true" if record["partial"] else "false", record["first_seen_at"],
            ";".join(f"{t['name']}={t['score']:g}" for t in topics),
            ";".join(f"{t['name']}={', '.join(t['terms'])}" for t in topics))


# A spreadsheet reads a cell starting with one of these as a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE).
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows as text: one that would start a formula gets a leading
    single quote (OWASP's advice on CSV injection). Titles are web input."""
    return f"'{text}" if text.startswith(CSV_FORMULA_STARTS) else text


@cli.command()
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def sources(ctx: click.Context, output_format: str) -> None:
    """List configured sources with their last crawl."""
    from kuroshio.storage.runs import last_runs, run_record

    config = config_from(ctx)
    sessions = open_store(config)
    mark_dead_runs_reported(config, sessions)
    with sessions() as session:
        runs = last_runs(session)
        records: list[dict[str, Any]] = [
            {"name": source.name, "domains": list(source.domains),
             "last_run": run_record(runs[source.name]) if source.name in runs else None}
            for source in config.sources
        ]
    if output_format == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    rows = []
    for record in records:
        run = record["last_run"] or {}
        rows.append((record["name"], ", ".join(record["domains"]), run.get("status", "never run"),
                     to_the_second(run.get("started_at")), run.get("articles_new", "")))
    click.echo(render_table(["source", "domains", "last run", "started", "new"], rows))


@cli.command()
@click.pass_context
def daemon(ctx: click.Context) -> None:
    """Run scheduled crawls (and digests) in the foreground until SIGTERM or SIGINT."""
    from kuroshio.scheduler.daemon import run_daemon

    config = config_from(ctx)
    with store_errors_reported(config):  # a store it cannot connect to at start: one line, exit 69
        code = run_daemon(config, log_level=ctx.obj["log_level"])
    ctx.exit(code)


@cli.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the schema to the latest migration."""
    from kuroshio.storage.engine import masked_url

    config = config_from(ctx)
    open_store(config)
    click.echo(f"schema is up to date: {masked_url(config.storage_url)}")


@cli.command()
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), default=Path("kuroshio-demo.db"),
              show_default=True, help="SQLite file to (re)create for the demo.")
@click.pass_context
def demo(ctx: click.Context, database: Path) -> None:
    """Crawl the bundled offline fixture web into a fresh SQLite database and show what was found."""
    from kuroshio.crawler.run import progress_stream
    from kuroshio.fixtures.server import DEMO_CONFIG, FixtureWeb
    from kuroshio.scheduler.crawls import crawl as run_crawl
    from kuroshio.storage.articles import article_record, list_articles

    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database_url = f"sqlite:///{database.resolve()}"
    try:
        config = load_config(DEMO_CONFIG)
    except ConfigError as error:
        click.echo(f"kuroshio: config error: {error}", err=True)
        ctx.exit(EXIT_BAD_CONFIG)
    with FixtureWeb() as web:
        click.echo(f"Fixture web serving on {web.proxy_url}; crawling into {database}")
        config = replace(config, storage_url=database_url, crawl=replace(config.crawl, proxy=web.proxy_url))
        results = run_crawl(config, config.sources, log_level=ctx.obj["log_level"], progress=progress_stream())
    click.echo(_crawl_summary(results))
    with open_store(config)() as session:
        records = [article_record(a) for a in list_articles(session, include_unmatched=False, limit=None)]
    click.echo(f"\nRelevant articles ({len(records)}):")
    click.echo(_format_records(records, "table"), nl=False)
    click.echo(f"\nBrowse the archive: KUROSHIO_DATABASE_URL={database_url} kuroshio articles list --all")


cli.add_command(digest_command)
cli.add_command(status_command)
cli.add_command(runs_command)
cli.add_command(topics_command)
cli.add_command(check_command)
cli.add_command(extract_command)
cli.add_command(serve_command)
cli.add_command(feed_command)
