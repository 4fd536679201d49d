"""Helpers for the unwritable-store faults: a folder whose filesystem really is full or read-only, and the
SQLite file in it read back without keeping it open.

The faults are the kernel's own: a small tmpfs mounted over the folder (we need CAP_SYS_ADMIN, which
root in CI has), filled by a ballast file until writes fail with ENOSPC, or remounted read-only so they
fail with EROFS; deleting the ballast or remounting read-write repairs it. Without the right to mount, a
user other than root gets a read-only store from file permissions instead (root writes through them),
and the full-disk cases are skipped, saying why. SQLite's `max_page_count` would only imitate a full disk.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

FAULTS = ("full", "read-only")
FILESYSTEM_SIZE = "16m"
BALLAST = "ballast"
# What the one line of a refused write says about each fault (SQLite says "disk I/O error" when the
# full disk was its WAL index's, "attempt to write a readonly database" or "unable to open database
# file" when it could only open the file read-only).
SAYS = {"full": "its filesystem is full", "read-only": "its filesystem is mounted read-only",
        "read-only by permissions": "readonly database|not writable by this user"}


@dataclass(frozen=True)
class BrokenStore:
    """A store folder and the fault that can be inflicted on it, and repaired."""

    folder: Path
    fault: str

    @property
    def database(self) -> Path:
        return self.folder / "kuroshio.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def says(self) -> str:
        """A regular expression the error line matches when this fault refused a write."""
        return SAYS[self.fault]

    def inflict(self) -> None:
        """Make the folder's filesystem full or read-only."""
        if self.fault == "full":
            _fill(self.folder / BALLAST)
        elif self.fault == "read-only":
            _remount_read_only(self.folder)
        else:
            _chmod_tree(self.folder, files=0o444, folder_mode=0o555)

    def repair(self) -> None:
        """Give the space or the writability back."""
        if self.fault == "full":
            (self.folder / BALLAST).unlink()
        elif self.fault == "read-only":
            _mount("-o", "remount,rw", self.folder)
        else:
            _chmod_tree(self.folder, files=0o644, folder_mode=0o755)


@contextmanager
def broken_store(folder: Path, fault: str) -> Iterator[BrokenStore]:
    """`folder` on a filesystem of its own (unmounted afterwards), ready for `fault`; skips the test when
    the fault cannot be made here."""
    folder.mkdir(parents=True, exist_ok=True)
    refused = _mount("-t", "tmpfs", "-o", f"size={FILESYSTEM_SIZE},mode=0755", "tmpfs", folder, check=False)
    if refused:
        if fault == "read-only" and os.geteuid() != 0:
            yield BrokenStore(folder, "read-only by permissions")
            return
        pytest.skip(f"a {fault} store needs a filesystem of its own, and mount was refused: {refused}")
    try:
        yield BrokenStore(folder, fault)
    finally:
        _unmount(folder)


def _mount(*args: str | Path, check: bool = True) -> str:
    """Run mount(8); its complaint, or "" when it succeeded."""
    done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise AssertionError(f"mount {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return (done.stderr.strip().splitlines() or ["failed"])[0] if done.returncode else ""


def _fill(ballast: Path) -> None:
    """Write `ballast` until the filesystem refuses; small blocks last, so not a page is left."""
    with ballast.open("wb", buffering=0) as stream:
        for block in (1 << 20, 4096, 1):
            try:
                while True:
                    stream.write(bytes(block))
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    assert os.statvfs(ballast.parent).f_bavail == 0


def _remount_read_only(folder: Path, *, timeout: float = 30.0) -> None:
    """Remount read-only. The kernel refuses while a process has a file there open for writing, so this
    waits for a moment when none has (the daemon opens the database per use, a crawl holds it open)."""
    deadline = time.monotonic() + timeout
    while complaint := _mount("-o", "remount,ro", folder, check=False):
        if "busy" not in complaint or time.monotonic() > deadline:
            raise AssertionError(f"could not remount {folder} read-only: {complaint}")
        time.sleep(0.02)


def _unmount(folder: Path) -> None:
    """Unmount, detaching lazily what a killed process may still hold."""
    if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def _chmod_tree(folder: Path, *, files: int, folder_mode: int) -> None:
    for path in folder.iterdir():
        path.chmod(files)
    folder.chmod(folder_mode)


def read_articles(database: Path) -> list[tuple]:
    """Every stored article, field by field, opened and closed at once (an open file would keep the
    filesystem from being remounted read-only)."""
    with _connection(database) as connection:
        return connection.execute(
            "SELECT id, url, canonical_url, title, text, content_sha256 FROM articles ORDER BY id").fetchall()


def read_urls(database: Path) -> list[str]:
    """Every URL an article was stored under (canonical and aliases), duplicates included."""
    with _connection(database) as connection:
        return [url for (url,) in connection.execute("SELECT url FROM article_urls")]


def read_runs(database: Path) -> list[tuple[str, str, str | None]]:
    """(source, status, message) of every crawl run, oldest first."""
    with _connection(database) as connection:
        return connection.execute(
            "SELECT sources.name, crawl_runs.status, crawl_runs.message FROM crawl_runs "
            "JOIN sources ON sources.id = crawl_runs.source_id ORDER BY crawl_runs.id").fetchall()


def integrity(database: Path) -> str:
    """SQLite's `PRAGMA integrity_check` verdict: "ok" for an undamaged file."""
    with _connection(database) as connection:
        return "\n".join(row[0] for row in connection.execute("PRAGMA integrity_check"))


@contextmanager
def _connection(database: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(database, timeout=30)
    try:
        yield connection
    finally:
        connection.close()
