"""Conditional requests for discovery documents: a feed, sitemap, listing page or robots.txt is asked
for with the validators of its last answer, and a 304 Not Modified ends its work.

A monitor's polls mostly find nothing new; with the validators (ETag → If-None-Match, Last-Modified →
If-Modified-Since, as `kuroshio.storage.validators` keeps them per URL) an unchanged document costs a
few hundred bytes and no parsing. A server that ignores them answers 200 and is read as before.

- The spider marks its discovery requests (`DOCUMENT_META`, with 304 in `handle_httpstatus_list`, since
  Scrapy's HttpErrorMiddleware drops every non-2xx answer before a callback); robots.txt requests —
  the spider's and Scrapy's RobotsTxtMiddleware's — are recognised by their path.
- A 304 for a document that names other documents (robots.txt, a sitemap index) is answered with the
  body kept from its last 200, so its rules still apply and what it names is still polled: a sitemap
  index can stay the same while its news sitemap changes. A 304 for any other document reaches the
  spider, whose callback ends there. Each 304 counts in `kuroshio/not_modified`.
- Validators are only sent for what was kept: robots.txt only with its body (a 304 would otherwise
  leave Scrapy's parser rules-less, which it reads as allow-all).
- `DocumentAnswers` collects the crawl's answers; the spider marks a document unfinished when one of
  its links was left (an error, the page cap), and only finished documents' answers are recorded
  after the crawl, so a 304 never hides a link a crawl did not get to.

Settings: `KUROSHIO_CONDITIONAL_REQUESTS` (default on; off, every document is fetched whole, as
before: the switch the polling benchmark compares with).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

from kuroshio.storage.validators import (
    NOT_MODIFIED,
    DocumentAnswer,
    StoredValidators,
    keepable_body,
    usable_validator,
)

DOCUMENT_META = "kuroshio_document"  # request meta: a discovery document, to be asked for conditionally
REPLAYED_META = "kuroshio_not_modified"  # request meta: the answer was a 304, its body the one kept
SHARED_META = "kuroshio_shared_answer"  # request meta: answered with another request's answer, noted there
CONDITIONAL_HEADERS = (b"If-None-Match", b"If-Modified-Since")


def document_meta() -> dict[str, Any]:
    """The meta of a discovery document's request: conditional, and its 304 passed to the callback."""
    return {DOCUMENT_META: True, "handle_httpstatus_list": [NOT_MODIFIED]}


def is_robots_txt(request: scrapy.Request) -> bool:
    return urlparse_cached(request).path == "/robots.txt"


class DocumentAnswers:
    """One crawl's discovery documents: what the store kept of each, how each answered, which are unfinished."""

    def __init__(self, stored: Callable[[str], StoredValidators | None]) -> None:
        self._stored = stored
        self._kept: dict[str, StoredValidators | None] = {}
        self._answers: dict[str, DocumentAnswer] = {}
        self._unfinished: set[str] = set()

    def stored(self, url: str) -> StoredValidators | None:
        """What the store kept of `url`'s last answer (asked once per crawl)."""
        if url not in self._kept:
            self._kept[url] = self._stored(url)
        return self._kept[url]

    def answered(self, answer: DocumentAnswer) -> None:
        self._answers[answer.url] = answer

    def keep_body(self, url: str, body: bytes) -> None:
        """Keep the body of `url`'s fresh answer, since it names other documents; one too big to keep
        leaves the document unremembered, to be fetched whole next time."""
        if not keepable_body(body):
            self.unfinished(url)
        elif (answer := self._answers.get(url)) and answer.status != NOT_MODIFIED:
            self._answers[url] = DocumentAnswer(url, answer.status, answer.etag, answer.last_modified, body)

    def unfinished(self, url: str | None) -> None:
        """The document at `url` left work undone: its answer is not remembered."""
        if url:
            self._unfinished.add(url)

    def finished_answers(self) -> tuple[DocumentAnswer, ...]:
        """The answers to remember: those of documents whose work was finished."""
        return tuple(answer for url, answer in self._answers.items() if url not in self._unfinished)


class ConditionalRequestMiddleware:
    """Sends a discovery document's validators, replays a kept body on 304, and notes every answer."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConditionalRequestMiddleware:
        if not crawler.settings.getbool("KUROSHIO_CONDITIONAL_REQUESTS", True):
            raise NotConfigured("conditional requests switched off (KUROSHIO_CONDITIONAL_REQUESTS)")
        return cls(crawler)

    def _answers(self, request: scrapy.Request) -> DocumentAnswers | None:
        """The crawl's `DocumentAnswers` when `request` is for a discovery document, else None."""
        answers = getattr(self.crawler.spider, "documents", None)
        if request.meta.get(SHARED_META):
            return None
        if isinstance(answers, DocumentAnswers) and (request.meta.get(DOCUMENT_META) or is_robots_txt(request)):
            return answers
        return None

    def process_request(self, request: scrapy.Request) -> None:
        if (answers := self._answers(request)) is None:
            return
        for header in CONDITIONAL_HEADERS:  # a redirect's request carries its first URL's validators
            request.headers.pop(header, None)
        stored = answers.stored(request.url)
        if stored is None or (is_robots_txt(request) and stored.body is None):
            return
        # Sent back byte for byte as received (header values are read as latin-1).
        if stored.etag:
            request.headers[b"If-None-Match"] = stored.etag.encode("latin-1")
        if stored.last_modified:
            request.headers[b"If-Modified-Since"] = stored.last_modified.encode("latin-1")

    def process_response(self, request: scrapy.Request, response: Response) -> Response:
        if (answers := self._answers(request)) is None:
            return response
        if response.status == NOT_MODIFIED:
            self.crawler.stats.inc_value("kuroshio/not_modified")
            answers.answered(DocumentAnswer(request.url, NOT_MODIFIED))
            stored = answers.stored(request.url)
            if stored is not None and stored.body is not None:
                request.meta[REPLAYED_META] = True
                return response.replace(status=200, body=stored.body)
            return response
        if response.status == 200:
            answers.answered(DocumentAnswer(request.url, 200, etag=usable_validator(_header(response, b"ETag")),
                                            last_modified=usable_validator(_header(response, b"Last-Modified"))))
            if is_robots_txt(request):
                answers.keep_body(request.url, response.body)
        return response


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() if value else None
