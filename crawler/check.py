"""Discovery without fetching articles: what each source's crawl would find now (`kuroshio check`).

Each source's spider (`crawler.spiders.source`) runs as in a crawl — the same Scrapy settings (user
agent, timeouts, retries, robots.txt, the address policy: `crawler.settings`), the same window and
`max_pages` — with `KUROSHIO_DISCOVER_ONLY` set: it reads the source's robots.txt, feeds, sitemaps and
listing pages — each whole, never conditionally — and counts the article links it would request
instead of requesting them. No item pipeline is installed, so nothing is written; the store, when given,
is only asked which of the discovered links it knows (`crawler.lookups`).

A source fails the check when none of its configured discovery documents answered, when they gave
no link at all, or when none of the links in the window is an article link (`article_url_pattern`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from protego import Protego
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Request, Response
from scrapy.settings import Settings

from kuroshio.crawler.options import CrawlConfig, SourceConfig
from kuroshio.crawler.settings import scrapy_settings
from kuroshio.crawler.spiders.source import SourceSpider
from kuroshio.crawler.window import NO_WINDOW, CrawlWindow
from kuroshio.storage.text import one_line


@dataclass(frozen=True)
class DocumentCheck:
    """One discovery document as the check read it: its answer, and the links (or sitemaps) it gave."""

    url: str
    kind: str  # feed, sitemap, listing page, robots.txt
    status: int | None = None  # HTTP status of the final answer; None: no answer
    final_url: str | None = None  # where redirects ended, when they did
    links: int | None = None  # article-link candidates it gave (None: not read as a feed, sitemap or listing)
    sitemaps: int | None = None  # sitemaps it named (robots.txt, sitemap index)
    error: str | None = None  # why it gave nothing, in the crawl's words

    @property
    def answered(self) -> bool:
        """Whether the document was served (2xx)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class SourceCheck:
    """What one source's crawl would find now, and whether the source passes the check."""

    source: str
    documents: tuple[DocumentCheck, ...]
    links_found: int  # usable links the documents gave
    links_too_old: int  # dated before the window
    links_not_articles: int  # in the window, but not matching article_url_pattern
    known: int  # links to articles the store knows (each link, however often found)
    would_fetch: int  # new article links a crawl would request (under max_pages)
    left_by_cap: int  # new article links past max_pages, left for the next crawl
    robots_forbidden: int  # of those it would request, how many robots.txt forbids
    problems: tuple[dict[str, str], ...]  # errors as the run record would keep them (url, reason)
    problems_count: int
    failure: str | None  # why the source fails the check; None: it passes

    @property
    def new(self) -> int:
        """New articles linked in the window (each once)."""
        return self.would_fetch + self.left_by_cap

    @property
    def repeated(self) -> int:
        """Further links to the new articles (found in several documents, or twice in one)."""
        in_window = self.links_found - self.links_too_old
        return max(0, in_window - self.links_not_articles - self.known - self.new)

    @property
    def ok(self) -> bool:
        """Whether the source passes: reachable, and yielding article links."""
        return self.failure is None


@dataclass
class _Answers:
    """Each response a crawler received, by the URL first requested (before redirects)."""

    responses: dict[str, Response] = field(default_factory=dict)

    def received(self, response: Response, request: Request) -> None:
        first_url = (request.meta.get("redirect_urls") or [request.url])[0]
        self.responses.setdefault(first_url, response)

    def robots(self, user_agent: str) -> dict[str, Protego]:
        """The robots.txt rules that answered, by origin (scheme://host:port)."""
        rules = {}
        for url, response in self.responses.items():
            if urlsplit(url).path == "/robots.txt" and response.status == 200:
                rules[_origin(url)] = Protego.parse(response.body.decode("utf-8", errors="replace"))
        return rules


def check_sources(
    sources: Sequence[SourceConfig],
    *,
    crawl: CrawlConfig,
    storage_url: str | None,
    window: CrawlWindow = NO_WINDOW,
    log_level: str = "WARNING",
) -> list[SourceCheck]:
    """Discover what each of `sources` would yield now, fetching no article and storing nothing; the
    store at `storage_url` (None: none yet, every link is new) is asked which links it knows."""
    settings = scrapy_settings(crawl, log_level=log_level)
    # Every document asked for whole: a 304 would hide its links, and no answer is remembered either.
    settings.update({"ITEM_PIPELINES": {}, "KUROSHIO_DISCOVER_ONLY": True, "KUROSHIO_EXTRACTION_WORKERS": 0,
                     "KUROSHIO_CONDITIONAL_REQUESTS": False})
    if storage_url:
        settings["KUROSHIO_DATABASE_URL"] = storage_url
    process = CrawlerProcess(settings=settings)
    crawlers: list[tuple[Crawler, _Answers]] = []
    for position, source in enumerate(sources):
        crawler = Crawler(SourceSpider, Settings(settings), init_reactor=position == 0)
        answers = _Answers()  # held here: Scrapy's signals keep only weak references to receivers
        crawler.signals.connect(answers.received, signal=signals.response_received)
        crawlers.append((crawler, answers))
        process.crawl(crawler, source=source, window=window, max_pages=crawl.max_pages)
    process.start()
    user_agent = settings.get("ROBOTSTXT_USER_AGENT") or crawl.user_agent
    return [_source_check(source, crawler, answers, obey_robots=crawl.obey_robots, user_agent=user_agent)
            for source, (crawler, answers) in zip(sources, crawlers)]


