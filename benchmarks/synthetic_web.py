"""A synthetic fixture web of thousands of article pages, built from the real fixture pages.

Why: the bundled fixture web (fixtures/web) has a dozen articles, too few to measure throughput or
memory. This scales it up while keeping what makes it realistic: every article page is one of the real
fixture pages (fixtures/web, three publishers' markup and furniture) with a new URL, headline, date
and body. Bodies are drawn from the sentences of those pages, whose seed pages carry the seed texts
(fixtures/seeds) verbatim; country names are swapped so that a chosen share of pages is on topic
for the default Taiwan–Japan query, and each page is labelled with `crawler.topics.match_topics`.
Sizes vary: 3 to 60 paragraphs, 5 to 60 related links, and an inline script blob of 1 to 40 KB (real
news pages carry far more markup than text).

Each publisher is discovered the way its real site is: Focus Taiwan through a FeedBurner RSS feed
(latest `feed_items`) and the news sitemap its robots.txt names; Kyodo through its home page (latest
50) and the sitemap in its robots.txt; Taiwan News through a sitemap index of 500-URL sitemaps and an
Atom feed. `build_many_host_web` spreads the pages over many hosts instead, one source each. The layout
is `<root>/<host>/...` for `fixtures.server.FixtureWeb(roots=[root])`.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from kuroshio.crawler.topics import Topic, default_topics, match_topics

REPO = Path(__file__).resolve().parents[1]
FIXTURE_WEB = REPO / "fixtures" / "web"
SITEMAP_CHUNK = 500
TEMPLATE_MARKER = re.compile(r"<!-- Kuroshio fixture page .*? -->\n")


@dataclass(frozen=True)
class SyntheticPublisher:
    """How one synthetic publisher's pages and discovery documents look."""

    source: str
    host: str
    templates: tuple[str, ...]  # fixture pages, relative to FIXTURE_WEB/host
    body_class: str  # the div holding the body paragraphs
    offset_hours: int
    templates_from: str = ""  # the fixture host whose pages are the templates; default: `host`


PUBLISHERS = (
    SyntheticPublisher("focus-taiwan", "focustaiwan.test",
              ("business/202512020023.html", "business/202512010008.html", "politics/202511280012.html"),
              "paragraph", 8),
    SyntheticPublisher("kyodo", "english.kyodonews.test",
              ("articles/-/38517.html", "articles/-/38544.html", "articles/-/36871.html"), "article-body", 9),
    SyntheticPublisher("taiwan-news", "www.taiwannews.test",
              ("en/news/6113842.html", "en/news/6113655.html", "en/news/6113790.html"), "article-content", 8),
)
FEED_HOST = "feeds.feedburner.test"

SOURCES_TOML = """
[[sources]]
name = "focus-taiwan"
feeds = ["http://feeds.feedburner.test/rsscna/engnews"]
allowed_domains = ["focustaiwan.test"]
article_url_pattern = '^https?://focustaiwan\\.test/[a-z-]+/\\d{12}$'
publisher = "focus-taiwan"

[[sources]]
name = "kyodo"
listing_pages = ["http://english.kyodonews.test/"]
article_url_pattern = '/articles/-/\\d+'
allowed_domains = ["english.kyodonews.test"]
publisher = "kyodo"

[[sources]]
name = "taiwan-news"
sitemaps = ["http://www.taiwannews.test/sitemap.xml"]
article_url_pattern = '/en/news/\\d+$'
allowed_domains = ["www.taiwannews.test"]
publisher = "taiwan-news"
"""

# Swapping one side's names takes a sentence off the Taiwan–Japan topic, keeping its shape and length.
TAIWAN_SIDE = {"Taiwanese": "Vietnamese", "Taiwan": "Vietnam", "Taipei": "Hanoi", "Kaohsiung": "Da Nang"}
JAPAN_SIDE = {"Japanese": "Korean", "Japan": "Korea", "Tokyo": "Seoul", "Kumamoto": "Busan", "Osaka": "Incheon"}
KINDS = ("on-topic", "taiwan-only", "japan-only", "neither")
SECTIONS = ("politics", "business", "society", "sci-tech", "culture", "sports", "cross-strait")
HEADLINE_SUBJECTS = ("Taiwan", "Japan", "Taipei", "Tokyo", "Lawmakers", "Officials", "Chipmakers", "Exporters",
                     "Regulators", "Rail operator", "City council", "Economics minister", "Coast guard")
