"""Shared test helpers: the fixture web's files and expectations, a config pointed at it, and the
`kuroshio` command: the installed one as a subprocess (`kuroshio`), or the same click command in this
process (`kuroshio_in_process`) for commands that only read the store, where a new interpreter proves
nothing but costs a second of start-up."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import traceback
import warnings
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "fixtures" / "web"
EXPECTED = REPO / "fixtures" / "expected"
SEEDS = REPO / "fixtures" / "seeds"  # the three source documents, copied from shared/seeds
SEED_CASES = ("focus-taiwan-kung", "kyodo-ko", "taiwan-news-lai")
DEMO_CONFIG = REPO / "fixtures" / "demo.toml"
KUROSHIO = Path(sys.executable).parent / "kuroshio"


def page_bytes(url: str) -> bytes:
    """The raw bytes the fixture server answers for `url` (same lookup rules as fixtures.server)."""
    parts = urlsplit(url)
    base = WEB / (parts.hostname or "") / parts.path.strip("/")
    for candidate in (base, base.with_name(base.name + ".html"), base / "index.html"):
        if candidate.is_file():
            return candidate.read_bytes()
    raise FileNotFoundError(url)


def expected(case: str) -> dict:
    """A seed case's expected fields, with its body text loaded as `body`."""
    fields = json.loads((EXPECTED / f"{case}.json").read_text(encoding="utf-8"))
    fields["body"] = (EXPECTED / fields["body_file"]).read_text(encoding="utf-8")
    return fields


def assert_metadata(article, fields: dict) -> None:
    """`article`'s title, authors, date (with its UTC offset), language and canonical URL are the expected ones."""
    assert article.title == fields["title"]
    assert list(article.authors) == fields["authors"]
    assert article.published_at == datetime.fromisoformat(fields["published"])
    assert article.published_at.utcoffset() == datetime.fromisoformat(fields["published"]).utcoffset()
    assert article.language == fields["language"]
    assert article.canonical_url == fields["canonical_url"]


def site_inventory() -> dict[str, dict]:
    """Every article page of the fixture web: source, kind and whether it is on topic."""
    return json.loads((EXPECTED / "site.json").read_text(encoding="utf-8"))


def normalise_space(text: str) -> str:
    """Text with every run of white space folded to one space."""
    return " ".join(text.split())


def write_config(path: Path, *, database_url: str, proxy: str, sources: str | None = None) -> Path:
    """The demo config (or `sources` instead of its sources) pointed at a database and the fixture proxy."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    if sources is not None:
        text = text[: text.index("[[sources]]")] + sources
    text = text.replace("[crawl]\n", f'[crawl]\nproxy = "{proxy}"\n', 1)
    path.write_text(f'[storage]\nurl = "{database_url}"\n\n{text}', encoding="utf-8")
    path.chmod(0o600)  # it may hold the PostgreSQL password: Kuroshio warns of a file others can read
    return path


def kuroshio(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `kuroshio` command with `config`."""
    return subprocess.run(
        [str(KUROSHIO), "--config", str(config), *args], capture_output=True, text=True, timeout=180, check=False
    )


def kuroshio_in_process(config: Path | None, *args: str, env: dict[str, str | None] | None = None,
                        text: bool = True) -> subprocess.CompletedProcess:
    """Run the `kuroshio` click command in this process, as `kuroshio(config, *args)` runs it in a new one:
    exit status, stdout and stderr (an unexpected exception is exit 1 with its traceback on stderr, as
    the interpreter would print it), as text or, with `text=False`, bytes. `env` sets variables for the
    call (None removes one).

    For commands that read the store (articles, runs, sources, status): the installed entry point is run
    for real by the crawl, daemon and error-path tests. The command configures the root logger for its
    own stderr; that configuration is undone afterwards, so pytest's own log capture is left as it was.
    """
    from click.testing import CliRunner

    from kuroshio.scheduler.cli import cli

    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout unless told not to
    except TypeError:
        runner = CliRunner()  # click >= 8.2 always keeps them apart
    arguments = [*(["--config", str(config)] if config is not None else []), *args]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with warnings.catch_warnings():
            result = runner.invoke(cli, arguments, prog_name="kuroshio", env=env, catch_exceptions=True)
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    stdout, stderr = result.stdout_bytes, result.stderr_bytes
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception)).encode()
    if text:
        return subprocess.CompletedProcess(["kuroshio", *arguments], result.exit_code, stdout.decode(),
                                           stderr.decode())
    return subprocess.CompletedProcess(["kuroshio", *arguments], result.exit_code, stdout, stderr)


def stored_articles(config: Path) -> list[dict]:
    """Every stored article, as `kuroshio articles list --all --format jsonl` prints it."""
    listing = kuroshio_in_process(config, "articles", "list", "--all", "--limit", "1000", "--format", "jsonl")
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
