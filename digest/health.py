"""Source health, the digest's footer: the sources whose crawls need a look.

Named is every configured source whose crawls failed or were interrupted (with the last error message,
at most `MAX_PROBLEM_CHARS`), whose finished crawls together found no new article, or which did not run,
since the last digest sent (the last `FIRST_DIGEST_LOOKBACK` before the first); then any source no longer
configured whose crawls failed or found nothing. Crawls still running count for neither.

Settings: `sources[]` (the sources expected to have run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from kuroshio.digest.excerpts import clean_line
from kuroshio.storage.models import CrawlRun

MAX_PROBLEM_CHARS = 200
FIRST_DIGEST_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source whose crawls need a look, and why."""

    source: str
    problem: str


def source_problems(source_names: Sequence[str], runs: Sequence[CrawlRun]) -> list[SourceProblem]:
    """Sources whose `runs` (those since the last digest) failed, found no new article, or are missing.

    A source is named when any of its runs failed or was interrupted (with the last error message),
    when its finished runs together stored no new article, or when a configured source has no run.
    Runs still going count for neither.
    """
    runs_by_source: dict[str, list[CrawlRun]] = defaultdict(list)
    for run in runs:
        runs_by_source[run.source.name].append(run)
    problems = []
    for name in [*source_names, *sorted(set(runs_by_source) - set(source_names))]:
        source_runs = runs_by_source.get(name, [])
        finished = [run for run in source_runs if run.status != "running"]
        failed = [run for run in finished if run.status in ("failed", "interrupted")]
        if not source_runs:
            problem = "not crawled"
        elif failed:
            problem = f"{len(failed)} of {len(finished)} crawls failed"
            last_message = next((run.message for run in reversed(failed) if run.message), None)
            if last_message:
                problem += f" (last: {clean_line(last_message, MAX_PROBLEM_CHARS)})"
        elif finished and sum(run.articles_new for run in finished) == 0:
            problem = f"{len(finished)} crawl{'s' if len(finished) != 1 else ''} found no new article"
        else:
            continue
        problems.append(SourceProblem(source=name, problem=problem))
    return problems