HEADLINE_PREDICATES = ("urges deeper cooperation with Japan on AI", "weighs new subsidies for rural bus routes",
                       "extends free school lunches", "plans offshore wind tender", "reports record tourist arrivals",
                       "tightens drunk driving penalties", "adds evening tickets for expo visitors",
                       "signs chip supply deal with Taiwan", "opens second fab in Kumamoto",
                       "holds disaster drill with Japanese team", "raises minimum wage", "bans late-night trains")
SCRIPT_WORDS = ("adSlot", "viewport", "consent", "tracking", "section", "related", "analytics", "lazyload")


@dataclass(frozen=True)
class SyntheticPage:
    """One generated article page: where it is served and what a crawl should make of it."""

    url: str
    path: Path
    source: str
    publisher: str
    on_topic: bool
    title: str
    published_at: datetime


@dataclass(frozen=True)
class SyntheticWeb:
    """A generated web under `root`, its article pages, and the `[[sources]]` that crawl it."""

    root: Path
    pages: tuple[SyntheticPage, ...]
    sources_toml: str

    @property
    def total_bytes(self) -> int:
        """Bytes of every article page."""
        return sum(page.path.stat().st_size for page in self.pages)


def build_synthetic_web(root: Path, *, articles: int, on_topic_share: float = 0.2, feed_items: int = 100,
                        seed: int = 20251202) -> SyntheticWeb:
    """Write `articles` article pages (split over the three publishers) with their feeds and sitemaps."""
    rng = random.Random(seed)
    sentences = sentence_pool()
    topics = default_topics()
    pages: list[SyntheticPage] = []
    for position, publisher in enumerate(PUBLISHERS):
        count = articles // len(PUBLISHERS) + (1 if position < articles % len(PUBLISHERS) else 0)
        templates = [_Template.load(publisher, name) for name in publisher.templates]
        published_pages = []
        for number in range(count):
            on_topic = rng.random() < on_topic_share
            page = _write_page(root, publisher, rng.choice(templates), number, sentences=sentences, rng=rng,
                               on_topic=on_topic, topics=topics)
            published_pages.append(page)
        published_pages.sort(key=lambda page: page.published_at, reverse=True)
        _write_discovery(root, publisher, published_pages, feed_items=feed_items)
        pages.extend(published_pages)
    return SyntheticWeb(root=root, pages=tuple(pages), sources_toml=SOURCES_TOML)


# Article URL patterns that hold on any host, for the many-host web.
HOSTLESS_PATTERNS = {"focus-taiwan": "/[a-z-]+/\\d{12}$", "kyodo": "/articles/-/\\d+", "taiwan-news": "/en/news/\\d+$"}


