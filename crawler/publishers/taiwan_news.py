"""Taiwan News (English): www.taiwannews.com.tw.

Two markup generations: the Next.js site (2024-, articles at `/news/<id>`, `/zh/news/<id>` for the
Chinese edition) and the server-rendered one before it (`/en/news/<id>`). The current pages keep the
body in `div[itemprop=articleBody]` and name each author in a link to `/en/journalist/<id>`; the old
ones wrote "Name, Taiwan News, Staff Writer". `article:published_time` is often there, but not
always: the visible stamp near the headline ("Mar. 31, 2024 20:29"; before 2024 "2019/01/14 17:45")
is Taipei time. The sitemap's `lastmod` is frozen, never a publication date.

Around the body: Google Publisher Tag slots (`div-gpt-ad-*`, GPT's own naming), photo captions
ending in a credit "(CNA photo)", "Related Articles" and "Most Read" lists, tags.
"""

from kuroshio.crawler.publishers import Publisher

# A list of other stories under its heading, told by the heading's words.
STORY_LISTS = ("Related Articles", "Most Read", "Popular", "Latest")
_HEADING = " or ".join(f"normalize-space() = '{heading}'" for heading in STORY_LISTS)

PUBLISHER = Publisher(
    name="taiwan-news",
    prune_xpaths=(
        "//div[starts-with(@id, 'div-gpt-ad')]",
        f"//*[self::h2 or self::h3][{_HEADING}]/following-sibling::*[1][self::ul or self::ol]",
        f"//*[self::h2 or self::h3][{_HEADING}]",
    ),
    prune_texts=(r".{0,300}\([^()]{0,100}\b(?:photo|image|screenshot)s?\)",),  # a photo caption
    drop_lines=(r"(?:Copyright\s*)?©\s*(?:\d{4}\s*)?Taiwan News\b.{0,80}",),
    author_xpaths=(
        # Links to the journalists' pages above the body (the current site) ...
        "//a[contains(@href, '/journalist/')][following::*[@itemprop='articleBody']]",
        # ... or the old byline "Name, Taiwan News, Staff Writer" near the headline.
        "(//h1/following::*[not(*)][position() <= 30][contains(normalize-space(), ', Taiwan News, ')])[1]",
    ),
    credits=(r"Taiwan News", r"(?:Staff|Contributing|Senior) (?:Writer|Reporter|Editor)", r"Reporter|Editor|Intern"),
    timezone="Asia/Taipei",
    date_formats=("%b %d, %Y %H:%M", "%Y/%m/%d %H:%M"),
)
