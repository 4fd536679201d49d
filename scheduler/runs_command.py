"""`kuroshio runs`: the crawl history, and `kuroshio runs show ID`: one run with every error it recorded.

A run keeps its first `MAX_RECORDED_ERRORS` errors and counts them all; `runs show` lists the kept
ones and says how many more there were. Both read as a table or, with `--format json`, as the records
of `kuroshio.storage.runs.run_record` (`runs show` adds "errors").

Exit codes: 0 when shown, 1 when no run has that id, 2 for an unknown `--source` or bad arguments.
"""

from __future__ import annotations

import json

import click

from kuroshio.scheduler.cli_context import config_from, open_store
from kuroshio.scheduler.dead_runs import mark_dead_runs_reported
from kuroshio.scheduler.exits import EXIT_FAILED
from kuroshio.scheduler.listing import LIMIT, known_sources, limit_count, report_cut, require_known
from kuroshio.scheduler.render import render_table, to_the_second
from kuroshio.storage.text import one_line

RUNS_LIMIT = 20
# Run ids are INTEGER: 32 bits on PostgreSQL, where a larger number is an SQL error, not "no such run".
MAX_RUN_ID = 2**31 - 1


@click.group("runs", invoke_without_command=True)
@click.option("--source", help="Only runs of this source.")
@click.option("--limit", type=LIMIT, metavar="N|all", default=RUNS_LIMIT, show_default=True, help="At most N runs, or 'all'.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def runs_command(ctx: click.Context, source: str | None, limit: int | str, output_format: str) -> None:
    """Crawl history, newest first, with counts, duration and errors. `kuroshio runs show ID` lists the
    errors of one run. A listing cut by --limit says so on stderr."""
    if ctx.invoked_subcommand is not None:
        return
    from kuroshio.storage.runs import list_runs, run_record

    config = config_from(ctx)
    sessions = open_store(config)
    mark_dead_runs_reported(config, sessions)
    count = limit_count(limit, default=RUNS_LIMIT)
    with sessions() as session:
        require_known("source", source, known_sources(config, session))
        # One more than asked for tells whether the listing was cut.
        found = list_runs(session, source=source, limit=count + 1 if count is not None else None)
        records = [run_record(run) for run in found[:count]]
    if output_format == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        rows = [(r["id"], r["source"], r["status"], to_the_second(r["started_at"]),
                 f"{r['duration_seconds']:.1f}s" if r["duration_seconds"] is not None else "", r["pages_fetched"],
                 r["not_modified"], r["articles_new"], r["articles_relevant"], r["duplicates_skipped"],
                 r["errors_count"], r["node"] or r["host"] or "", r["message"] or "") for r in records]
        click.echo(render_table(["run", "source", "status", "started", "took", "pages", "unchanged", "new",
                                 "relevant", "duplicates", "errors", "ran on", "message"], rows))
    if len(found) > len(records):
        report_cut(len(records), total=None, what="runs")


@runs_command.command("show")
@click.argument("run_id", metavar="ID", type=click.IntRange(min=1, max=MAX_RUN_ID))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def runs_show(ctx: click.Context, run_id: int, output_format: str) -> None:
    """One crawl run: its source, times, status, counts and every error it recorded."""
    from kuroshio.storage.runs import get_run, run_record

    config = config_from(ctx)
    sessions = open_store(config)
    mark_dead_runs_reported(config, sessions)
    with sessions() as session:
        run = get_run(session, run_id)
        record = run_record(run, with_errors=True) if run is not None else None
    if record is None:
        click.echo(f"kuroshio: no crawl run with id {run_id}", err=True)
        ctx.exit(EXIT_FAILED)
    if output_format == "json":
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
    else:
        click.echo(render_run(record))


def render_run(record: dict) -> str:
    """A run record with its errors (`run_record(..., with_errors=True)`) as `runs show` prints it."""
    took = f" (took {record['duration_seconds']:.1f}s)" if record["duration_seconds"] is not None else ""
    lines = [
        f"run {record['id']}: {one_line(record['source'])}, {record['status']}",
        f"started:  {to_the_second(record['started_at'])}",
        f"finished: {to_the_second(record['finished_at']) or 'not yet'}{took}",
        f"pages:    {record['pages_fetched']} fetched, {record['not_modified']} unchanged (HTTP 304)",
        f"articles: {record['articles_new']} new, {record['articles_relevant']} relevant, "
        f"{record['duplicates_skipped']} duplicates skipped",
    ]
    if record["message"]:
        lines.append(f"message:  {one_line(record['message'])}")
    errors, count = record["errors"], record["errors_count"]
    listed = "none" if count == 0 else "all listed" if count == len(errors) else f"the first {len(errors)} listed"
    lines.append(f"errors:   {count} ({listed})" if count else "errors:   none")
    lines += [f"  {one_line(error['url'] or '(no URL)')}: {one_line(error['reason'])}" for error in errors]
    if count > len(errors):
        lines.append(f"  ... and {count - len(errors)} more, not kept")
    return "\n".join(lines)