def build_many_host_web(root: Path, *, articles: int, hosts: int, on_topic_share: float = 0.2,
                        seed: int = 20251202) -> SyntheticWeb:
    """`articles` article pages over `hosts` hosts, one source each, as a monitor of many sites sees them.

    Host number i copies publisher i mod 3 (its markup, its URLs, its robots.txt and sitemaps) under the
    name `nNN.<publisher host>`; each source is discovered through its host's sitemap (a news site's
    usual way), so every host costs the same robots.txt and sitemap requests a real one would.
    """
    rng = random.Random(seed)
    sentences = sentence_pool()
    topics = default_topics()
    pages: list[SyntheticPage] = []
    sources = []
    for number in range(hosts):
        original = PUBLISHERS[number % len(PUBLISHERS)]
        publisher = replace(original, host=f"n{number:02d}.{original.host}", templates_from=original.host)
        templates = [_Template.load(publisher, name) for name in publisher.templates]
        count = articles // hosts + (1 if number < articles % hosts else 0)
        host_pages = sorted((_write_page(root, publisher, rng.choice(templates), index, sentences=sentences, rng=rng,
                                         on_topic=rng.random() < on_topic_share, topics=topics)
                             for index in range(count)), key=lambda page: page.published_at, reverse=True)
        _write_discovery(root, publisher, host_pages, feed_items=0)
        pages.extend(host_pages)
        sitemap = "sitemap-news.xml" if publisher.source == "focus-taiwan" else "sitemap.xml"
        sources.append(f'\n[[sources]]\nname = "{publisher.source}-{number:02d}"\n'
                       f'sitemaps = ["http://{publisher.host}/{sitemap}"]\nrobots_sitemaps = false\n'
                       f"article_url_pattern = '{HOSTLESS_PATTERNS[publisher.source]}'\n"
                       f'allowed_domains = ["{publisher.host}"]\npublisher = "{publisher.source}"\n')
    return SyntheticWeb(root=root, pages=tuple(pages), sources_toml="".join(sources))


# --- text ----------------------------------------------------------------------------------------


def sentence_pool() -> list[str]:
    """Every body sentence of the template pages (the seed texts among them)."""
    pool: list[str] = []
    for publisher in PUBLISHERS:
        for name in publisher.templates:
            template = _Template.load(publisher, name)
            for paragraph in template.body_texts:
                pool.extend(part for part in re.split(r"(?<=[.!?”\"])\s+(?=[A-Z“\"])", paragraph) if len(part) > 30)
    return pool


def _swap(text: str, names: dict[str, str]) -> str:
    for name, replacement in names.items():
        text = re.sub(rf"\b{name}\b", replacement, text)
    return text


def neutralise(text: str, kind: str) -> str:
    """`text` with the names of the sides `kind` must not mention swapped out."""
    if kind in ("japan-only", "neither"):
        text = _swap(text, TAIWAN_SIDE)
    if kind in ("taiwan-only", "neither"):
        text = _swap(text, JAPAN_SIDE)
    return text


