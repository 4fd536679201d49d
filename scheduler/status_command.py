"""`kuroshio status`: whether a daemon is alive, what runs next, each source's and digest's last run, and
what needs attention — in words, or with `--format json` for a script.

Needs attention (each named on a line starting "! ", and exit 4 so a script or a monitoring check can
alert without reading the output):

- the daemon died: its lease is held by a process that is gone or stopped renewing it. A daemon that
  was never started, or stopped cleanly, is only "not running": a setup of one-off crawls has none;
- a source whose last run failed; whose last `STARVED_RUNS` finished runs each came to nothing (failed,
  or stored no new article while recording errors: `kuroshio.storage.runs.starved_sources`); or, while
  a daemon runs, that is overdue: no crawl of it started within `daemon.misfire_grace` of the time its
  schedule made it due (its next regular time after its last crawl, or after the daemon started);
- a digest whose last attempt failed (the server refused it, or could not be reached), or, while a
  daemon runs, that is overdue in the same sense.

Exit codes: 0 when nothing needs attention, 4 (`EXIT_NEEDS_ATTENTION`) when something does, and as
every command 2 for a bad config, 69 or 74 when the store cannot be used.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from apscheduler.triggers.cron import CronTrigger

from kuroshio.scheduler.cli_context import config_from, open_store
from kuroshio.scheduler.config import Config
from kuroshio.scheduler.dead_runs import mark_dead_runs_reported
from kuroshio.scheduler.exits import EXIT_NEEDS_ATTENTION
from kuroshio.scheduler.render import clip, render_table, to_the_second
from kuroshio.storage.runs import STARVED_RUNS
from kuroshio.storage.text import one_line

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from kuroshio.scheduler.locks import Holder
    from kuroshio.storage.models import CrawlRun, DigestAttempt

MESSAGE_WIDTH = 80  # terminal cells of a run's message or a digest's error in the tables


STATUS_HELP = f"""Whether a daemon is alive, the next runs, each source's last crawl and each digest's last
attempt; what needs attention is marked "!" and named on a line of its own.

\b
Needs attention:
- the daemon died (it did not stop cleanly);
- a source whose last crawl failed, or whose last {STARVED_RUNS} crawls each failed
  or found nothing new while recording errors;
- a digest whose last attempt failed;
- while a daemon runs, a crawl or digest late by more than daemon.misfire_grace.

