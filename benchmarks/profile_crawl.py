"""`kuroshio crawl` under a sampling profiler in a process of its own, and where its time went.

Why a separate process: Scrapy's Twisted reactor runs once per process, so the profiled crawl cannot
share one with anything else that crawls. Why pyinstrument (the `bench` extra) rather than cProfile:
a sampling profiler leaves the proportions alone, where cProfile's per-call cost inflates the
call-heavy Scrapy/Twisted/SQLAlchemy code against lxml's C.

    python -m benchmarks.profile_crawl CONFIG OUT.json   # one crawl; the session is saved to OUT.json

`summarise()` reads a saved session back and attributes every sample to the pipeline stage it ran
in (the nearest enclosing stage function), then by package within the engine's share.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The functions that open a stage: every sample below one (and above no other) is that stage's.
STAGE_FUNCTIONS = {
    ("crawler/extract.py", "extract_article"): "extraction: extract_article (lxml parse, trafilatura, cleanup)",
    ("crawler/pipelines.py", "store_batch"): "store: StorePipeline -> store_articles (SQLAlchemy ORM + SQLite)",
    ("crawler/topics.py", "match_topics"): "topic matching: match_topics",
    ("crawler/spiders/source.py", "_follow_all"): "discovery: feeds, sitemaps, listings -> requests",
    ("crawler/spiders/source.py", "parse_robots"): "discovery: feeds, sitemaps, listings -> requests",
    ("scrapy/crawler.py", "start"): "engine: Scrapy + Twisted (download, middlewares, scheduling)",
    # The event loop blocked in select: waiting for the network or, with extraction workers, for them.
    ("selectors.py", "select"): "idle: the event loop waiting (network, extraction workers)",
}
OUTSIDE_ENGINE = "start-up: imports, schema check, known URLs, run records"
ENGINE = STAGE_FUNCTIONS[("scrapy/crawler.py", "start")]


def profile_crawl(config: Path, output: Path) -> None:
    """Run one `kuroshio --config CONFIG crawl` in this process under pyinstrument; save the session."""
    from pyinstrument import Profiler

    from kuroshio.scheduler.cli import cli

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        cli.main(args=["--config", str(config), "crawl"], prog_name="kuroshio", standalone_mode=False)
    finally:
        session = profiler.stop()
        session.save(str(output))


def _stage_of(frame: Any, current: str) -> str:
    path = (frame.file_path or "").replace("\\", "/")
    for (file_suffix, function), stage in STAGE_FUNCTIONS.items():
        if frame.function == function and path.endswith(file_suffix):
            return stage
    return current


def _package(path: str | None) -> str:
    if not path:
        return "C built-ins"
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    for project_package in ("crawler", "storage", "scheduler", "fixtures", "digest"):
        if project_package in parts:
            return f"kuroshio {project_package}"
    return "python stdlib (asyncio, logging, ...)"


def _own_times(frame: Any, stage: str) -> Iterator[tuple[str, Any, float]]:
    """(stage, frame, own seconds) for `frame` and everything below it."""
    stage = _stage_of(frame, stage)
    yield stage, frame, frame.total_self_time
    for child in frame.children:
        if not child.is_synthetic:
            yield from _own_times(child, stage)


def summarise(path: Path, *, top: int = 10) -> str:
    """The profiled crawl's time by stage, the engine's share by package, and its heaviest functions."""
    from pyinstrument.session import Session

    session = Session.load(str(path))
    root = session.root_frame()
    if root is None:
        return "profile: no samples"
    by_stage: dict[str, float] = defaultdict(float)
    engine_by_package: dict[str, float] = defaultdict(float)
    engine_functions: dict[str, float] = defaultdict(float)
    for stage, frame, seconds in _own_times(root, OUTSIDE_ENGINE):
        by_stage[stage] += seconds
        if stage == ENGINE:
            engine_by_package[_package(frame.file_path)] += seconds
            engine_functions[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += seconds
    total = root.time
    lines = [f"profile of one crawl (pyinstrument, {total:.1f} s sampled; profiling slows it):"]
    for stage, seconds in sorted(by_stage.items(), key=lambda item: -item[1]):
        lines.append(f"  {stage:<76} {seconds:6.2f} s {seconds / total:6.1%}")
    lines.append("  the engine's own time by package:")
    for package, seconds in sorted(engine_by_package.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {package:<74} {seconds:6.2f} s {seconds / total:6.1%}")
    lines.append(f"  the engine's {top} heaviest functions (own time):")
    for function, seconds in sorted(engine_functions.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"    {function[:74]:<74} {seconds:6.2f} s {seconds / total:6.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    profile_crawl(Path(sys.argv[1]), Path(sys.argv[2]))
