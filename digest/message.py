"""The digest as one RFC 5322 message: multipart/alternative, a plain-text part and an HTML part.

Both parts come from the Jinja2 templates in `digest/templates/` (autoescaping on for HTML; the HTML
loads nothing remote and runs no script, and says so in its Content-Security-Policy).

Headers: every value is cleaned of CR, LF and other control characters before it is set, because the
Python this runs on may predate the fix for CVE-2024-6923 (header injection through folding); the
`email` package then encodes non-ASCII values (RFC 2047) and folds long ones. The Message-ID is
derived from the digest name and the set of article ids, so a digest sent twice (a crash between
"accepted" and "marked") carries the same Message-ID and mail clients can recognise the copy.

Settings: `smtp.sender` (From, and the domain of Message-ID and List-Id), `digests[].to`,
`digests[].subject`, `digests[].timezone` (the Date header's offset).
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kuroshio.digest.compose import DigestContent
from kuroshio.digest.excerpts import shorten
from kuroshio.digest.highlight import Segment
from kuroshio.digest.options import EMAIL_ADDRESS, DigestConfig
from kuroshio.storage.text import one_line

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_SUBJECT_CHARS = 250
TEXT_WIDTH = 76
FALLBACK_DOMAIN = "kuroshio.localhost"

_SUBJECT_FIELD = re.compile(r"\{\{|\}\}|\{(\w*)\}")

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def clean_header(value: str) -> str:
    """A header value on one line: CR, LF and every other control (and bidi-override) character become
    spaces, runs of white space fold to one."""
    return one_line(value)


def envelope_address(sender: str) -> str:
    """The bare address in `sender` ("Kuroshio <k@example.org>" → "k@example.org"); ValueError if none."""
    address = parseaddr(clean_header(sender))[1]
    if not EMAIL_ADDRESS.fullmatch(address):
        raise ValueError(f"smtp.sender: expected an address like 'Kuroshio <kuroshio@example.org>', got {sender!r}")
    return address


def sender_domain(sender: str) -> str:
    """The domain Message-ID and List-Id are minted under: the sender's, if it is a plain host name."""
    domain = envelope_address(sender).rsplit("@", 1)[1].lower()
    return domain if re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", domain) else FALLBACK_DOMAIN


def _label(name: str) -> str:
    """`name` reduced to the characters an id's left-hand side may hold."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:40] or "digest"


def message_id(name: str, article_ids: tuple[int, ...], *, domain: str, now: datetime) -> str:
    """A Message-ID that is the same whenever digest `name` carries the same articles.

    An empty digest carries none, so its id includes the time instead (each is a different message).
    """
    identity = ",".join(str(article_id) for article_id in sorted(set(article_ids))) or now.isoformat()
    fingerprint = hashlib.sha256(f"{name}\n{identity}".encode()).hexdigest()[:32]
    return f"<digest.{_label(name)}.{fingerprint}@{domain}>"


def render_subject(template: str, content: DigestContent) -> str:
    """The subject from its template: {name}, {count}, {articles} ("1 new article", "3 new articles"),
    {topics}, {date}; other braces stay as written."""
    count = content.article_count
    values = {
        "name": content.name,
        "count": str(count),
        "articles": f"{count} new article" if count == 1 else f"{count} new articles",
        "topics": ", ".join(content.topics),
        "date": content.generated_at.date().isoformat(),
    }

    def field(match: re.Match[str]) -> str:
        token = match.group()
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), token)

    return shorten(clean_header(_SUBJECT_FIELD.sub(field, template)), MAX_SUBJECT_CHARS)


def render_text(content: DigestContent) -> str:
    """The plain-text part."""
    return _environment.get_template("digest.txt.j2").render(digest=content)


def render_html(content: DigestContent) -> str:
    """The HTML part (autoescaped)."""
    return _environment.get_template("digest.html.j2").render(digest=content)


def build_message(content: DigestContent, *, digest: DigestConfig, sender: str, now: datetime) -> EmailMessage:
    """The whole digest as one message, ready for `smtplib` or a .eml file."""
    domain = sender_domain(sender)  # ValueError when the sender holds no address
    message = EmailMessage(policy=SMTP)
    message["From"] = clean_header(sender)
    message["To"] = ", ".join(clean_header(address) for address in digest.to)
    message["Subject"] = render_subject(digest.subject, content)
    message["Date"] = format_datetime(now.astimezone(ZoneInfo(digest.timezone)))
    message["Message-ID"] = message_id(content.name, content.article_ids, domain=domain, now=now)
    message["List-Id"] = clean_header(f"Kuroshio digest {content.name} <{_label(content.name)}.digest.{domain}>")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_text(content), subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(render_html(content), subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent: RFC 5322 with CRLF line ends (what a .eml file holds)."""
    return message.as_bytes(policy=SMTP)


# --- template filters ----------------------------------------------------------------------------


def _marked_text(segments: tuple[Segment, ...]) -> str:
    """Segments as plain text, matched terms between asterisks."""
    return "".join(f"*{segment.text}*" if segment.marked else segment.text for segment in segments)


def _wrap(text: str, indent: str = "", width: int = TEXT_WIDTH) -> str:
    """`text` wrapped to `width`, each line after the first indented; URLs and long words are not broken."""
    return textwrap.fill(text, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False)


_environment.filters["marked_text"] = _marked_text
_environment.filters["wrap"] = _wrap
