"""The digest's options: `[smtp]`, how digests reach the mail server, and each `[[digests]]` entry:
which topics, to whom, in which time zone and how it reads. When it is sent is the scheduler's
(`kuroshio.scheduler.options.DigestSchedule`).

Declared once, as the other parts' options are (see `kuroshio.crawler.options`). A subject template is
checked at load against `SUBJECT_FIELDS` (what `kuroshio.digest.message.render_subject` fills in), so a
misspelt field is a config error, not a subject sent with `{nmae}` in it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EMAIL_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")
SUBJECT_FIELDS = ("name", "count", "articles", "topics", "date")


def subject_problem(template: str) -> str | None:
    """What is wrong with a subject template, in words; None when it only uses `SUBJECT_FIELDS` (bare:
    no format spec or conversion) and doubles its literal braces."""
    fields = ", ".join(f"{{{name}}}" for name in SUBJECT_FIELDS)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a valid template ({error}): its fields are {fields}; write {{{{ and }}}} for a literal brace"
    for _, name, spec, conversion in parsed:
        if name is not None and (name not in SUBJECT_FIELDS or spec or conversion):
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return f"unknown field {written} (fields: {fields}; write {{{{ and }}}} for a literal brace)"
    return None


def parse_timezone(value: str) -> str:
    """An IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone like Asia/Taipei, got {value!r}") from None
    return value


@dataclass(frozen=True)
class SmtpConfig:
    """`[smtp]`: how digests reach the mail server; the password is read from `password_env` when sending."""

    host: str = field(default="127.0.0.1", metadata={"help": "SMTP server host."})
    port: int = field(default=25, metadata={"help": "SMTP server port.", "minimum": 1, "maximum": 65535})
    security: Literal["none", "starttls", "ssl"] = field(
        default="none", metadata={"help": "Transport security: none, starttls or ssl."})
    username: str = field(default="", metadata={"help": "SMTP login; empty: no authentication."})
    password_env: str = field(default="KUROSHIO_SMTP_PASSWORD", metadata={
        "help": "Environment variable holding the SMTP password (never the file)."})
    sender: str = field(default="Kuroshio <kuroshio@localhost>", metadata={"help": "From address of digests."})
    timeout: float = field(default=30.0, metadata={
        "help": "Seconds before an SMTP connection is abandoned.", "above": 0})


@dataclass(frozen=True)
class DigestConfig:
    """One `[[digests]]` entry: which topics, to whom, and how the email reads."""

    name: str = field(metadata={"help": "Unique digest name."})
    to: tuple[str, ...] = field(default=(), metadata={
        "help": "Recipient addresses; none when it goes only to `notify` or `notify_env` targets."})
    notify: tuple[str, ...] = field(default=(), metadata={
        "help": "Apprise URLs it also goes to (json://host/path, ntfys://host/topic, slack://...); one that "
                "holds a token belongs in `notify_env`."})
    notify_env: str = field(default="", metadata={
        "help": "Environment variable holding more Apprise URLs (space- or comma-separated), read when "
                "sending, never from the file."})
    mode: Literal["digest", "instant"] = field(default="digest", metadata={
        "help": "digest: one message of what is new at each `cron`; instant: one message per new story as "
                "soon as the daemon stored it (`cron` unused)."})
    topics: tuple[str, ...] = field(default=(), metadata={"help": "Topics the digest covers; default: every topic."})
    timezone: str = field(default="UTC", metadata={
        "help": "Time zone of `cron` and of the times shown in the digest.", "parse": parse_timezone})
    subject: str = field(default="Kuroshio {name}: {articles}", metadata={
        "help": "Subject template: {name}, {count}, {articles} (\"3 new articles\"), {topics}, {date}."})
    send_empty: bool = field(default=False, metadata={"help": "Send a digest even when nothing is new."})
    max_articles: int = field(default=200, metadata={
        "help": "Most articles in one digest; the rest are counted in a closing line.", "minimum": 1})

    def problems(self) -> Iterator[tuple[str, str]]:
        """Recipients that are no email address; no recipient and no Apprise target; an Apprise URL Apprise
        cannot use (named by position and scheme: it may hold a secret); a subject template with a field
        it lacks."""
        from kuroshio.digest.notify import url_problem

        for address in self.to:
            if not EMAIL_ADDRESS.fullmatch(address):
                yield "to", f"expected an email address like analyst@example.org, got {address!r}"
        if not (self.to or self.notify or self.notify_env):
            yield "to", "at least one recipient is needed (or an Apprise URL in notify or notify_env)"
        for position, url in enumerate(self.notify):
            problem = url_problem(url)
            if problem:
                yield f"notify[{position}]", problem
        problem = subject_problem(self.subject)
        if problem:
            yield "subject", f"digest {self.name!r}: {problem}"
