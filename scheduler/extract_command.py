"""`kuroshio extract URL|FILE`: what Kuroshio would store for one page, and why.

The page is read by the crawl's own code (`kuroshio.crawler.spiders.page`): a URL is fetched with the
crawl's settings and address policy (an address inside the network is refused, unless it is a host of
a configured source), a FILE's bytes are taken as served from `--url`; then decoding, extraction with
the source's publisher rules, the evidence of an article and topic matching run as in a crawl. Printed:
the would-be stored article (title, authors, published time, language, canonical URL, partial, text),
its topic matches and why each other topic refused it (`kuroshio.crawler.topics.judge_topics`), and
which publisher rules matched on the page (`kuroshio.crawler.publishers.applied`); or, for a page that is no article, the reason a crawl would record. Nothing is stored. Everything that
came from the page is printed without control characters (`one_line`), so a hostile page cannot rewrite
the terminal.

The source whose rules apply is `--source`, else the configured source whose hosts hold the URL's host,
else none (generic extraction).

Exit codes: 0 when the page is an article, 1 (`EXIT_FAILED`) when it is not or could not be fetched, 2
for a bad config or bad arguments (no such file, not an http(s) URL, an unknown `--source`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from kuroshio.scheduler.check_command import spider_warnings_held
from kuroshio.scheduler.cli_context import OneLineError, config_from
from kuroshio.scheduler.config import Config, ConfigError
from kuroshio.scheduler.exits import EXIT_BAD_CONFIG, EXIT_FAILED
from kuroshio.storage.text import one_line

if TYPE_CHECKING:
    from kuroshio.crawler.addresses import SourceReach
    from kuroshio.crawler.options import SourceConfig
    from kuroshio.crawler.publishers.applied import RuleMatch
    from kuroshio.crawler.spiders.page import PageReading
    from kuroshio.crawler.topics import Explanation

# The name the page is read under when no configured source holds it (shown in the log's lines).
NO_SOURCE = "(no source)"


class BadTarget(OneLineError):
    """An argument that names no page to read: one line, exit 2."""

    exit_code = EXIT_BAD_CONFIG


@click.command("extract")
@click.argument("target", metavar="URL|FILE")
@click.option("--url", "file_url", metavar="URL",
              help="For a FILE: the URL it was served from (default: its file:// URL).")
@click.option("--source", "source_name", metavar="NAME",
              help="Read it with this source's publisher rules (default: the source holding the URL's host).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def extract_command(ctx: click.Context, target: str, file_url: str | None, source_name: str | None,
                    output_format: str) -> None:
    """Show what Kuroshio would store for one page (a URL, or a saved HTML FILE); nothing is stored."""
    from kuroshio.crawler.spiders.page import read_page

    config = config_from(ctx)
    url, body = _target(target, file_url, max_bytes=config.crawl.max_page_bytes)
    source, reach, how = _source_for(config, url, source_name)
    if isinstance(body, str):  # a file over the crawl's size limit: what the crawl would record
        reading = _unread(url, body)
    else:
        with spider_warnings_held(ctx.obj["log_level"]):  # the reason is the result, said once
            reading = read_page(url, source=source, crawl=config.crawl, topics=tuple(config.topics),
                                reach=reach, body=body, log_level=ctx.obj["log_level"])
    rules = _rules(reading, source)
    reasons = _explained(reading, config)
    if output_format == "json":
        click.echo(json.dumps(_record(reading, source, how, rules, reasons), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(_lines(reading, source, how, rules, reasons)))
    if reading.article is None:
        ctx.exit(EXIT_FAILED)


def _explained(reading: PageReading, config: Config) -> Explanation:
    """Why each configured topic the article did not match refused it (what a reader asks of a story they
    expected to see in their digest), and why a topic's scorer admitted it where the topic's rules did not."""
    from kuroshio.crawler.topics import Explanation, explain_topics

    article = reading.article
    if article is None:
        return Explanation()
    return explain_topics(config.topics, {match.topic for match in reading.matches}, title=article.title,
                          text=article.text)


def _target(target: str, file_url: str | None, *, max_bytes: int) -> tuple[str, bytes | str | None]:
    """The page's URL and, for a FILE, its bytes (or, past `max_bytes`, the reason a crawl gives)."""
    from kuroshio.storage.urls import canonicalize_url

    scheme = urlsplit(target).scheme.lower()
    if scheme in ("http", "https"):
        if file_url is not None:
            raise click.UsageError("--url names where a FILE came from; give a URL or a FILE with --url")
        _check_url(target, canonicalize_url)
        return target, None
    path = Path(target)
    if not path.is_file():
        if scheme and len(scheme) > 1:
            raise BadTarget(f"{target!r}: only http(s) URLs are fetched")
        raise BadTarget(f"{target}: no such file")
    url = file_url or path.resolve().as_uri()
    if file_url is not None:
        if urlsplit(file_url).scheme.lower() not in ("http", "https"):
            raise BadTarget(f"--url {file_url!r}: expected an http(s) URL")
        _check_url(file_url, canonicalize_url)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return url, f"too large: download cancelled at the {max_bytes}-byte limit (crawl.max_page_bytes)"
        return url, path.read_bytes()
    except OSError as error:
        raise BadTarget(f"{target}: cannot read: {error.strerror or error}") from None


def _check_url(url: str, canonicalize: Any) -> None:
    try:
        canonicalize(url)
    except ValueError as error:
        raise BadTarget(f"{url!r}: not a usable URL ({error})") from None


