"""The read-only web view of the archive: an ASGI app (Starlette) that `kuroshio serve` runs.

Pages (server-side HTML, readable without JavaScript, one small stylesheet):

- `/`: the topics with their article counts, and the newest relevant articles;
- `/topics/<name>`: the articles that matched a topic, newest first;
- `/search?q=`: the articles where a topic query holds (`kuroshio.storage.search`); a query that cannot
  be read is its one-line error, HTTP 400;
- `/articles/<id>`: an article's text and metadata, its matched terms marked, every URL it was seen
  under, and the other stored copies of its story (`kuroshio.digest.web.queries.story_copies`);
- `/sources`: each source's recent crawls and what needs a look;
- `/digests`: each digest's attempts and the articles each accepted one delivered;
- `/feeds/<topic>.xml`: a topic's Atom feed of its `FEED_LIMIT` newest articles (`kuroshio.digest.feed`,
  the bytes `kuroshio feed` writes, with the address it was asked at as its `rel="self"`); `/feeds/all.xml`
  every relevant article's, unless a topic is called "all".

Listings show `PAGE_SIZE` articles a page (`?page=N`); search at most `MAX_SEARCH_PAGES` pages, since
each page of search results confirms every match before it.

Read-only: only GET and HEAD are routed (any other method is 405, its body never read), and the
sessions it is given are refused writes by the database (`kuroshio.digest.web.store`). Every response
carries a Content-Security-Policy of `default-src 'self'` (no script, style or frame from elsewhere, no
inline script), and every value a page shows is escaped by Jinja's autoescape: stored text never
becomes markup (`kuroshio.digest.web.present`).

Behind a reverse proxy under a path prefix, links carry the prefix the server was given as the ASGI
`root_path` (`kuroshio serve --root-path /kuroshio`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kuroshio.digest.feed import FEED_MEDIA_TYPE, read_feed
from kuroshio.digest.highlight import term_patterns
from kuroshio.digest.web.present import article_card, article_detail, language_tag, matched_terms, recorded_moment
from kuroshio.digest.web.queries import (
    RECENT_RUNS,
    count_digest_attempts,
    delivered_articles,
    digest_attempts,
    relevant_articles,
    source_health,
    story_copies,
    topic_summaries,
)
from kuroshio.storage.articles import count_articles
from kuroshio.storage.digests import last_digest_attempts
from kuroshio.storage.models import Article
from kuroshio.storage.query import QuerySyntaxError, positive_leaves
from kuroshio.storage.search import parse_search_query, search_articles
from kuroshio.storage.text import one_line

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
PAGE_SIZE = 25
MAX_SEARCH_PAGES = 20
MAX_PAGE = 100_000
FEED_LIMIT = 50  # entries of a served feed, as `kuroshio feed` writes by default
ALL_TOPICS = "all"  # /feeds/all.xml: every relevant article
MAX_ARTICLE_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: a larger one is no article, not an SQL error

# Sent with every response. The stylesheet is the page's only resource; nothing may frame a page.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # following an article's link tells its publisher nothing of this host
    "x-frame-options": "DENY",
}

@dataclass(frozen=True, slots=True)
class Pagination:
    """Where a listing page sits: its number, and the links to its neighbours (None at either end)."""

    page: int
    pages: int | None
    newer_href: str | None
    older_href: str | None


def create_app(
    sessions: sessionmaker[Session],
    *,
    topics: Sequence[str],
    sources: Sequence[str],
    digests: Sequence[str],
) -> ASGIApp:
    """The web view over `sessions` (read-only ones: `kuroshio.digest.web.store`), naming the configured
    `topics`, `sources` and `digests` even before the store holds anything of them."""
    return _WebView(sessions, topics=tuple(topics), sources=tuple(sources), digests=tuple(digests)).asgi


class _WebView:
    """The routes and what each reads; one instance per app."""

    def __init__(self, sessions: sessionmaker[Session], *, topics: tuple[str, ...], sources: tuple[str, ...],
                 digests: tuple[str, ...]) -> None:
        self.sessions = sessions
        self.topics, self.sources, self.digests = topics, sources, digests
        self.templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
        # What the templates format themselves: times Kuroshio recorded, and stored lines (run messages).
        self.templates.globals.update(recorded=recorded_moment, line=one_line, lang=language_tag)
        self.templates.filters["segment"] = lambda value: quote(str(value), safe="")  # a name as one path segment
        routes = [
            Route("/", self.index, name="index"),
            Route("/topics/{topic:path}", self.topic, name="topic"),
            Route("/search", self.search, name="search"),
            Route("/articles/{article_id:int}", self.article, name="article"),
            Route("/sources", self.source_list, name="sources"),
            Route("/digests", self.digest_list, name="digests"),
            Route("/feeds/{topic:path}.xml", self.feed_document, name="feed"),
            Route("/web.css", self.static_file("web.css", "text/css"), name="stylesheet"),
            Route("/icon.svg", self.static_file("icon.svg", "image/svg+xml"), name="icon"),
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self.error_page,
                                                                OperationalError: self.store_unavailable})
        self.asgi: ASGIApp = _SecurityHeaders(self.app)

    # Pages. Starlette runs these plain functions in its thread pool, one session each.

    def index(self, request: Request) -> Response:
        page = _page_number(request)
        with self.sessions() as session:
            summaries = topic_summaries(session, self.topics)
            total = count_articles(session)
            articles = relevant_articles(session, topic=None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            cards = [article_card(article, term_patterns(matched_terms(article))) for article in articles]
            pagination = self._pagination(request, "index", {}, page=page, total=total)
        return self.render(request, "index.html.j2", title="Topics", topics=summaries, cards=cards, total=total,
                           pagination=pagination, feed_href=self.url(request, "feed", topic=ALL_TOPICS))

    def topic(self, request: Request) -> Response:
        name = request.path_params["topic"]
        page = _page_number(request)
        with self.sessions() as session:
            total = count_articles(session, topic=name)
            if total == 0 and name not in self.topics:
                raise HTTPException(404, f"no topic called {one_line(name)!r}")
            articles = relevant_articles(session, topic=name, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            cards = [article_card(article, term_patterns(matched_terms(article, name))) for article in articles]
            pagination = self._pagination(request, "topic", {"topic": quote(name, safe="")}, page=page, total=total)
        return self.render(request, "topic.html.j2", title=f"Topic {one_line(name)}", topic=one_line(name),
                           configured=name in self.topics, cards=cards, total=total, pagination=pagination,
                           feed_href=self.url(request, "feed", topic=quote(name, safe="")))

    def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        page = _page_number(request)
        if not query:
            return self.render(request, "search.html.j2", title="Search", query="", error=None, cards=[],
                               pagination=None)
        try:
            parsed = parse_search_query(query)
        except QuerySyntaxError as error:
            return self.render(request, "search.html.j2", status_code=400, title="Bad search query", query=query,
                               error=f"bad search query: {one_line(str(error))}", cards=[], pagination=None)
        if page > MAX_SEARCH_PAGES:
            raise HTTPException(400, f"search shows at most {MAX_SEARCH_PAGES} pages of results: narrow the query")
        patterns = term_patterns(leaf.written for leaf in positive_leaves(parsed))
        with self.sessions() as session:
            found = search_articles(session, query, limit=page * PAGE_SIZE + 1)
            cards = [article_card(article, patterns) for article in found[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]]
        more = len(found) > page * PAGE_SIZE and page < MAX_SEARCH_PAGES
        pagination = Pagination(
            page, None,
            self.url(request, "search", query={"q": query, "page": page - 1}) if page > 1 else None,
            self.url(request, "search", query={"q": query, "page": page + 1}) if more else None)
        return self.render(request, "search.html.j2", title=f"Search: {one_line(query)}", query=query, error=None,
                           cards=cards, pagination=pagination)

    def article(self, request: Request) -> Response:
        article_id = request.path_params["article_id"]
        with self.sessions() as session:
            article = session.get(Article, article_id) if article_id <= MAX_ARTICLE_ID else None
            if article is None:
                raise HTTPException(404, f"no article with id {article_id}")
            detail = article_detail(article, story_copies(session, article))
        return self.render(request, "article.html.j2", title=one_line(article.title) or f"Article {article_id}",
                           article=detail)

    def source_list(self, request: Request) -> Response:
        with self.sessions() as session:
            health = source_health(session, self.sources)
            return self.render(request, "sources.html.j2", title="Sources", sources=health, recent_runs=RECENT_RUNS)

    def digest_list(self, request: Request) -> Response:
        page = _page_number(request)
        with self.sessions() as session:
            last = last_digest_attempts(session)
            total = count_digest_attempts(session)
            attempts = digest_attempts(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            delivered = delivered_articles(session, attempts)
            pagination = self._pagination(request, "digests", {}, page=page, total=total)
            names = [*self.digests, *sorted(set(last) - set(self.digests))]
            return self.render(request, "digests.html.j2", title="Digests", names=names, last=last,
                               configured=self.digests, attempts=attempts, delivered=delivered,
                               pagination=pagination)

    def feed_document(self, request: Request) -> Response:
        name = request.path_params["topic"]
        with self.sessions() as session:
            known = {*self.topics, *(summary.name for summary in topic_summaries(session, ()))}
            if name not in known and name != ALL_TOPICS:
                raise HTTPException(404, f"no topic called {one_line(name)!r}")
            topic = None if name == ALL_TOPICS and name not in known else name
            document = read_feed(session, topic=topic, limit=FEED_LIMIT, now=datetime.now(timezone.utc),
                                 self_url=str(request.url.replace(query="", fragment="")))
        return Response(document, media_type=FEED_MEDIA_TYPE)

    @staticmethod
    def static_file(name: str, media_type: str) -> Callable[[Request], Response]:
        """A page answering with file `name` of the templates folder (read once: it is part of the package)."""
        content = (TEMPLATES / name).read_bytes()

        def serve(request: Request) -> Response:
            return Response(content, media_type=media_type, headers={"cache-control": "max-age=3600"})

        return serve

    # Errors: a page of their own, with the same headers and escaping as any other.

    def error_page(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return self.render(request, "error.html.j2", status_code=error.status_code, headers=error.headers,
                           title=f"{error.status_code}", message=error.detail)

    def store_unavailable(self, request: Request, error: Exception) -> Response:
        logger.warning("the store could not be read: %s", one_line(str(getattr(error, "orig", error))))
        return self.render(request, "error.html.j2", status_code=503, title="503",
                           message="the archive cannot be read right now; try again in a moment")

    # Rendering.

    def render(self, request: Request, template: str, *, status_code: int = 200,
               headers: Mapping[str, str] | None = None, **context: Any) -> Response:
        """`template` rendered (autoescaped) with `context`, and `url(name, ...)` for links."""
        def url(route: str, **params: Any) -> str:
            return self.url(request, route, **params)

        html = self.templates.get_template(template).render(url=url, page_path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def url(self, request: Request, route: str, *, query: dict[str, Any] | None = None, **params: Any) -> str:
        """The path of `route` under the prefix the app is served at, with `query` when given."""
        path = request.scope.get("root_path", "").rstrip("/") + str(self.app.url_path_for(route, **params))
        return f"{path}?{urlencode(query)}" if query else path

    def _pagination(self, request: Request, route: str, params: dict[str, Any], *, page: int,
                    total: int) -> Pagination:
        pages = max(1, -(-total // PAGE_SIZE))
        if page > pages:
            raise HTTPException(404, f"no page {page}: there are {pages}")
        return Pagination(
            page, pages,
            self.url(request, route, query={"page": page - 1} if page > 2 else None, **params) if page > 1 else None,
            self.url(request, route, query={"page": page + 1}, **params) if page < pages else None)


def _page_number(request: Request) -> int:
    """`?page=N` (1 when absent); anything but a whole number from 1 is a 400."""
    value = request.query_params.get("page", "1")
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE:
        raise HTTPException(400, f"page: expected a whole number from 1 to {MAX_PAGE:,}")
    return int(value)


class _SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response, the server's own error pages included (it wraps the
    whole app, outside Starlette's error middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