def _article_text(sentences: Sequence[str], rng: random.Random, *, kind: str) -> tuple[str, list[str]]:
    """A headline and body paragraphs for a page of `kind`."""
    title = neutralise(f"{rng.choice(HEADLINE_SUBJECTS)} {rng.choice(HEADLINE_PREDICATES)}", kind)
    paragraph_count = max(3, min(60, round(rng.lognormvariate(2.2, 0.6))))
    paragraphs = []
    for _ in range(paragraph_count):
        chosen = [rng.choice(sentences) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:  # a figure makes each page's text unique, so no page is a duplicate of another
            chosen.append(f"About {rng.randint(1_000, 999_999):,} people were affected, officials said.")
        paragraphs.append(neutralise(" ".join(chosen), kind))
    return title, paragraphs


# --- pages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    """A real fixture article page, split around the parts a new page replaces."""

    publisher: SyntheticPublisher
    html: str
    url: str
    title: str
    description: str
    published: str
    body_start: int
    body_end: int
    body_texts: tuple[str, ...]
    kept_elements: tuple[str, ...]  # figures, bylines, related-coverage lines: furniture to keep

    @classmethod
    def load(cls, publisher: SyntheticPublisher, name: str) -> _Template:
        text = TEMPLATE_MARKER.sub("", (FIXTURE_WEB / (publisher.templates_from or publisher.host) / name).read_text(encoding="utf-8"), count=1)
        meta = {key: html.unescape(value) for key, value in
                re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', text)}
        opening = f'<div class="{publisher.body_class}">'
        body_start = text.index(opening) + len(opening)
        body_end = text.index("\n    </div>", body_start)
        elements = re.findall(r"<p>.*?</p>|<figure.*?</figure>", text[body_start:body_end], flags=re.S)
        body_texts = tuple(html.unescape(re.sub(r"<[^>]+>", "", element)) for element in elements
                           if cls._is_body_paragraph(element))
        kept = tuple(element for element in elements if not cls._is_body_paragraph(element))
        return cls(publisher, text, meta["og:url"], meta["og:title"], meta["og:description"],
                   meta["article:published_time"], body_start, body_end, body_texts, kept)

    @staticmethod
    def _is_body_paragraph(element: str) -> bool:
        plain = re.sub(r"<[^>]+>", "", element)
        return element.startswith("<p>") and len(plain) > 60 and not plain.startswith("(By ")

    def render(self, *, url: str, title: str, description: str, published: str, paragraphs: Sequence[str],
               related: Sequence[tuple[str, str]], script_bytes: int, rng: random.Random) -> str:
        indent = "\n      "
        body = [f"<p>{html.escape(text, quote=False)}</p>" for text in paragraphs]
        figures = [element for element in self.kept_elements if element.startswith("<figure")]
        trailing = [element for element in self.kept_elements if not element.startswith("<figure")]
        body[2:2] = figures
        inner = indent + indent.join(body + trailing)
        page = self.html[: self.body_start] + inner + self.html[self.body_end:]
        for old, new in ((self.url, url), (self.published, published)):
            page = page.replace(old, new)
        for old, new in ((self.title, title), (self.description, description)):
            page = page.replace(html.escape(old, quote=False), html.escape(new, quote=False))
            page = page.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
        links = "".join(f'\n    <li><a href="{href}">{html.escape(text)}</a></li>' for href, text in related)
        aside = f'<aside class="more-news">\n  <h2>More News</h2>\n  <ul>{links}\n  </ul>\n</aside>\n'
        page = page.replace("</main>", aside + "</main>", 1)
        return page.replace("</body>", _script_blob(script_bytes, rng) + "</body>", 1)


def _script_blob(size: int, rng: random.Random) -> str:
    """An inline configuration script of about `size` bytes, as news pages carry for ads and analytics."""
    entries = []
    while sum(map(len, entries)) < size:
        entries.append(json.dumps({"id": rng.randint(1, 10**9), "slot": rng.choice(SCRIPT_WORDS),
                                   "sizes": [[rng.choice((300, 728, 970)), rng.choice((90, 250, 600))]]}))
    return f"<script>window.__PAGE_CONFIG__ = [{','.join(entries)}];</script>\n"


def _article_path(publisher: SyntheticPublisher, number: int, published_at: datetime, rng: random.Random) -> str:
    if publisher.source == "focus-taiwan":
        return f"/{rng.choice(SECTIONS)}/{published_at:%Y%m%d}{number:04d}"
    if publisher.source == "kyodo":
        return f"/articles/-/{40000 + number}"
    return f"/en/news/{6200000 + number}"


def _write_page(root: Path, publisher: SyntheticPublisher, template: _Template, number: int, *, sentences: Sequence[str],
                rng: random.Random, on_topic: bool, topics: Sequence[Topic]) -> SyntheticPage:
    zone = timezone(timedelta(hours=publisher.offset_hours))
    published_at = datetime(2025, 1, 1, tzinfo=zone) + timedelta(minutes=rng.randint(0, 330 * 24 * 60))
    url = f"http://{publisher.host}{_article_path(publisher, number, published_at, rng)}"
    while True:  # draw until the topic filter agrees with the kind asked for
        kind = "on-topic" if on_topic else rng.choice(KINDS[1:])
        title, paragraphs = _article_text(sentences, rng, kind=kind)
        if bool(match_topics(topics, title=title, text="\n\n".join(paragraphs))) == on_topic:
            break
    related = [(f"/{rng.choice(SECTIONS)}", neutralise(f"{rng.choice(HEADLINE_SUBJECTS)} "
                                                       f"{rng.choice(HEADLINE_PREDICATES)}", "neither"))
               for _ in range(rng.randint(5, 60))]
    page = template.render(url=url, title=title, description=paragraphs[0][:200],
                           published=published_at.isoformat(), paragraphs=paragraphs, related=related,
                           script_bytes=rng.randint(1_000, 40_000), rng=rng)
    path = root / publisher.host / (url.split("/", 3)[3] + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return SyntheticPage(url, path, publisher.source, publisher.source, on_topic, title, published_at)


# --- discovery documents -------------------------------------------------------------------------


def _write_discovery(root: Path, publisher: SyntheticPublisher, pages: Sequence[SyntheticPage], *, feed_items: int) -> None:
    """robots.txt, sitemaps and the feed or home page of one publisher (`pages` newest first)."""
    host_dir = root / publisher.host
    _write_home_page(host_dir, publisher, pages)
    if publisher.source == "focus-taiwan":
        _write(host_dir / "sitemap-news.xml", _urlset(pages))
        _write(host_dir / "robots.txt", _robots(publisher.host, ["sitemap-news.xml"]))
        if feed_items:
            _write(root / FEED_HOST / "robots.txt", "User-agent: *\nDisallow:\n")
            write_rss_feed(root, pages[:feed_items])
    elif publisher.source == "kyodo":
        _write(host_dir / "sitemap.xml", _urlset(pages))
        _write(host_dir / "robots.txt", _robots(publisher.host, ["sitemap.xml"]))
    else:
        chunks = [pages[start:start + SITEMAP_CHUNK] for start in range(0, len(pages), SITEMAP_CHUNK)]
        names = [f"sitemap-{number + 1}.xml" for number in range(len(chunks))]
        for name, chunk in zip(names, chunks):
            _write(host_dir / name, _urlset(chunk))
        entries = "".join(f"\n  <sitemap><loc>http://{publisher.host}/{name}</loc></sitemap>" for name in names)
        _write(host_dir / "sitemap.xml", '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex '
                                         f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}\n</sitemapindex>\n')
        _write(host_dir / "robots.txt", _robots(publisher.host, ["sitemap.xml"]))


def _write_home_page(host_dir: Path, publisher: SyntheticPublisher, pages: Sequence[SyntheticPage]) -> None:
    """The latest 50 headlines: Kyodo's source starts here, and other crawlers expect a home page."""
    links = "".join(f'\n    <li><a href="{page.url.split(publisher.host)[1]}">{html.escape(page.title)}</a></li>'
                    for page in pages[:50])
    _write(host_dir / "index.html", f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                    f"<title>{publisher.source}</title></head><body><main><ul>{links}\n</ul></main>"
                                    f"</body></html>\n")


def write_rss_feed(root: Path, pages: Sequence[SyntheticPage]) -> None:
    """The Focus Taiwan FeedBurner feed listing `pages` (rewritten in place by the daemon benchmark)."""
    items = "".join(
        f"\n    <item><title>{xml_escape(page.title)}</title>"
        f"<link>{xml_escape(page.url)}?utm_source=feedburner&amp;utm_medium=rss</link>"
        f"<pubDate>{page.published_at.strftime('%a, %d %b %Y %H:%M:%S %z')}</pubDate></item>"
        for page in pages
    )
    feed = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Focus Taiwan</title>'
            f"<link>http://focustaiwan.test/</link><description>CNA English News</description>{items}\n"
            "</channel></rss>\n")
    path = root / FEED_HOST / "rsscna" / "engnews"
    _write(path.with_name("engnews.headers.json"), '{"headers": {"Content-Type": "application/rss+xml; charset=UTF-8"}}')
    staging = path.with_name("engnews.partial")
    _write(staging, feed)
    staging.replace(path)  # atomic: a crawl never reads half a feed


def _urlset(pages: Sequence[SyntheticPage]) -> str:
    entries = "".join(f"\n  <url><loc>{xml_escape(page.url)}</loc><lastmod>{page.published_at.isoformat()}</lastmod></url>"
                      for page in pages)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{entries}\n</urlset>\n")


def _robots(host: str, sitemaps: Sequence[str]) -> str:
    lines = "".join(f"Sitemap: http://{host}/{name}\n" for name in sitemaps)
    return f"User-agent: *\nDisallow: /search\n\n{lines}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
