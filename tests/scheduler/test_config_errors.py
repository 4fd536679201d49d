"""Every config error a user can make is one line and a documented exit code (issue #13, item 1),
through the real `kuroshio` command: database URLs SQLAlchemy cannot use here (a SQLite URL naming a
host, the `postgres://` name SQLAlchemy dropped, a driver not installed: the line says what to write or
to install) exit 2; a SQLite file that cannot be made where the URL puts it exits 74; a number or
duration outside the range its option declares exits 2 with the range; a digest subject naming a field
it does not have, or not a template at all, exits 2 naming the digest and the fields.

The missing PostgreSQL driver is real: a `psycopg` package on PYTHONPATH that fails to import as an
absent one does, ahead of the installed one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fixture_web import KUROSHIO

from kuroshio.digest.compose import DigestContent
from kuroshio.digest.message import render_subject
from kuroshio.digest.options import SUBJECT_FIELDS
from kuroshio.scheduler.config import LIST_SECTIONS, SECTIONS, declared_options, load_config
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_STORE_UNWRITABLE

SECRET = "pw-Zq81x"
# Variables of the test run that would steer the command elsewhere.
STEERING = ("KUROSHIO_CONFIG", "KUROSHIO_DATABASE_URL", "KUROSHIO_DATABASE_PASSWORD")
FIELDS = "{name}, {count}, {articles}, {topics}, {date}"


def write_config(folder: Path, text: str, *, storage_url: str | None = None) -> Path:
    path = folder / "kuroshio.toml"
    url = storage_url if storage_url is not None else f"sqlite:///{folder / 'kuroshio.db'}"
    path.write_text(f'[storage]\nurl = "{url}"\n{text}', encoding="utf-8")
    path.chmod(0o600)
    return path


def kuroshio(config: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed command on `config` (a command that opens the store, so a store error shows)."""
    environment = {name: value for name, value in os.environ.items() if name not in STEERING}
    environment["KUROSHIO_DATA_DIR"] = str(config.parent)
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join([str(pythonpath), environment.get("PYTHONPATH", "")])
    return subprocess.run([str(KUROSHIO), "--config", str(config), *(args or ("runs",))], capture_output=True,
                          text=True, timeout=120, check=False, env=environment)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The one stderr line of a command that exited `code`, no traceback and nothing on stdout."""
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    return result.stderr.rstrip("\n")


def config_error(folder: Path, key: str) -> str:
    """The start of a config error's line for `key` of the config written in `folder`."""
    return f"kuroshio: config error: {folder / 'kuroshio.toml'}: {key}: "


# --- database URLs ---------------------------------------------------------------------------------


def test_a_sqlite_url_with_two_slashes_says_how_many_to_write(tmp_path: Path) -> None:
    line = one_line(kuroshio(write_config(tmp_path, "", storage_url="sqlite://kuroshio.db")), EXIT_BAD_CONFIG)
    assert line == config_error(tmp_path, "storage.url") + (
        "sqlite://kuroshio.db names a host (kuroshio.db), and SQLite has none: a file is sqlite:///kuroshio.db "
        "(three slashes: relative to the working folder) or sqlite:////var/lib/kuroshio/kuroshio.db (four: an "
        "absolute path)")


def test_postgres_scheme_says_to_write_postgresql_psycopg_without_the_password(tmp_path: Path) -> None:
    config = write_config(tmp_path, "", storage_url=f"postgres://kuroshio:{SECRET}@db.example/kuroshio")
    line = one_line(kuroshio(config), EXIT_BAD_CONFIG)
    assert line.startswith(config_error(tmp_path, "storage.url") + "not a database URL (")
    assert "write postgresql+psycopg://" in line and "kuroshio:***@db.example" in line
    assert SECRET not in line


