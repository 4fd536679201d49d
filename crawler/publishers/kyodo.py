"""Kyodo News English: english.kyodonews.net.

Two markup generations: the current CMS (2025-, articles at `/articles/-/<id>`, body in
`div.article-body__inner`) and the one before it (`/news/YYYY/MM/<hash>-<slug>.html`). Both carry a
JSON-LD NewsArticle; the old one's `datePublished` has no UTC offset, and Kyodo's clock is Japan
time, so such a date is read as +09:00 (the listing pages' `<time datetime>` lack one too). Its
author is often "KYODO NEWS": the agency's credit, never a person's name. The visible line
"KYODO NEWS - Jun 16, 2023 - 17:05 | All, Japan" is a date of last resort.

Photo captions (ending in "(Kyodo)", on the old CMS "(Kyodo) ==Kyodo") sit in figures between or
above body paragraphs; a "Related coverage:" paragraph followed by linked headlines closes the
article, which trafilatura keeps.
"""

from kuroshio.crawler.publishers import Publisher

RELATED_COVERAGE = "//p[starts-with(normalize-space(.), 'Related coverage')]"
# The agencies a Kyodo caption credits, in brackets at its end.
CAPTION_CREDIT = r"\((?:Kyodo|Pool|AP|AFP|Reuters|Getty|Photo courtesy of [^)]{1,80})\)(?:\s*==Kyodo)?"

PUBLISHER = Publisher(
    name="kyodo",
    prune_xpaths=(
        # The headlines first (paragraphs that are nothing but one link), while the heading that
        # locates them is still in the tree: trafilatura prunes in order.
        f"{RELATED_COVERAGE}/following-sibling::p[a and normalize-space(.) = normalize-space(a)]",
        RELATED_COVERAGE,
    ),
    prune_texts=(
        rf".{{0,400}}{CAPTION_CREDIT}",  # a photo caption
        r"KYODO NEWS(?:\s*-\s*[^|]{1,40}){0,2}(?:\s*\|.{0,120})?",  # the credit and date line
    ),
    drop_lines=(r"(?:Copyright\s*)?©\s*(?:\d{4}\s*)?Kyodo News\b.{0,80}",),
    credits=(r"KYODO NEWS", r"Kyodo(?: News)?(?:\+| Plus)?"),
    timezone="Asia/Tokyo",
    date_formats=("%b %d, %Y - %H:%M",),
)
