"""`kuroshio digest`: previews, sending, exit codes and messages.

The dry run to stdout and the refusal while another process sends run the installed command in a new
process; the other cases run the same click command in this process (`kuroshio_here`), which spares a
second of interpreter start-up each and proves the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from digest_support import SmtpServer, parse_message, parts
from fixture_web import KUROSHIO, kuroshio_in_process
from sqlalchemy.orm import Session, sessionmaker

from kuroshio.scheduler.config import Config
from kuroshio.scheduler.locks import acquire
from kuroshio.storage.digests import delivered_article_ids, last_digest_attempts

CHROMIUM = Path("/usr/bin/chromium")


def kuroshio(config: Config, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `kuroshio --config FILE ARGS...` with no config or database from the environment."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KUROSHIO_")}
    environment["KUROSHIO_DATA_DIR"] = str(Path(str(config.path)).parent / "data")
    return subprocess.run([str(KUROSHIO), "--config", str(config.path), *args], capture_output=True, env=environment,
                          cwd=cwd, timeout=120)


def kuroshio_here(config: Config, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`kuroshio(config, *args)`, run in this process with the same environment."""
    environment: dict[str, str | None] = {key: None for key in os.environ if key.startswith("KUROSHIO_")}
    environment["KUROSHIO_DATA_DIR"] = str(Path(str(config.path)).parent / "data")
    return kuroshio_in_process(Path(str(config.path)), *args, env=environment, text=False)


def delivered(sessions: sessionmaker[Session]) -> set[int]:
    with sessions() as session:
        return delivered_article_ids(session, "morning")


def test_default_is_a_dry_run_writing_the_text_part_to_stdout_and_marking_nothing(
    make_config, sessions, seeded, smtp_server: SmtpServer
) -> None:
    result = kuroshio(make_config(), "digest")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")
    assert text.startswith('Kuroshio digest "morning"') and "3 new articles from 3 sources" in text
    assert "(*賴清德*)" in text and "Content-Transfer-Encoding" not in text  # decoded, not quoted-printable
    assert result.stderr.decode() == ("dry run: digest 'morning' owes 3 articles; wrote the text part; "
                                      "nothing sent or marked\n")
    assert smtp_server.envelopes == [] and delivered(sessions) == set()


def test_eml_writes_the_whole_message_as_it_would_be_sent(make_config, sessions, seeded) -> None:
    result = kuroshio_here(make_config(), "digest", "--eml")
    assert result.returncode == 0, result.stderr
    message = parse_message(result.stdout)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Kuroshio morning: 3 new articles"
    assert "3 new articles from 3 sources" in parts(message)[0]
    assert result.stderr.decode().startswith("dry run: digest 'morning' owes 3 articles; wrote the message;")
    assert delivered(sessions) == set()


@pytest.mark.parametrize(("name", "content_type"), [("page.html", "text/html"), ("page.txt", "text/plain"),
                                                    ("digest.eml", "multipart/alternative")])
