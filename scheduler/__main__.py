"""`python -m scheduler` is the `kuroshio` command (how the daemon starts its crawl subprocesses)."""

from kuroshio.scheduler.cli import main

main()
