"""What a digest sends to each of its targets: a `Letter` (a title and a plain-text body, built from
the composed content), and the Apprise channel that sends one (`kuroshio.digest.notify`); the email
target is `kuroshio.digest.send`'s.

A digest (`mode = "digest"`) is one letter: its title is the subject (`digests[].subject`), its body
the text part of the email. An instant alert (`mode = "instant"`) is one letter per story: its title
the story's title, its body the story alone — where and when it was published, its link, the first
sentences, the other sources that carried it, the terms it matched. Every target of a digest gets the
same letter; the email carries the title as its Subject.

Settings: `digests[].subject`, `digests[].timezone`, `digests[].notify`, `digests[].notify_env`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kuroshio.digest.compose import DigestContent, Story
from kuroshio.digest.excerpts import shorten
from kuroshio.digest.highlight import Segment
from kuroshio.digest.message import (
    FALLBACK_DOMAIN,
    MAX_SUBJECT_CHARS,
    clean_header,
    message_id,
    render_subject,
    render_text,
    sender_domain,
)
from kuroshio.digest.notify import AppriseTarget, notify

EMAIL_TARGET = "email"  # the key of a digest's SMTP target in the store (its recipients get one message)


@dataclass(frozen=True)
class Letter:
    """One message for every target: the content it shows, its title and plain-text body, and the id
    it is recorded under (the email's Message-ID: the same whenever it carries the same articles)."""

    content: DigestContent
    title: str
    body: str
    message_id: str


class Target(Protocol):
    """Somewhere a digest goes: `key` names it in the store, `label` in logs and errors (no secret)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...

    def send(self, letter: Letter) -> str | None:
        """Deliver `letter`; a warning when it was accepted in part. Raises when not accepted at all."""
        ...


@dataclass(frozen=True)
class AppriseChannel:
    """An Apprise URL as a target of a digest."""

    target: AppriseTarget

    @property
    def key(self) -> str:
        """The store's name of the URL (`AppriseTarget.key`)."""
        return self.target.key

    @property
    def label(self) -> str:
        """The URL as shown: its secrets masked."""
        return self.target.label

    def send(self, letter: Letter) -> str | None:
        """Notify the URL; `kuroshio.digest.notify.NotifyError` when it did not accept."""
        notify(self.target, title=letter.title, body=letter.body)
        return None


def digest_letter(content: DigestContent, *, subject: str, sender: str, now: datetime) -> Letter:
    """The letter of a whole digest: the subject template filled in, the email's text part."""
    return Letter(content, render_subject(subject, content), render_text(content),
                  _message_id(content, sender=sender, now=now))


def story_letter(content: DigestContent, *, sender: str, now: datetime) -> Letter:
    """The letter of an instant alert: `content` holds one story."""
    story = content.groups[0].stories[0]
    title = shorten(clean_header(_plain(story.title)), MAX_SUBJECT_CHARS)
    return Letter(content, title, alert_text(story, timezone=content.timezone),
                  _message_id(content, sender=sender, now=now))


def alert_text(story: Story, *, timezone: str) -> str:
    """The body of an instant alert, plain text (Apprise turns it into what each service shows)."""
    when = "published" if story.time_is_published else "first seen"
    lines = [_plain(story.title), f"{story.source} | {when} {story.time} ({timezone})"]
    if story.url:
        lines.append(story.url)
    if story.excerpt:
        lines += ["", _plain(story.excerpt)]
    if story.copies:
        lines += ["", "Also reported by:"]
        for copy in story.copies:
            lines.append(f"- {copy.source}: {copy.title}" + (f" {copy.url}" if copy.url else ""))
    if story.terms:
        also = f" (also {', '.join(story.other_topics)})" if story.other_topics else ""
        lines += ["", f"Matched: {', '.join(story.terms)}{also}"]
    return "\n".join(lines) + "\n"


def _plain(segments: tuple[Segment, ...]) -> str:
    return "".join(segment.text for segment in segments)


def _message_id(content: DigestContent, *, sender: str, now: datetime) -> str:
    try:
        domain = sender_domain(sender)
    except ValueError:  # a digest without email has no use for the sender; its letters still get an id
        domain = FALLBACK_DOMAIN
    return message_id(content.name, content.article_ids, domain=domain, now=now)