@pytest.fixture
def without_psycopg(tmp_path: Path) -> Path:
    """A folder for PYTHONPATH whose `psycopg` fails to import as a package that is not installed does."""
    shim = tmp_path / "no-psycopg"
    (shim / "psycopg").mkdir(parents=True)
    (shim / "psycopg" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n", encoding="utf-8")
    hidden = subprocess.run([sys.executable, "-c", "import psycopg"], capture_output=True, text=True, check=False,
                            env={**os.environ, "PYTHONPATH": str(shim)})
    assert "No module named 'psycopg'" in hidden.stderr, "the shim did not hide the installed psycopg"
    return shim


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql"])
def test_without_the_postgres_extra_a_postgresql_url_names_the_extra(
    tmp_path: Path, without_psycopg: Path, scheme: str
) -> None:
    url = f"{scheme}://kuroshio:{SECRET}@127.0.0.1:5432/kuroshio"
    line = one_line(kuroshio(write_config(tmp_path, "", storage_url=url), pythonpath=without_psycopg),
                    EXIT_BAD_CONFIG)
    assert line == config_error(tmp_path, "storage.url") + (
        f"{scheme}://kuroshio:***@127.0.0.1:5432/kuroshio needs the PostgreSQL driver psycopg, which is not "
        "installed: install the postgres extra: pip install 'kuroshio[postgres]'")


@pytest.mark.parametrize(("url", "module", "advice"), [
    ("postgresql+psycopg2://kuroshio@db.example/kuroshio", "psycopg2",
     "install the postgres extra: pip install 'kuroshio[postgres]', and write postgresql+psycopg://"),
    ("mysql://kuroshio@db.example/kuroshio", "MySQLdb", "install it, or keep the archive in SQLite or PostgreSQL"),
])
def test_a_url_whose_driver_is_not_installed_names_the_driver(tmp_path: Path, url: str, module: str, advice: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pass
    else:
        pytest.skip(f"{module} is installed here")
    line = one_line(kuroshio(write_config(tmp_path, "", storage_url=url)), EXIT_BAD_CONFIG)
    assert line.startswith(config_error(tmp_path, "storage.url") + f"{url} needs the ")
    assert f"driver {module}, which is not installed: {advice}" in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_sqlite_file_under_proc_is_one_line_and_exit_74(tmp_path: Path) -> None:
    line = one_line(kuroshio(write_config(tmp_path, "", storage_url="sqlite:////proc/kuroshio.db")),
                    EXIT_STORE_UNWRITABLE)
    assert line.startswith("kuroshio: cannot write to the database /proc/kuroshio.db: ")
    assert "virtual filesystem such as /proc" in line and "full" not in line


@pytest.mark.parametrize("where", ["a file in the way", "under /proc"])
def test_a_sqlite_folder_that_cannot_be_made_is_one_line_and_exit_74(tmp_path: Path, where: str) -> None:
    if where == "a file in the way":
        (tmp_path / "notes.txt").write_text("not a folder", encoding="utf-8")
        folder, cause = tmp_path / "notes.txt", "a file of that name is in the way"
    else:
        if not Path("/proc/self").is_dir():
            pytest.skip("needs Linux's /proc")
        folder, cause = Path("/proc/self/kuroshio"), "No such file or directory"
    line = one_line(kuroshio(write_config(tmp_path, "", storage_url=f"sqlite:///{folder}/kuroshio.db")),
                    EXIT_STORE_UNWRITABLE)
    assert line == (f"kuroshio: cannot make the folder {folder} of the database {folder}/kuroshio.db: {cause}; "
                    "check storage.url (or $KUROSHIO_DATABASE_URL)")


def test_a_sqlite_path_in_the_home_folder_is_made_there(tmp_path: Path) -> None:
    """`~` is the home folder, as in the folder made for the file, not a folder named "~" that SQLite
    could not open (exit 74, naming the file it did not open)."""
    config = write_config(tmp_path, "", storage_url="sqlite:///~/archive/kuroshio.db")
    environment = {name: value for name, value in os.environ.items() if name not in STEERING}
    result = subprocess.run([str(KUROSHIO), "--config", str(config), "db", "upgrade"], capture_output=True, text=True,
                            timeout=120, check=False, cwd=tmp_path, env={**environment, "HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "home" / "archive" / "kuroshio.db").is_file() and not (tmp_path / "~").exists()


# --- values out of range ---------------------------------------------------------------------------

SOURCE = '[[sources]]\nname = "a"\nfeeds = ["https://a.example/rss"]\n'
DIGEST = '[[digests]]\nname = "morning"\nto = ["analyst@example.org"]\n'


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[crawl]\nconcurrent_per_domain = 0\n", "crawl.concurrent_per_domain", "must be at least 1, got 0"),
    ("[crawl]\ntimeout = -5\n", "crawl.timeout", "must be more than 0, got -5"),
    ("[crawl]\ntimeout = nan\n", "crawl.timeout", "expected a finite number, got nan"),
    ("[crawl]\ndownload_delay = -1.5\n", "crawl.download_delay", "must be at least 0, got -1.5"),
    ("[crawl]\nmax_page_bytes = 0\n", "crawl.max_page_bytes", "must be at least 1, got 0"),
    ('[daemon]\nevery = "0s"\n', "daemon.every", "must be at least 1s, got '0s'"),
    ('[daemon]\nheartbeat = "0.5s"\n', "daemon.heartbeat", "must be at least 1s, got '0.5s'"),
    (SOURCE + 'every = "0m"\n', "sources[0].every", "must be at least 1s, got '0m'"),
    ('[[topics]]\nname = "t"\nquery = "Taiwan"\nmin_score = -1\n', "topics[0].min_score", "must be more than 0, got -1"),
    (DIGEST + "max_articles = 0\n", "digests[0].max_articles", "must be at least 1, got 0"),
    ("[smtp]\nport = 70000\n", "smtp.port", "must be from 1 to 65535, got 70000"),
])
def test_a_value_out_of_its_range_is_one_line_with_the_range(tmp_path: Path, text: str, key: str, problem: str) -> None:
    line = one_line(kuroshio(write_config(tmp_path, text)), EXIT_BAD_CONFIG)
    assert line == config_error(tmp_path, key) + problem


def _is_number(hint: typing.Any) -> bool:
    return bool({int, float} & {hint, *typing.get_args(hint)}) and hint is not bool


def test_every_number_and_duration_declares_its_range() -> None:
    """So none can validate and then break a crawl, the daemon or a digest: each number and duration
    option bounds its values, and the README's table (generated from the same declarations) shows it."""
    classes = {*SECTIONS.values(), *(options for group in LIST_SECTIONS.values() for options in group)}
    unbounded = [f"{options.__name__}.{option.name}" for options in classes
                 for option, hint in declared_options(options)
                 if _is_number(hint) and not {"minimum", "above", "maximum"} & set(option.metadata)]
    assert unbounded == []


# --- digest subjects -------------------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "problem"), [
    ("Kuroshio {nmae}", "unknown field {nmae}"),
    ("{count:>3} new", "unknown field {count:>3}"),
    ("Daily {}", "unknown field {}"),
    ("Daily {name", "not a valid template (expected '}' before end of string)"),
    ("Daily } {name}", "not a valid template (Single '}' encountered in format string)"),
])
def test_a_subject_with_a_field_it_lacks_names_the_digest_and_the_fields(tmp_path: Path, subject: str,
                                                                        problem: str) -> None:
    line = one_line(kuroshio(write_config(tmp_path, DIGEST + f"subject = '{subject}'\n")), EXIT_BAD_CONFIG)
    assert line.startswith(config_error(tmp_path, "digests[0].subject") + f"digest 'morning': {problem}")
    assert FIELDS in line and "write {{ and }} for a literal brace" in line