def test_out_writes_the_html_part_the_text_part_or_the_message(
    make_config, sessions, seeded, tmp_path: Path, name: str, content_type: str
) -> None:
    out = tmp_path / name
    result = kuroshio_here(make_config(), "digest", "morning", "--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert f"wrote the {'HTML part' if name.endswith('html') else 'text part' if name.endswith('txt') else 'message'}"\
           f" to {out}" in result.stderr.decode()
    written = out.read_bytes()
    if content_type == "text/html":
        assert written.startswith(b"<!DOCTYPE html>") and b"<mark" in written
    elif content_type == "text/plain":
        assert written.startswith(b'Kuroshio digest "morning"') and b"*Taiwan*" in written
    else:
        assert parse_message(written).get_content_type() == content_type
    assert delivered(sessions) == set()


def test_send_sends_and_marks_and_a_second_send_sends_nothing(
    make_config, sessions, seeded, smtp_server: SmtpServer
) -> None:
    config = make_config()
    first = kuroshio_here(config, "digest", "--send")
    second = kuroshio_here(config, "digest", "--send")

    assert first.returncode == 0, first.stderr
    (message,) = smtp_server.messages
    assert first.stdout.decode() == (f"sent digest 'morning' to analyst@example.org: 3 articles, "
                                     f"Message-ID {message['Message-ID']}\n")
    assert (second.returncode, second.stdout.decode()) == (0, "digest 'morning': nothing new, nothing sent\n")
    assert len(smtp_server.envelopes) == 1
    assert delivered(sessions) == set(seeded.values())


def test_send_with_the_server_down_exits_1_marks_nothing_and_the_next_send_delivers(
    make_config, sessions, seeded, smtp_server: SmtpServer
) -> None:
    config = make_config()
    smtp_server.stop()
    failed = kuroshio_here(config, "digest", "--send")
    assert failed.returncode == 1
    assert failed.stderr.decode().endswith(f"kuroshio: digest 'morning' not sent: cannot reach 127.0.0.1:"
                                           f"{smtp_server.port}: Connection refused; its 3 articles stay owed\n")
    assert delivered(sessions) == set()
    with sessions() as session:
        attempt = last_digest_attempts(session)["morning"]
    assert attempt.status == "failed" and "Connection refused" in attempt.error

    smtp_server.start()
    sent = kuroshio_here(config, "digest", "--send")
    assert sent.returncode == 0 and len(smtp_server.envelopes) == 1 and delivered(sessions) == set(seeded.values())


def test_since_narrows_the_digest_and_a_bad_date_is_exit_2(make_config, seeded) -> None:
    config = make_config()
    narrowed = kuroshio_here(config, "digest", "--since", "2025-06-01")
    bad = kuroshio_here(config, "digest", "--since", "yesterday")
    assert narrowed.returncode == 0 and "owes 1 article;" in narrowed.stderr.decode()
    assert bad.returncode == 2 and "expected an ISO date like 2025-12-01" in bad.stderr.decode()


def test_choosing_a_digest_unknown_names_and_conflicting_flags_are_exit_2(make_config, seeded) -> None:
    several = make_config(digests='[[digests]]\nname = "morning"\nto = ["a@example.org"]\n'
                                  '[[digests]]\nname = "chips"\ntopics = ["semiconductors"]\nto = ["b@example.org"]\n')
    cases = {
        "several": (several, ["digest"], "several digests are configured; name one of: morning, chips"),
        "unknown": (several, ["digest", "evening"], "unknown digest 'evening' (configured: morning, chips)"),
        "both flags": (several, ["digest", "chips", "--send", "--dry-run"], "give --send or --dry-run, not both"),
        "send and out": (several, ["digest", "chips", "--send", "--out", "x.html"], "--out and --eml write a preview"),
        "send and eml": (several, ["digest", "chips", "--send", "--eml"], "--out and --eml write a preview"),
        "none": (make_config(digests=""), ["digest"], "no digest is configured"),
    }
    for case, (config, args, error) in cases.items():
        result = kuroshio_here(config, *args)
        assert (result.returncode, error in result.stderr.decode()) == (2, True), (case, result.stderr)
    chosen = kuroshio_here(several, "digest", "chips", "--eml")
    assert chosen.returncode == 0 and parse_message(chosen.stdout)["Subject"] == "Kuroshio chips: 2 new articles"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: the HTML part is not rendered in a browser "
                                                  "(apt-get install chromium; or run contrib/preview-digest.sh)")
def test_html_part_renders_in_headless_chromium(make_config, seeded, tmp_path: Path) -> None:
    page, screenshot = tmp_path / "digest.html", tmp_path / "digest.png"
    assert kuroshio_here(make_config(), "digest", "--out", str(page)).returncode == 0
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={screenshot}", "--window-size=900,1400", page.as_uri()],
        capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000  # a blank 900x1400 page compresses to a few kB; the digest's text does not
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_send_while_another_process_sends_that_digest_exits_75(make_config, sessions, seeded, smtp_server) -> None:
    with sessions() as session:
        acquire(session, "digest:morning", owner="another-process", ttl=600)
    result = kuroshio(make_config(), "digest", "--send")
    assert result.returncode == 75
    assert result.stderr.decode().startswith("kuroshio: digest:morning is held by pid ")
    assert result.stderr.decode().endswith(": not sent now\n")
    assert smtp_server.envelopes == [] and delivered(sessions) == set()
