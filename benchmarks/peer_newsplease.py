"""The users' alternative as the bar to clear: news-please and `kuroshio crawl` on the same synthetic site.

Why: someone choosing a monitor could run news-please (Scrapy + newspaper/readability extraction,
JSON files out) instead. Both crawl the same synthetic web on the same single CPU, through the same
fixture proxy, with the same politeness settings (robots.txt obeyed, no delay, 32 requests per domain).

news-please lives in its own virtualenv (it pins other versions of our libraries):
`python3 -m venv /tmp/np && /tmp/np/bin/pip install news-please`. It is pointed at the fixture web
through the `http_proxy` environment variable, which both its Scrapy crawlers (HttpProxyMiddleware)
and its urllib robots.txt lookups honour. It runs its SitemapCrawler on each host (the sitemaps its
robots.txt names), its default pipeline (newspaper + readability + date + language extractors, HTML
and JSON files), and its article heuristic reduced to `og_type` so every page counts. Its launcher
polls its crawlers every 10 s, so its rate is taken from start to the last article file written.

    .venv/bin/python -m benchmarks.peer_newsplease [--venv /tmp/np] [--articles 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import KUROSHIO, crawl_cpus, machine_summary, remove_tree, run_measured, sqlite_url, write_config
from benchmarks.synthetic_web import PUBLISHERS, build_synthetic_web
from kuroshio.fixtures.server import FixtureWeb

CONCURRENCY = 32


def newsplease_config(folder: Path, *, venv: Path, data: Path) -> Path:
    """A news-please config directory: its bundled config with our paths, heuristic and concurrency."""
    bundled = next((venv / "lib").glob("python3*/site-packages/newsplease/config/config.cfg"))
    text = bundled.read_text(encoding="utf-8")
    replacements = {
        "working_path = ~/news-please-repo/": f"working_path = {data}/",
        'enabled_heuristics = {"og_type": True, "linked_headlines": "<=0.65", "self_linked_headlines": "<=0.56"}':
            'enabled_heuristics = {"og_type": True}',
        'pass_heuristics_condition = "og_type and (linked_headlines or self_linked_headlines)"':
            'pass_heuristics_condition = "og_type"',
        "CONCURRENT_REQUESTS=16": f"CONCURRENT_REQUESTS={CONCURRENCY * 2}",
        "CONCURRENT_REQUESTS_PER_DOMAIN=4": f"CONCURRENT_REQUESTS_PER_DOMAIN={CONCURRENCY}",
        "LOG_LEVEL = INFO": "LOG_LEVEL = WARNING",
    }
    for old, new in replacements.items():
        if old not in text:
            raise RuntimeError(f"news-please's bundled config changed: {old!r} not found in {bundled}")
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.cfg").write_text(text, encoding="utf-8")
    sites = {"base_urls": [{"url": f"http://{publisher.host}/", "crawler": "SitemapCrawler"} for publisher in PUBLISHERS]}
    (folder / "sitelist.hjson").write_text(json.dumps(sites, indent=2), encoding="utf-8")
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    """Crawl the synthetic web with Kuroshio, then with news-please; print both rates."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer_newsplease", description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/np"), help="virtualenv with news-please installed")
    parser.add_argument("--articles", type=int, default=1200, help="article pages (default 1200: news-please is slow)")
    args = parser.parse_args(argv)
    launcher = args.venv / "bin" / "news-please"
    if not launcher.exists():
        print(f"news-please is not installed at {args.venv}: python3 -m venv {args.venv} && "
              f"{args.venv}/bin/pip install news-please")
        return
    print(machine_summary())
    scratch = Path(tempfile.mkdtemp(prefix="kuroshio-peer-"))
    crawl_cpu, server_cpus = crawl_cpus()
    if server_cpus:
        os.sched_setaffinity(0, server_cpus)
    try:
        web = build_synthetic_web(scratch / "web", articles=args.articles)
        print(f"synthetic web: {len(web.pages)} article pages, {web.total_bytes / 1e6:.1f} MB; both crawlers on CPU "
              f"{sorted(crawl_cpu) if crawl_cpu else 'shared'}")
        with FixtureWeb(roots=[web.root], keep_alive=True) as fixture_web:
            config = write_config(scratch / "kuroshio.toml", database_url=sqlite_url(scratch / "kuroshio.db"),
                                  proxy=fixture_web.proxy_url, sources_toml=web.sources_toml, concurrency=CONCURRENCY)
            ours = run_measured([*KUROSHIO, "--config", str(config), "crawl"], cpus=crawl_cpu)
            with sqlite3.connect(scratch / "kuroshio.db") as connection:
                stored = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
            print(f"kuroshio crawl: {stored} articles into SQLite in {ours.seconds:.1f} s = {stored / ours.seconds:.1f} pages/s "
                  f"(exit {ours.returncode}, peak RSS {ours.max_rss_mib:.0f} MiB)")

            data = scratch / "newsplease-data"
            folder = newsplease_config(scratch / "newsplease-config", venv=args.venv, data=data)
            environment = {**os.environ, "http_proxy": fixture_web.proxy_url, "HTTP_PROXY": fixture_web.proxy_url,
                           "no_proxy": "", "NO_PROXY": "", "PYTHONPATH": ""}
            started = time.time()
            theirs = run_measured([str(launcher), "-c", str(folder), "-no-confirm"], cpus=crawl_cpu, env=environment,
                                  cwd=scratch, timeout=1800)
        articles = list((data / "data").rglob("*.json"))  # not .resume_jobdir/**/*.json
        if not articles:
            print(f"news-please stored nothing (exit {theirs.returncode}); its output:\n"
                  f"{theirs.stdout[-2000:]}\n{theirs.stderr[-3000:]}")
            return
        last_written = max(path.stat().st_mtime for path in articles) - started
        print(f"news-please: {len(articles)} articles as JSON files, last written {last_written:.1f} s after start = "
              f"{len(articles) / last_written:.1f} pages/s (launcher exited after {theirs.seconds:.1f} s, "
              f"exit {theirs.returncode}; peak RSS of its largest process {theirs.max_rss_mib:.0f} MiB)")
        print(f"Kuroshio / news-please rate: {(stored / ours.seconds) / (len(articles) / last_written):.1f}x")
    finally:
        remove_tree(scratch)


if __name__ == "__main__":
    main()
