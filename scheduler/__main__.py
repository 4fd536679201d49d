"""`python -m scheduler` is the `kuroshio` command (how the daemon starts its crawl subprocesses)."""

from scheduler.cli import main

main()