def test_a_subject_of_every_field_and_doubled_braces_is_accepted_and_rendered(tmp_path: Path) -> None:
    """The fields checked at load are the fields `render_subject` fills in: none is left as written."""
    template = "{{Kuroshio}} " + " ".join(f"{{{field}}}" for field in SUBJECT_FIELDS)
    [digest] = load_config(write_config(tmp_path, DIGEST + f"subject = '{template}'\n")).digests
    content = DigestContent(name="morning", topics=("chips",), timezone="UTC",
                            generated_at=datetime(2025, 12, 1, 8, tzinfo=timezone.utc), groups=(), article_ids=(1, 2),
                            source_count=1, oldest=None, newest=None, last_sent_at=None, not_shown=0, problems=(),
                            problems_since="")
    assert render_subject(digest.subject, content) == "{Kuroshio} morning 2 2 new articles chips 2025-12-01"


# --- Scrapyd nodes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("nodes", "problem"), [
    ('["ftp://node1:6800"]', "expected a Scrapyd node's URL like http://node1:6800, got 'ftp://node1:6800'"),
    ('["node1:6800"]', "expected a Scrapyd node's URL like http://node1:6800, got 'node1:6800'"),
    ('[""]', "expected a non-empty string, got ''"),
    ('["http://node1:6800/jobs"]', "expected a Scrapyd node's URL like http://node1:6800, got 'http://node1:6800/jobs'"),
    ('["http://node1:6800", "http://node1:6800/"]', "'http://node1:6800/' is named twice"),
])
def test_a_scrapyd_node_that_is_no_node_url_is_one_line_naming_its_position(tmp_path: Path, nodes: str,
                                                                            problem: str) -> None:
    line = one_line(kuroshio(write_config(tmp_path, f"[scale]\nscrapyd = {nodes}\n")), EXIT_BAD_CONFIG)
    position = 1 if "twice" in problem else 0
    assert line == config_error(tmp_path, f"scale.scrapyd[{position}]") + problem


def test_a_scrapyd_node_url_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[scale]\nscrapyd = ["https://kuroshio:{SECRET}@node1:6800"]\n')
    line = one_line(kuroshio(config), EXIT_BAD_CONFIG)
    assert line == config_error(tmp_path, "scale.scrapyd[0]") + (
        "credentials in a Scrapyd node's URL are not supported (see README, Running on several machines: Security)")
    assert SECRET not in line


def test_an_empty_scrapyd_list_means_crawling_on_this_machine(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[scale]\nscrapyd = []\n")
    assert load_config(config).scale.scrapyd == ()
    assert kuroshio(config).returncode == 0
