"""The exit codes of `kuroshio` commands, shared by the commands and the daemon that reads them.

0: the command did its job (a crawl with some failed pages included); 1: it could not (every source
failed, a digest not accepted); 2: a bad config or bad arguments (click's own usage errors are 2 too).
The rest follow sysexits.h, so systemd and shell scripts can tell a retryable failure from a broken setup,
but for a command stopped by a signal: 128 + the signal's number, as a shell reports it.
"""

import signal

# kuroshio check: a source unreachable or yielding no article link; kuroshio extract: the page is no
# article, or could not be fetched (refused, forbidden by robots.txt, an HTTP error).
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_ANOTHER_DAEMON = 3  # a daemon already runs on this database
# kuroshio status: the daemon died, or a source or digest needs attention. Not 1, which a crash gives too.
EXIT_NEEDS_ATTENTION = 4
EXIT_STORE_UNREACHABLE = 69  # EX_UNAVAILABLE: the database server is down or unreachable, refused the login, or lacks the database
EXIT_STORE_UNWRITABLE = 74  # EX_IOERR: the database is full, read-only or its disk failing
EXIT_BUSY = 75  # EX_TEMPFAIL: every requested source (or the digest) is being handled by another process


def exit_for_signal(signum: int) -> int:
    """The exit code of a command a signal stopped: 130 for SIGINT (Ctrl-C), 143 for SIGTERM."""
    return 128 + signum


# kuroshio crawl and topics rematch stopped by Ctrl-C: what was done is kept (and recorded).
EXIT_INTERRUPTED = exit_for_signal(signal.SIGINT)