Exit status: 0 when nothing needs attention, {EXIT_NEEDS_ATTENTION} when something does."""


@click.command("status", help=STATUS_HELP)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def status_command(ctx: click.Context, output_format: str) -> None:
    """`kuroshio status` (its help is `STATUS_HELP`)."""
    config = config_from(ctx)
    sessions = open_store(config)
    mark_dead_runs_reported(config, sessions)
    report = status_report(config, sessions, now=datetime.now(timezone.utc))
    if output_format == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(render_status(report))
    if report["needs_attention"]:
        ctx.exit(EXIT_NEEDS_ATTENTION)


def status_report(config: Config, sessions: sessionmaker[Session], *, now: datetime) -> dict[str, Any]:
    """What `kuroshio status` shows, as a JSON-ready dict: "daemon", "sources", "digests" (each with its
    "attention": the reasons it needs it, or none) and "needs_attention"."""
    from kuroshio.scheduler.daemon import daemon_state
    from kuroshio.storage.digests import last_digest_attempts
    from kuroshio.storage.runs import last_runs, run_record, starved_sources

    holder, alive = daemon_state(sessions)
    jobs: dict[str, str | None] = holder.info.get("jobs", {}) if holder is not None and alive else {}
    running_since = holder.acquired_at if holder is not None and alive else None
    grace = timedelta(seconds=config.daemon.misfire_grace)
    with sessions() as session:
        runs = last_runs(session)
        starved = set(starved_sources(session))
        attempts = last_digest_attempts(session)
        sources = []
        for source in config.sources:
            run = runs.get(source.name)
            attention = []
            if run is not None and run.status == "failed":
                attention.append(f"its last crawl failed: {one_line(run.message or 'no reason recorded')}")
            if source.name in starved:
                attention.append(f"no new article in the last {STARVED_RUNS} runs (each failed or had only errors)")
            if running_since is not None and (late := _crawl_late(config, source.name, run, running_since, now)):
                if late > grace:
                    attention.append(f"overdue: no crawl started for {_span(late)} since one was due")
            sources.append({"name": source.name, "next_run": jobs.get(f"crawl:{source.name}"),
                            "last_run": run_record(run) if run else None, "attention": attention})
        digests = []
        for digest in config.digests:
            attempt = attempts.get(digest.name)
            attention = []
            if attempt is not None and attempt.status == "failed":
                attention.append(f"its last attempt failed: {one_line(attempt.error or 'no reason recorded')}")
            if running_since is not None:
                cron = CronTrigger.from_crontab(config.digest_schedule(digest.name).cron,
                                                timezone=ZoneInfo(digest.timezone))
                after = max(attempt.started_at, running_since) if attempt else running_since
                due = cron.get_next_fire_time(None, after + timedelta(microseconds=1))
                if due is not None and now - due > grace:
                    attention.append(f"overdue: not attempted for {_span(now - due)} since it was due")
            digests.append({"name": digest.name,
                            "next_run": jobs.get(f"digest-retry:{digest.name}") or jobs.get(f"digest:{digest.name}"),
                            "last_attempt": _attempt_record(attempt) if attempt else None, "attention": attention})
    daemon = _daemon_record(holder, alive)
    needs_attention = daemon["state"] == "died" or any(item["attention"] for item in (*sources, *digests))
    return {"daemon": daemon, "sources": sources, "digests": digests, "needs_attention": needs_attention}


def _crawl_late(config: Config, name: str, run: CrawlRun | None, running_since: datetime,
                now: datetime) -> timedelta | None:
    """How long past due the next crawl of source `name` is (None: not due yet, or one is running).
    A daemon crawls a source never crawled at once, the others at their next regular time."""
    if run is not None and run.status == "running":
        return None
    if run is None:
        due = running_since
    else:
        schedule = config.source_schedule(name)
        after = max(run.started_at, running_since)
        if schedule.cron:
            due = CronTrigger.from_crontab(schedule.cron, timezone=timezone.utc).get_next_fire_time(
                None, after + timedelta(microseconds=1))
        else:
            due = after + timedelta(seconds=schedule.every or config.daemon.every)
    return now - due if due is not None and now > due else None


def _span(late: timedelta) -> str:
    """A duration in the largest whole unit that fits: 90 min, 3 h, 2 d."""
    minutes = int(late.total_seconds() // 60)
    if minutes < 180:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} d"


def _daemon_record(holder: Holder | None, alive: bool) -> dict[str, Any]:
    state = "not running" if holder is None else "running" if alive else "died"
    return {
        "state": state,
        "pid": holder.pid if holder else None,
        "host": holder.host if holder else None,
        "started_at": holder.acquired_at.isoformat() if holder else None,
        "renewed_at": holder.renewed_at.isoformat() if holder else None,
        "description": holder.describe() if holder else None,
    }


def _attempt_record(attempt: DigestAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "status": attempt.status,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        "articles_count": attempt.articles_count,
        "error": attempt.error,
    }


def render_status(report: dict[str, Any]) -> str:
    """`report` (`status_report`) as the terminal shows it."""
    daemon = report["daemon"]
    if daemon["state"] == "running":
        lines = [f"daemon: running, {one_line(daemon['description'])}"]
    elif daemon["state"] == "died":
        lines = [f"daemon: not running (it died: last seen {one_line(daemon['description'])})"]
    else:
        lines = ["daemon: not running"]
    rows = []
    for source in report["sources"]:
        run = source["last_run"] or {}
        rows.append(("!" if source["attention"] else "", source["name"], source["next_run"] or "",
                     run.get("status", "never run"), to_the_second(run.get("started_at")), run.get("articles_new", ""),
                     clip(run.get("message") or "", MESSAGE_WIDTH)))
    lines.append(render_table(["!", "source", "next run", "last run", "started", "new", "message"], rows))
    lines += [f"! {one_line(source['name'])}: {reason}" for source in report["sources"] for reason in source["attention"]]
    if report["digests"]:
        digest_rows = []
        for digest in report["digests"]:
            attempt = digest["last_attempt"] or {}
            digest_rows.append((digest["name"], digest["next_run"] or "", attempt.get("status", "never sent"),
                         to_the_second(attempt.get("started_at")), attempt.get("articles_count", ""),
                         clip(attempt.get("error") or "", MESSAGE_WIDTH)))
        lines += ["", render_table(["digest", "next run", "last attempt", "started", "articles", "error"], digest_rows)]
        lines += [f"! {one_line(digest['name'])}: {reason}" for digest in report["digests"]
                  for reason in digest["attention"]]
    if daemon["state"] == "died":
        lines.append("! daemon: it died without stopping cleanly; start it again")
    return "\n".join(lines)

