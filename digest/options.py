"""The digest's options: `[smtp]`, how digests reach the mail server, and each `[[digests]]` entry:
which topics, to whom, in which time zone and how it reads. When it is sent is the scheduler's
(`kuroshio.scheduler.options.DigestSchedule`).

Declared once, as the other parts' options are (see `kuroshio.crawler.options`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EMAIL_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


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
    port: int = field(default=25, metadata={"help": "SMTP server port."})
    security: Literal["none", "starttls", "ssl"] = field(
        default="none", metadata={"help": "Transport security: none, starttls or ssl."})
    username: str = field(default="", metadata={"help": "SMTP login; empty: no authentication."})
    password_env: str = field(default="KUROSHIO_SMTP_PASSWORD", metadata={
        "help": "Environment variable holding the SMTP password (never the file)."})
    sender: str = field(default="Kuroshio <kuroshio@localhost>", metadata={"help": "From address of digests."})
    timeout: float = field(default=30.0, metadata={"help": "Seconds before an SMTP connection is abandoned."})


@dataclass(frozen=True)
class DigestConfig:
    """One `[[digests]]` entry: which topics, to whom, and how the email reads."""

    name: str = field(metadata={"help": "Unique digest name."})
    to: tuple[str, ...] = field(metadata={"help": "Recipient addresses."})
    topics: tuple[str, ...] = field(default=(), metadata={"help": "Topics the digest covers; default: every topic."})
    timezone: str = field(default="UTC", metadata={
        "help": "Time zone of `cron` and of the times shown in the digest.", "parse": parse_timezone})
    subject: str = field(default="Kuroshio {name}: {articles}", metadata={
        "help": "Subject template: {name}, {count}, {articles} (\"3 new articles\"), {topics}, {date}."})
    send_empty: bool = field(default=False, metadata={"help": "Send a digest even when nothing is new."})
    max_articles: int = field(default=200, metadata={
        "help": "Most articles in one digest; the rest are counted in a closing line."})

    def problems(self) -> Iterator[tuple[str, str]]:
        """Recipients that are no email address, or none at all."""
        for address in self.to:
            if not EMAIL_ADDRESS.fullmatch(address):
                yield "to", f"expected an email address like analyst@example.org, got {address!r}"
        if not self.to:
            yield "to", "at least one recipient is needed"
