"""Helpers shared by the digest tests: a real SMTP server (aiosmtpd) on 127.0.0.1, message parsing,
the fixture web's seed articles as ExtractedArticles, TLS certificates."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import itertools
import json
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fixture_web import expected, free_port

from kuroshio.crawler.topics import DEFAULT_TOPIC_QUERY, Topic, match_topics
from kuroshio.digest.options import DigestConfig
from kuroshio.storage.models import Article, ArticleTopic, Source
from kuroshio.storage.records import ExtractedArticle, text_sha256

SEMICONDUCTOR_QUERY = "semiconductor* OR chip*"
TOPICS = (
    Topic.from_config("taiwan-japan", DEFAULT_TOPIC_QUERY),
    Topic.from_config("semiconductors", SEMICONDUCTOR_QUERY, 1.0),
)
SEEN_AT = datetime(2025, 12, 3, 0, 0, tzinfo=timezone.utc)
NOW = datetime(2025, 12, 3, 0, 30, tzinfo=timezone.utc)


class _Collector:
    """aiosmtpd handler: accepts (and keeps) each message, or refuses it with `refuse_with`."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse_with: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    port: int = field(default_factory=free_port)
    options: dict[str, Any] = field(default_factory=dict)
    collector: _Collector = field(default_factory=_Collector)
    controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def envelopes(self) -> list[Envelope]:
        return self.collector.envelopes

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed by the standard `email` package."""
        return [parse_message(envelope.content) for envelope in self.envelopes]

    def refuse(self, reply: str | None) -> None:
        self.collector.refuse_with = reply


def parse_message(raw: bytes) -> EmailMessage:
    """A message as a mail client reads it."""
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a digest, decoded."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def seed_article(case: str, **overrides: Any) -> ExtractedArticle:
    """The expected article of a fixture-web seed case (tests/fixture_web.py), fields overridable."""
    fields = expected(case)
    values = {
        "url": fields["url"],
        "canonical_url": fields["canonical_url"],
        "source": fields["source"],
        "title": fields["title"],
        "text": fields["body"],
        "authors": tuple(fields["authors"]),
        "published_at": datetime.fromisoformat(fields["published"]),
        "language": fields["language"],
    }
    values.update(overrides)
    return ExtractedArticle(**values)


_ids = itertools.count(1)


def article(
    title: str = "Taiwan and Japan sign a fisheries accord",
    text: str = "Taiwan and Japan signed an accord. Taiwan said Japan agreed. It takes effect in May.",
    *,
    source: str = "example-news",
    published_at: datetime | None = datetime(2025, 12, 1, 9, 0, tzinfo=timezone.utc),
    url: str | None = None,
) -> Article:
    """An unsaved Article with the topic matches `TOPICS` give it."""
    article_id = next(_ids)
    matches = match_topics(TOPICS, title=title, text=text)
    return Article(
        id=article_id,
        source=Source(name=source),
        url=url or f"https://{source}.example/articles/{article_id}",
        canonical_url=url or f"https://{source}.example/articles/{article_id}",
        title=title,
        text=text,
        authors=[],
        published_at=published_at,
        first_seen_at=datetime(2025, 12, 2, tzinfo=timezone.utc),
        content_sha256=text_sha256(text),
        topic_matches=[ArticleTopic(topic=m.topic, score=m.score, terms=list(m.terms)) for m in matches],
    )


def seed(case: str) -> Article:
    """A fixture-web seed article as an unsaved Article."""
    extracted = seed_article(case)
    return article(extracted.title, extracted.text, source=extracted.source, published_at=extracted.published_at,
                   url=extracted.url)


def digest_config(**overrides: object) -> DigestConfig:
    """A digest as the config file would declare it, keys overridable."""
    values: dict[str, object] = {
        "name": "morning", "topics": (), "to": ("analyst@example.org",),
        "timezone": "Asia/Taipei", "subject": "Kuroshio {name}: {count} new articles", "send_empty": False,
        "max_articles": 200,
    }
    values.update(overrides)
    return DigestConfig(**values)  # type: ignore[arg-type]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (for the TLS tests)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only that server's certificate)."""
    cert_path, key_path = self_signed_certificate(directory)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


def toml_value(value: Any) -> str:
    """`value` written as a TOML value (JSON strings and arrays are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)