def _source_check(source: SourceConfig, crawler: Crawler, answers: _Answers, *, obey_robots: bool,
                  user_agent: str) -> SourceCheck:
    stats = crawler.stats.get_stats() if crawler.stats else {}
    spider: Any = crawler.spider
    if not isinstance(spider, SourceSpider):  # the crawl never started
        reason = f"check did not start: {stats.get('finish_reason', 'unknown')}"
        return SourceCheck(source.name, (), 0, 0, 0, 0, 0, 0, 0, (), 0, reason)
    robots = answers.robots(user_agent) if obey_robots else {}
    documents = _documents(source, spider, answers, robots, user_agent)
    forbidden = sum(1 for url in spider.requested_urls if _forbidden(url, robots, user_agent))
    check = SourceCheck(
        source=source.name,
        documents=documents,
        links_found=stats.get("kuroshio/links_discovered", 0),
        links_too_old=stats.get("kuroshio/links_too_old", 0),
        links_not_articles=stats.get("kuroshio/links_not_articles", 0),
        known=stats.get("kuroshio/known_skipped", 0),
        would_fetch=stats.get("kuroshio/article_requests", 0),
        left_by_cap=len(spider.links_left),
        robots_forbidden=forbidden,
        problems=tuple(spider.errors),
        problems_count=stats.get("kuroshio/errors", 0),
        failure=None,
    )
    return _with_verdict(check, stats.get("finish_reason"))


def _with_verdict(check: SourceCheck, finish_reason: str | None) -> SourceCheck:
    configured = [document for document in check.documents if document.kind != "robots.txt"]
    failure = None
    if finish_reason != "finished":
        failure = f"check ended early: {finish_reason or 'did not start'}"
    elif not any(document.answered for document in configured):
        first = next((document for document in configured if document.error), None)
        failure = "unreachable: no discovery document answered" + (
            f" (first: {first.url}: {first.error})" if first else "")
    elif not check.links_found:
        failure = "its discovery documents gave no links"
    elif check.links_found > check.links_too_old and check.links_not_articles == check.links_found - check.links_too_old:
        failure = "no link in the window matches article_url_pattern"
    return SourceCheck(**{**check.__dict__, "failure": failure})


def _documents(source: SourceConfig, spider: SourceSpider, answers: _Answers, robots: dict[str, Protego],
               user_agent: str) -> tuple[DocumentCheck, ...]:
    """The configured documents first (as configured), then every robots.txt and sitemap read on the way."""
    kinds = {**{url: "feed" for url in source.feeds}, **{url: "sitemap" for url in source.sitemaps},
             **{url: "listing page" for url in source.listing_pages}}
    errors = {error["url"]: error["reason"] for error in reversed(spider.errors)}  # the first per URL wins
    urls = list(kinds)
    urls += [url for url in answers.responses if url not in kinds and _is_discovery(url, spider)]
    urls += [url for url in spider.sitemaps_seen if url not in urls and url in errors]
    documents = []
    for url in urls:
        response = answers.responses.get(url)
        kind = kinds.get(url) or ("robots.txt" if urlsplit(url).path == "/robots.txt" else "sitemap")
        final_url = response.url if response is not None and response.url != url else None
        read_as = final_url or url
        error = errors.get(url) or (errors.get(final_url) if final_url else None)
        if response is None and error is None:
            error = _not_requested(url, spider, robots, user_agent)
        documents.append(DocumentCheck(
            url=url,
            kind=kind,
            status=response.status if response is not None else None,
            final_url=final_url,
            links=spider.links_found.get(read_as),
            sitemaps=spider.sitemaps_found.get(read_as),
            error=error,
        ))
    return tuple(documents)


def _is_discovery(url: str, spider: SourceSpider) -> bool:
    """A robots.txt or a sitemap the source's spider read (no article is fetched in a check)."""
    return urlsplit(url).path == "/robots.txt" or url in spider.sitemaps_seen


def _not_requested(url: str, spider: SourceSpider, robots: dict[str, Protego], user_agent: str) -> str:
    """Why a configured document got no answer and no error: what a crawl would do with it."""
    if _forbidden(url, robots, user_agent):
        return "forbidden by robots.txt"
    if url in spider.documents_left:
        return "not fetched: max_pages reached first"
    return "not fetched (off the allowed domains?)"


def _forbidden(url: str, robots: dict[str, Protego], user_agent: str) -> bool:
    rules = robots.get(_origin(url))
    return rules is not None and not rules.can_fetch(url, user_agent)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def describe_document(document: DocumentCheck) -> str:
    """One line: the document's kind, URL, answer and what it gave."""
    answer = f"HTTP {document.status}" if document.status is not None else "no answer"
    parts = [answer]
    if document.final_url:
        parts.append(f"redirected to {document.final_url}")
    if document.kind == "robots.txt" and document.status is not None and 400 <= document.status < 500:
        parts.append("none there: everything allowed, no sitemaps named")
    if document.sitemaps:  # robots.txt, a sitemap index
        parts.append(f"{document.sitemaps} sitemap{'s' if document.sitemaps != 1 else ''} named")
    if document.links is not None:
        parts.append(f"{document.links} link{'s' if document.links != 1 else ''}")
    if document.error:
        parts.append(document.error)
    return one_line(f"{document.kind} {document.url}: {', '.join(parts)}")
