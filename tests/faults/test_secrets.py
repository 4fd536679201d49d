"""Secrets (issue #16, item 6), through the real `kuroshio` command: no command shows a database
password; a database it cannot connect to is one line and exit 69, whatever the command; the database
password can live in the environment, and a config file holding it is warned about when others can
read it; the daemon's crawl processes, which parse hostile content, get no secret of its environment.

The database faults are real: a wrong password and an unknown database on the PostgreSQL server of
`KUROSHIO_TEST_POSTGRES_URL`, and a port nothing listens on. The SMTP side (a non-ASCII password, an
answer echoing the credentials) is in tests/digest/test_login.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import POSTGRES_MARKS, POSTGRES_URL
from fixture_web import KUROSHIO, free_port
from sqlalchemy.engine import URL, make_url

from kuroshio.scheduler.exits import EXIT_STORE_UNREACHABLE
from kuroshio.storage.engine import create_engine_for, session_factory
from kuroshio.storage.models import CrawlRun

pytestmark = pytest.mark.faults

FAULTS = Path(__file__).resolve().parent
SECRET = "pg-secret-Zq81x"  # the password of a server nothing listens on
SOURCES = """
[[sources]]
name = "example"
feeds = ["http://feed.test/rss.xml"]
robots_sitemaps = false