def _source_for(config: Config, url: str, name: str | None) -> tuple[SourceConfig, SourceReach | None, str]:
    """The source whose rules read the page, the reach that replaces its own (for no source), and how it
    was chosen."""
    from kuroshio.crawler.addresses import SourceReach
    from kuroshio.crawler.options import SourceConfig
    from kuroshio.crawler.spiders.page import untrusted_reach

    if name is not None:
        try:
            return config.select_sources((name,))[0], None, "--source"
        except ConfigError as error:
            raise click.BadParameter(str(error), param_hint="--source") from None
    host = urlsplit(url).hostname or ""
    for source in config.sources:
        if host and SourceReach.of(source).holds_host(host):
            return source, None, f"it holds {host}"
    how = "no configured source holds this host" if host else "a file without --url"
    return SourceConfig(name=NO_SOURCE), untrusted_reach(url), how


def _unread(url: str, reason: str) -> PageReading:
    from kuroshio.crawler.spiders.page import PageReading

    return PageReading(url=url, final_url=None, status=None, content_type="", body=None, article=None,
                       matches=(), reason=reason)


def _rules(reading: PageReading, source: SourceConfig) -> list[RuleMatch]:
    """The source's publisher rules tried on the page as received; none for generic extraction."""
    from kuroshio.crawler.decode import NotHtmlError, decode_html
    from kuroshio.crawler.publishers import PUBLISHERS
    from kuroshio.crawler.publishers.applied import rules_on_page

    publisher = PUBLISHERS.get(source.publisher) if source.publisher else None
    if publisher is None or reading.body is None:
        return []
    try:
        html = decode_html(reading.body, content_type=reading.content_type or None).text
    except NotHtmlError:
        return []
    return rules_on_page(html, publisher)


def _source_line(source: SourceConfig, how: str) -> str:
    if source.name == NO_SOURCE:
        return f"none ({how}): generic extraction"
    rules = f"publisher rules {source.publisher}" if source.publisher else "generic extraction"
    return f"{source.name} ({how}): {rules}"


def _lines(reading: PageReading, source: SourceConfig, how: str, rules: list[RuleMatch],
           reasons: Explanation) -> list[str]:
    answer = [f"HTTP {reading.status}"] if reading.status is not None else []
    answer += [reading.content_type] if reading.content_type else []
    fields = [("page", reading.url + (f" ({', '.join(answer)})" if answer else ""))]
    if reading.final_url:
        fields.append(("final url", reading.final_url))
    fields.append(("source", _source_line(source, how)))
    article = reading.article
    if article is None:
        fields.append(("result", f"no article: {reading.reason}"))
    else:
        topics = "; ".join([*(f"{match.topic} (score {match.score:g}: {', '.join(match.terms)})"
                              + (f", {reasons.admitted[match.topic]}" if match.topic in reasons.admitted else "")
                              for match in reading.matches),
                            *(f"{refused.topic} not matched: {refused.reason}" for refused in reasons.refusals)]) \
            or "none"
        fields += [
            ("result", "article"),
            ("title", article.title),
            ("url", article.url),
            ("canonical", article.canonical_url),
            ("published", article.published_at.isoformat() if article.published_at else "unknown"),
            ("authors", ", ".join(article.authors) or "unknown"),
            ("language", article.language or "unknown"),
            ("partial", "yes: the page showed only the title and lead" if article.partial else "no"),
            ("topics", topics),
        ]
    if rules:
        matched = sum(1 for rule in rules if rule.matches)
        fields.append(("rules", f"publisher {source.publisher}: {matched} of its {len(rules)} rules match this page"))
    lines = [f"{label + ':':<11}{one_line(value)}" for label, value in fields]
    for rule in rules:
        found = f"{rule.matches} matched, first: {rule.example!r}" if rule.matches else "no match"
        lines.append(f"  {rule.kind} {one_line(rule.rule)}: {one_line(found)}")
    if article is not None:
        paragraphs = [one_line(paragraph) for paragraph in article.text.split("\n\n")]
        lines += ["", f"text ({len(article.text)} characters):", "", "\n\n".join(paragraphs)]
    return lines


def _record(reading: PageReading, source: SourceConfig, how: str, rules: list[RuleMatch],
            reasons: Explanation) -> dict[str, Any]:
    article = reading.article
    return {
        "url": reading.url,
        "final_url": reading.final_url,
        "status": reading.status,
        "content_type": reading.content_type or None,
        "source": None if source.name == NO_SOURCE else source.name,
        "source_chosen": how,
        "publisher": source.publisher or None,
        "article": None if article is None else {
            "title": article.title,
            "url": article.url,
            "canonical_url": article.canonical_url,
            "published": article.published_at.isoformat() if article.published_at else None,
            "authors": list(article.authors),
            "language": article.language,
            "partial": article.partial,
            "text": article.text,
        },
        "topics": [{"name": match.topic, "score": match.score, "terms": list(match.terms),
                    "admitted_by_scorer": reasons.admitted.get(match.topic)} for match in reading.matches],
        "topics_not_matched": [{"name": refused.topic, "reason": refused.reason, "score": refused.score,
                                "terms": list(refused.terms)} for refused in reasons.refusals],
        "reason": reading.reason,
        "rules": [{"kind": rule.kind, "rule": rule.rule, "matches": rule.matches, "example": rule.example}
                  for rule in rules],
    }
