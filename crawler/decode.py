"""Page decoding: a fetched body's bytes and Content-Type in, its text out (`decode_html`).

Kuroshio decodes pages itself, before extraction, because nothing downstream gets it right for legacy
pages: Scrapy's `response.text` believes the HTTP header even when it is a server default the page
never meant, and trafilatura, given bytes, guesses on its own. So the page arrives as bytes with its
Content-Type, and its encoding is chosen from the evidence in this order, the first that holds:

1. A byte-order mark: it is part of the bytes, so nothing can contradict it.
2. The HTTP header's charset, if the body decodes under it without an error *and* reads as text.
3. The page's own `<meta charset>` (or http-equiv, or XML declaration), under the same test.
4. Detection by charset_normalizer, which scores candidate decodings by how natural they read.
5. Nothing holds: the first declared charset, else UTF-8, with undecodable bytes replaced.

The header comes before the page because it is the protocol's answer and usually right; but servers
attach a default (`charset=iso-8859-1` from Apache's AddDefaultCharset, `utf-8` from a framework) to
Big5, GBK, Shift_JIS and EUC-JP pages whose authors declared their real encoding in `<meta>`. A clean
decode alone proves little — windows-1252 decodes almost any bytes — so a declaration must also read
as text: charset_normalizer's mess ratio over the words holding non-ASCII characters stays below
`MAX_MESS_RATIO` (mojibake like "¥x¤W" scores far above it). Labels resolve as browsers resolve them
(WHATWG, via w3lib): big5 → big5hkscs, gb2312/gbk → gb18030, shift_jis → cp932, iso-8859-1 → cp1252.
A body that is compressed or binary (a gzip blob served as text/html) is refused as `NotHtmlError`
before anything could inflate it.

No setting changes it; its thresholds are the constants `MAX_MESS_RATIO` and `MESS_SAMPLE_CHARS`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
from charset_normalizer.md import mess_ratio
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
    to_unicode,
)

# charset_normalizer's own threshold between text and mojibake.
MAX_MESS_RATIO = 0.2
MESS_SAMPLE_CHARS = 20_000

# Leading bytes of compressed containers: such a body is not a page, whatever its Content-Type says.
COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
)


class NotHtmlError(ValueError):
    """The body is not an HTML document at all (compressed or binary bytes)."""


@dataclass(frozen=True, slots=True)
class DecodedPage:
    """A page's text, the codec it was decoded with and the evidence that chose it.

    `source` is one of "bom", "http", "meta", "detected", "fallback" (see the module docstring).
    """

    text: str
    encoding: str
    source: str


def decode_html(body: bytes, *, content_type: str | None = None) -> DecodedPage:
    """The page's text, decoded by the order above; NotHtmlError for a compressed or binary body."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return DecodedPage(to_unicode(body[len(bom):], bom_encoding), bom_encoding, "bom")
    if reason := _not_html(body):
        raise NotHtmlError(reason)
    declared = ((http_content_type_encoding(content_type), "http"), (html_body_declared_encoding(body), "meta"))
    for encoding, source in declared:
        if encoding and (text := _text_if_it_reads(body, encoding)) is not None:
            return DecodedPage(text, encoding, source)
    best = charset_normalizer.from_bytes(body).best()
    if best is not None and (encoding := resolve_encoding(best.encoding)):
        return DecodedPage(to_unicode(body, encoding), encoding, "detected")
    encoding = next((encoding for encoding, _ in declared if encoding), "utf-8")
    return DecodedPage(to_unicode(body, encoding), encoding, "fallback")


def _not_html(body: bytes) -> str | None:
    for magic, name in COMPRESSED_MAGIC:
        if body.startswith(magic):
            return f"{name}-compressed body"
    if b"\x00" in body[:1024]:  # no HTML holds NUL bytes; UTF-16/32 pages carry a BOM, handled before
        return "binary body"
    return None


def _text_if_it_reads(body: bytes, encoding: str) -> str | None:
    """`body` decoded with `encoding`, or None if it does not decode cleanly or reads as mojibake."""
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    if codecs.lookup(encoding).name == "utf-8":
        return text  # legacy CJK bytes almost never form valid UTF-8: a clean decode is proof enough
    sample = _non_ascii_words(text)
    if sample and mess_ratio(sample, MAX_MESS_RATIO) >= MAX_MESS_RATIO:
        return None
    return text


def _non_ascii_words(text: str) -> str:
    """The words holding non-ASCII characters, up to MESS_SAMPLE_CHARS: ASCII markup around them would
    dilute the mess ratio of a mojibake page."""
    if text.isascii():
        return ""
    words: list[str] = []
    length = 0
    for match in re.finditer(r"\S+", text):
        if not (word := match.group()).isascii():
            words.append(word)
            length += len(word) + 1
            if length >= MESS_SAMPLE_CHARS:
                break
    return " ".join(words)