[[digests]]
name = "morning"
to = ["analyst@example.org"]
"""
# Every command that opens the store.
COMMANDS = [("db", "upgrade"), ("status",), ("runs",), ("sources",), ("articles", "list"),
            ("articles", "search", "Taiwan"), ("articles", "show", "1"), ("crawl",), ("digest",), ("daemon",)]
# Variables of the test run that would steer the command elsewhere.
STEERING = ("KUROSHIO_CONFIG", "KUROSHIO_DATABASE_URL", "KUROSHIO_DATABASE_PASSWORD", "KUROSHIO_SMTP_PASSWORD")


def write_config(folder: Path, *, storage_url: str = "", extra: str = "", mode: int = 0o600) -> Path:
    path = folder / "kuroshio.toml"
    storage = f'[storage]\nurl = "{storage_url}"\n' if storage_url else ""
    path.write_text(storage + extra + SOURCES, encoding="utf-8")
    path.chmod(mode)
    return path


def environment(**variables: str) -> dict[str, str]:
    kept = {name: value for name, value in os.environ.items() if name not in STEERING}
    return {**kept, **variables}


def kuroshio(config: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """The installed command, with `variables` set in its environment."""
    return subprocess.run([str(KUROSHIO), "--config", str(config), *args], capture_output=True, text=True,
                          timeout=120, check=False, env=environment(**variables))


def unreachable_url() -> str:
    return f"postgresql+psycopg://kuroshio:{SECRET}@127.0.0.1:{free_port()}/kuroshio"


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def assert_one_line_naming(result: subprocess.CompletedProcess[str], url: str, cause: str, *, secret: str) -> None:
    """Exit 69, and stderr one line naming the database (password masked), the cause and what to check;
    `secret` nowhere (the test server's password may be its user name too: then pass it as ":password@")."""
    assert result.returncode == EXIT_STORE_UNREACHABLE, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"kuroshio: cannot connect to the database {masked(url)}: "), line
    assert cause in line and "check that the server runs" in line, line
    assert secret not in result.stdout + result.stderr


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL (its database exists; its password is right)."""
    assert make_url(POSTGRES_URL).password, "the PostgreSQL tests need a URL with a password"
    return POSTGRES_URL


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_server_nothing_listens_on_is_one_line_and_exit_69(tmp_path: Path, command: tuple[str, ...]) -> None:
    pytest.importorskip("psycopg")
    url = unreachable_url()
    result = kuroshio(write_config(tmp_path), *command, KUROSHIO_DATABASE_URL=url)
    assert_one_line_naming(result, url, "Connection refused", secret=SECRET)


@pytest.mark.parametrize("command", [("db", "upgrade"), ("status",), ("crawl",), ("daemon",)], ids=" ".join)
@pytest.mark.parametrize("fault", ["wrong password", "unknown database"])
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=POSTGRES_MARKS)])
def test_a_wrong_password_or_an_unknown_database_is_one_line_and_exit_69(
    tmp_path: Path, postgres_url: str, backend: str, fault: str, command: tuple[str, ...]
) -> None:
    real = make_url(postgres_url)
    if fault == "wrong password":
        url, cause = real.set(password="wrong-" + SECRET), f'password authentication failed for user "{real.username}"'
    else:
        url, cause = real.set(database=f"{real.database}_missing"), f'database "{real.database}_missing" does not exist'
    rendered = url.render_as_string(hide_password=False)
    result = kuroshio(write_config(tmp_path), *command, KUROSHIO_DATABASE_URL=rendered)
    assert_one_line_naming(result, rendered, cause, secret=f":{real.password}@")


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=POSTGRES_MARKS)])
def test_the_traceback_is_shown_at_debug_level_only_and_without_the_password(
    tmp_path: Path, postgres_url: str, backend: str
) -> None:
    wrong = make_url(postgres_url).set(password="wrong-" + SECRET).render_as_string(hide_password=False)
    result = subprocess.run([str(KUROSHIO), "--log-level", "DEBUG", "--config", str(write_config(tmp_path)), "status"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env=environment(KUROSHIO_DATABASE_URL=wrong))
    assert result.returncode == EXIT_STORE_UNREACHABLE
    assert "Traceback" in result.stderr and "password authentication failed" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith(f"kuroshio: cannot connect to the database {masked(wrong)}")
    assert SECRET not in result.stderr


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=POSTGRES_MARKS)])
def test_db_upgrade_shows_the_database_url_with_its_password_masked(
    tmp_path: Path, postgres_url: str, backend: str
) -> None:
    result = kuroshio(write_config(tmp_path), "db", "upgrade", KUROSHIO_DATABASE_URL=postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"schema is up to date: {masked(postgres_url)}\n"
    password = make_url(postgres_url).password
    assert password and f":{password}@" not in result.stdout + result.stderr


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=POSTGRES_MARKS)])
def test_the_database_password_can_come_from_the_environment_and_not_the_file(
    tmp_path: Path, postgres_url: str, backend: str
) -> None:
    """The file's URL names no password: $KUROSHIO_DATABASE_PASSWORD completes it. A URL that names one
    keeps its own (here a wrong one, so the variable is seen not to override it)."""
    real = make_url(postgres_url)
    without = URL.create(real.drivername, username=real.username, host=real.host, port=real.port,
                         database=real.database).render_as_string(hide_password=False)
    config = write_config(tmp_path, storage_url=without, mode=0o644)
    upgraded = kuroshio(config, "db", "upgrade", KUROSHIO_DATABASE_PASSWORD=real.password or "")
    listed = kuroshio(config, "runs", KUROSHIO_DATABASE_PASSWORD=real.password or "")
    missing = kuroshio(config, "runs")
    wrong = real.set(password="wrong-" + SECRET).render_as_string(hide_password=False)
    own_wins = kuroshio(config, "runs", KUROSHIO_DATABASE_URL=wrong, KUROSHIO_DATABASE_PASSWORD=real.password or "")
    assert upgraded.returncode == 0 and upgraded.stderr == "", upgraded.stderr
    assert upgraded.stdout == f"schema is up to date: {masked(postgres_url)}\n"
    assert listed.returncode == 0 and listed.stdout.startswith("run "), listed.stderr
    assert_one_line_naming(missing, without, "no password supplied", secret=f":{real.password}@")
    assert_one_line_naming(own_wins, wrong, "password authentication failed", secret=SECRET)


def test_a_config_file_holding_the_password_is_warned_about_when_others_can_read_it(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = unreachable_url()
    readable = kuroshio(write_config(tmp_path, storage_url=url, mode=0o644), "runs")
    private = kuroshio(write_config(tmp_path, storage_url=url, mode=0o600), "runs")
    without_password = kuroshio(write_config(tmp_path, storage_url=masked(url).replace(":***", ""), mode=0o644), "runs")
    warning, error = readable.stderr.splitlines()
    assert warning == (f"WARNING kuroshio.scheduler.config: {tmp_path / 'kuroshio.toml'} holds the database password "
                       "(storage.url) and is readable by others than its owner (mode 644): chmod 600 it, or keep "
                       "the password in $KUROSHIO_DATABASE_PASSWORD instead")
    assert error.startswith("kuroshio: cannot connect to the database") and SECRET not in readable.stderr
    assert private.stderr.count("\n") == 1 and "WARNING" not in private.stderr
    assert without_password.stderr.count("\n") == 1 and "WARNING" not in without_password.stderr


@pytest.fixture
def daemon_log(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started daemons (their own sessions), killed with their crawls if a test left one running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_daemons_crawl_processes_get_no_secret_of_its_environment(
    tmp_path: Path, database_url: str, daemon_log: list[subprocess.Popen[bytes]]
) -> None:
    """The daemon holds the SMTP password, a cloud key, and (PostgreSQL) the database password in its
    environment; the crawl process it starts records what it was given (tests/faults/environment_extension.py).
    It gets the database URL with the password in it, and can record its run with it; nothing else secret."""
    record = tmp_path / "crawl-environment.json"
    url = make_url(database_url)
    secrets = {"KUROSHIO_SMTP_PASSWORD": "smtp-Secret-1", "AWS_SECRET_ACCESS_KEY": "aws-Secret-2"}
    if url.password:
        secrets["KUROSHIO_DATABASE_PASSWORD"] = url.password
    extension = (f'scrapy_settings = {{ EXTENSIONS = {{ "environment_extension.RecordEnvironment" = 100 }}, '
                 f'ENVIRONMENT_RECORD = "{record}", KUROSHIO_HOSTS = {{}} }}\n')
    without = URL.create(url.drivername, username=url.username, host=url.host, port=url.port, database=url.database)
    config = write_config(tmp_path, storage_url=without.render_as_string(hide_password=False),
                          extra=f'[crawl]\nretry_times = 0\n{extension}\n[daemon]\nheartbeat = "1s"\n')
    log = tmp_path / "daemon.log"
    variables = {**secrets, "PYTHONPATH": os.pathsep.join([str(FAULTS), os.environ.get("PYTHONPATH", "")]),
                 "no_proxy": "localhost", "LC_TIME": "C.UTF-8"}
    with log.open("wb") as stream:
        daemon = subprocess.Popen([str(KUROSHIO), "--log-level", "INFO", "--config", str(config), "daemon"],
                                  stdout=stream, stderr=stream, env=environment(**variables), start_new_session=True)
    daemon_log.append(daemon)
    sessions = session_factory(create_engine_for(database_url))

    def finished_runs() -> list[CrawlRun]:
        with sessions() as session:
            return [run for run in session.query(CrawlRun) if run.finished_at is not None]

    deadline = time.monotonic() + 60
    while not (record.exists() and finished_runs()):
        assert daemon.poll() is None, log.read_text(encoding="utf-8")
        assert time.monotonic() < deadline, "no crawl recorded its environment and run:\n" + log.read_text(encoding="utf-8")
        time.sleep(0.2)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    given = json.loads(record.read_text(encoding="utf-8"))
    assert not set(secrets) & set(given), "a secret reached the crawl process"
    assert not [value for value in given.values() for name in ("KUROSHIO_SMTP_PASSWORD", "AWS_SECRET_ACCESS_KEY")
                if secrets[name] in value], "a secret's value reached the crawl process under another name"
    assert make_url(given["KUROSHIO_DATABASE_URL"]) == url, "the crawl writes the store: it has its URL, password in"
    assert {"PATH", "PYTHONPATH", "no_proxy", "LC_TIME"} <= set(given)
    assert [run.source.name for run in finished_runs()] == ["example"]


@pytest.mark.parametrize("url", [f"postgresql+psycopg://kuroshio:{SECRET}@db.example:notaport/kuroshio",
                                 f"postgres ql://kuroshio:{SECRET}@db.example/kuroshio",
                                 f"postgres://kuroshio:{SECRET}@db.example/kuroshio"])  # SQLAlchemy has no "postgres"
def test_a_database_url_sqlalchemy_cannot_read_is_a_config_error_without_its_password(tmp_path: Path, url: str) -> None:
    result = kuroshio(write_config(tmp_path), "runs", KUROSHIO_DATABASE_URL=url)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("kuroshio: config error: $KUROSHIO_DATABASE_URL: not a database URL (")
    assert "kuroshio:***@db.example" in result.stderr and SECRET not in result.stderr
