"""`kuroshio check`: is the config valid, and what would each source's crawl find right now?

The config is loaded as every command loads it; then each source's discovery documents (robots.txt,
feeds, sitemaps, listing pages) are read with the crawler's own machinery in its discover-only mode
(`kuroshio.crawler.check`): no article is fetched and nothing is stored. The store is only read, to tell
known links from new ones; a store not created yet counts every link as new, and so does one that
cannot be read (said in the report).

Exit codes: 0 when every source checked is reachable and yields article links, 1
(`EXIT_FAILED`) when one is not, 2 for a bad config or an unknown `--source`, 69 when the sources pass
but the database cannot be connected to (a crawl would fail on it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from kuroshio.scheduler.config import Config, ConfigError, load_config
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_FAILED, EXIT_STORE_UNREACHABLE
from kuroshio.storage.engine import masked_url
from kuroshio.storage.text import one_line

if TYPE_CHECKING:
    from kuroshio.crawler.check import SourceCheck
    from kuroshio.crawler.window import CrawlWindow

PROBE_URL = "http://kuroshio-check.invalid/"


@click.command("check")
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Check only this source (repeatable).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def check_command(ctx: click.Context, source_names: tuple[str, ...], output_format: str) -> None:
    """Check the config, and what each source's discovery finds now (no article fetched, nothing stored)."""
    from kuroshio.crawler.check import check_sources
    from kuroshio.scheduler.crawls import crawl_window

    config_path = ctx.obj["config_path"]
    try:
        config = load_config(config_path)
    except ConfigError as error:
        _echo_report(output_format, {"config": {"ok": False, "error": one_line(str(error))}},
                     [f"config: error: {one_line(str(error))}"])
        ctx.exit(EXIT_BAD_CONFIG)
    try:
        sources = config.select_sources(source_names)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--source") from None
    lookups_url, store = _store_state(config)
    window = crawl_window(datetime.now(timezone.utc), max_age=config.crawl.max_age, since=None)
    with spider_warnings_held(ctx.obj["log_level"]):
        checks = check_sources(sources, crawl=config.crawl, storage_url=lookups_url, window=window,
                               log_level=ctx.obj["log_level"])
    summary = _config_summary(config)
    report = {"config": {"ok": True, "path": str(config.path) if config.path else None, "summary": summary},
              "store": store, "window": _window_line(config, window),
              "sources": [_source_record(check) for check in checks], "ok": all(check.ok for check in checks)}
    lines = [f"config: {summary}", f"store: {store['state']}", f"window: {report['window']}", ""]
    for check in checks:
        lines += _source_lines(check)
    failed = [check.source for check in checks if not check.ok]
    lines += ["", f"{len(checks) - len(failed)} of {len(checks)} sources ok" + (
        f"; failed: {', '.join(failed)}" if failed else "")]
    _echo_report(output_format, report, lines)
    if failed:
        ctx.exit(EXIT_FAILED)
    if store["unreachable"]:
        ctx.exit(EXIT_STORE_UNREACHABLE)


def _echo_report(output_format: str, report: dict[str, Any], lines: list[str]) -> None:
    if output_format == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(lines))


def _config_summary(config: Config) -> str:
    where = str(config.path) if config.path else "built-in defaults (no --config, no $KUROSHIO_CONFIG)"
    counts = [f"{len(config.sources)} source{'s' if len(config.sources) != 1 else ''}",
              f"{len(config.topics)} topic{'s' if len(config.topics) != 1 else ''}",
              f"{len(config.digests)} digest{'s' if len(config.digests) != 1 else ''}"]
    return one_line(f"{where}: valid ({', '.join(counts)})")


def _window_line(config: Config, window: CrawlWindow) -> str:
    since = (f"links dated before {window.start.isoformat(timespec='minutes')} are not fetched (crawl.max_age)"
             if window.start else "no lookback window (crawl.max_age = 0d)")
    cap = f"at most {config.crawl.max_pages} pages a source" if config.crawl.max_pages else "no page cap"
    return f"{since}; {cap} (crawl.max_pages)"


def _store_state(config: Config) -> tuple[str | None, dict[str, Any]]:
    """The store URL the check may read known links from (None: every link counts as new), and a record
    of the store's state. Nothing is created: a SQLite file that does not exist yet is left so."""
    from kuroshio.storage.articles import known_links
    from kuroshio.storage.engine import StoreUnreachable, connect, create_engine_for

    shown = masked_url(config.storage_url)
    try:
        url = make_url(config.storage_url)
    except ArgumentError as error:
        return None, {"url": shown, "unreachable": True, "state": one_line(f"{shown}: not a database URL: {error}")}
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith("file:") \
            and url.database != ":memory:" and not Path(url.database).expanduser().exists():
        return None, {"url": shown, "unreachable": False,
                      "state": f"{shown}: not created yet (the first crawl creates it): every link counts as new"}
    engine = create_engine_for(config.storage_url)
    try:
        with connect(engine) as connection, Session(bind=connection) as session:
            known_links(session, [PROBE_URL], now=datetime.now(timezone.utc))
    except StoreUnreachable as error:
        return None, {"url": shown, "unreachable": True, "state": one_line(f"{error}: every link counts as new")}
    except SQLAlchemyError as error:
        reason = one_line(str(getattr(error, "orig", None) or error))
        return None, {"url": shown, "unreachable": False,
                      "state": f"{shown}: cannot be read ({reason}; kuroshio db upgrade?): every link counts as new"}
    finally:
        engine.dispose()
    return config.storage_url, {"url": shown, "unreachable": False, "state": f"{shown}: readable (known links are told from new)"}


@contextmanager
def spider_warnings_held(log_level: str) -> Iterator[None]:
    """At the default log level, the crawler's per-URL warnings are held back: the report lists each."""
    crawler_logger = logging.getLogger("kuroshio.crawler")
    level = crawler_logger.level
    if log_level == "WARNING":
        crawler_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        crawler_logger.setLevel(level)


def _source_record(check: SourceCheck) -> dict[str, Any]:
    record = asdict(check)
    record.update(ok=check.ok, new=check.new, repeated=check.repeated)
    return record


def _source_lines(check: SourceCheck) -> list[str]:
    from kuroshio.crawler.check import describe_document

    verdict = "ok" if check.ok else f"FAILED: {check.failure}"
    lines = [one_line(f"{check.source}: {verdict}")]
    lines += [f"  {describe_document(document)}" for document in check.documents]
    again = f" ({check.repeated} more links to them)" if check.repeated else ""
    lines.append(
        f"  links: {check.links_found} found: {check.links_too_old} dated before the window, "
        f"{check.links_not_articles} not article links, {check.known} to articles the store knows, "
        f"{check.new} to new articles{again}; {check.would_fetch} would be fetched"
        + (f", {check.left_by_cap} left for the next crawl (crawl.max_pages)" if check.left_by_cap else "")
        + (f"; robots.txt forbids {check.robots_forbidden} of them" if check.robots_forbidden else ""))
    if check.problems_count:
        lines.append(f"  problems ({check.problems_count}):")
        lines += [f"    {one_line(problem['url'])}: {one_line(problem['reason'])}" for problem in check.problems]
        if (unlisted := check.problems_count - len(check.problems)) > 0:
            lines.append(f"    {unlisted} more, not listed")
    return lines
