"""Is this page an article, and is it whole? The evidence `crawler.extract` weighs, the same in every script.

A page is judged on what it shows, not on a character count (200 characters refused every Chinese or
Japanese wire brief, and a 190-character English one):

- **Size in words, fairly across scripts.** A run of letters or digits in a spaced script (Latin, Hangul,
  Cyrillic…) is one word; a Han, hiragana or katakana character is half a word (`text_words`). A rule
  of thumb, not a measured constant: a Chinese word is one to two characters, and Japanese spends more
  (kana spell out particles and endings), so a story comes to roughly one and a half to two characters
  of Chinese, two to three of Japanese, per word of its English telling; half a word per character
  sits between them. The wire briefs of `fixtures/hostile/briefs/`, each story told in four
  languages, are 2.5–4.5 times apart in characters and about 1.5 times at most in words.
- **Sentences** (`sentence_count`): runs of at least `MIN_SENTENCE_WORDS` words ending in . ! ? … or
  。！？ (a closing quote or bracket may follow). Shorter fragments — "Log in.", "Already a
  subscriber?", "Photo: CNA." — are page furniture; headings and labels end in no stop at all.
- **Article markup** (`PageEvidence.markup`): a JSON-LD or microdata article type (NewsArticle,
  Article, ReportageNews, BlogPosting…), `og:type` article, a publication date in the markup, an
  `<article>` element or an `itemprop=articleBody` container. `<main>` is not counted: every page has
  one, error and about pages included.
- **A declared paywall** (`PageEvidence.paywalled`): `isAccessibleForFree` false in JSON-LD (the page or
  a `hasPart`) or microdata, Google's documented markup for paywalled content, when the paid part it
  names (`hasPart.cssSelector`) was not served with text. Metered sites (the Los Angeles Times on the
  extraction benchmark) declare a paid part and serve it whole: that page is complete.
- **A truncation notice** in the text (`TRUNCATION_NOTICES`, e.g. Focus Taiwan's archive notice),
  removed from the text by `drop_truncation_notices`.

The rule (`too_little_text`): an article has `MIN_TEXT_WORDS` words (a paragraph: what the old
200-character floor asked of English, now asked of every script alike); or `MIN_BRIEF_SENTENCES`
sentences on a page marked up as an article (a wire brief); or, on a page that shows the article only in
part (a declared paywall, a truncation notice), one sentence: its lead, stored as a partial article.
Index pages (mostly link labels), empty pages and consent walls are refused by `crawler.extract` beside
this rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.etree
import lxml.html

from kuroshio.storage.text import SENTENCE_STOP

# A paragraph's worth of words: the old floor of 200 characters is 33-35 English words.
MIN_TEXT_WORDS = 30
# A brief: two sentences on a page that marks itself up as an article.
MIN_BRIEF_SENTENCES = 2
# Shorter runs ending in a stop are fragments ("Log in.", "Already a subscriber?"), not sentences.
MIN_SENTENCE_WORDS = 4

# Han (with the CJK extension blocks and iteration marks), hiragana, katakana, half-width katakana.
_HAN_KANA = re.compile(
    "[\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f]"
)
_WORD = re.compile(r"[^\W_]+")

ARTICLE_TYPES = frozenset({"ReportageNews", "BlogPosting", "LiveBlogPosting", "Report"})
_JSON_LD = lxml.etree.XPath("//script[@type='application/ld+json']/text()")
_ARTICLE_CONTAINER = lxml.etree.XPath("//article | //*[@itemprop='articleBody']")
_OG_TYPE = lxml.etree.XPath("//meta[@property='og:type']/@content")
_ITEMTYPES = lxml.etree.XPath("//*[@itemtype]/@itemtype")
_MARKUP_DATE = lxml.etree.XPath(
    "//meta[@property='article:published_time' or @name='article:published_time' or @itemprop='datePublished']"
    " | //time[@itemprop='datePublished']"
)
_MICRODATA_FREE = lxml.etree.XPath("//meta[@itemprop='isAccessibleForFree']/@content")
_CLASS_SELECTOR = re.compile(r"(?P<tag>[a-zA-Z][\w-]*)?(?P<classes>(?:\.[\w-]+)+)")

# Lines in which a publisher says the rest of the story is not on the page. The line goes; the
# article is stored as partial.
TRUNCATION_NOTICES = (
    # Focus Taiwan (CNA English) shows a story older than a few months as its lead and this line:
    # "(Full text of the story is now in CNA English news archive. To view ...)".
    re.compile(r"\(?\s*Full text of the story is now in CNA English news archive\b.*", re.IGNORECASE),
)


@dataclass(frozen=True, slots=True)
class PageEvidence:
    """What a page's markup says about it, read before extraction.

    `markup` names the article markup found (empty: none); `paywalled` is true when the page declares
    content that is not free and that content was not served.
    """

    markup: tuple[str, ...]
    paywalled: bool


def page_evidence(tree: lxml.html.HtmlElement) -> PageEvidence:
    """The article markup and the declared paywall of the page `tree`."""
    nodes = list(_json_ld_nodes(tree))
    markup: list[str] = []
    types = {name for node in nodes for name in _types(node)} | {
        str(itemtype).rstrip("/").rsplit("/", 1)[-1] for itemtype in _ITEMTYPES(tree)
    }
    if article_types := sorted(name for name in types if _is_article_type(name)):
        markup.append(f"schema.org {article_types[0]}")
    if any(str(value).strip().lower() == "article" for value in _OG_TYPE(tree)):
        markup.append("og:type article")
    if _MARKUP_DATE(tree) or any("datePublished" in node for node in nodes):
        markup.append("a publication date")
    if _ARTICLE_CONTAINER(tree):
        markup.append("an article container")
    return PageEvidence(markup=tuple(markup), paywalled=_paywalled(tree, nodes))


def text_words(text: str) -> float:
    """The size of `text` in words: a word per run of letters or digits in spaced scripts, half a word
    per Han, hiragana or katakana character."""
    han_kana = len(_HAN_KANA.findall(text))
    return len(_WORD.findall(_HAN_KANA.sub(" ", text))) + han_kana / 2


def sentence_count(text: str) -> int:
    """How many sentences of at least `MIN_SENTENCE_WORDS` words, each ending in a stop, `text` holds."""
    count = 0
    for paragraph in text.split("\n"):
        start = 0
        for end in SENTENCE_STOP.finditer(paragraph):
            if text_words(paragraph[start:end.end()]) >= MIN_SENTENCE_WORDS:
                count += 1
            start = end.end()
    return count


def drop_truncation_notices(text: str) -> tuple[str, bool]:
    """`text` without the lines that say the story goes on elsewhere, and whether there was one."""
    paragraphs = text.split("\n\n")
    kept = [line for line in paragraphs if not any(notice.fullmatch(line.strip()) for notice in TRUNCATION_NOTICES)]
    return "\n\n".join(kept), len(kept) < len(paragraphs)


def too_little_text(text: str, *, markup: tuple[str, ...], partial: bool) -> str | None:
    """Why `text` is too little to be an article on a page with `markup`, or None when it is enough.

    `partial`: the page shows the article only in part (a paywall, an archive teaser); its lead is enough.
    """
    words = text_words(text)
    if words >= MIN_TEXT_WORDS:
        return None
    sentences = sentence_count(text)
    if (partial and sentences) or (sentences >= MIN_BRIEF_SENTENCES and markup):
        return None
    if partial:
        needs = "its lead sentence: the page shows the article only in part"
    else:
        needs = f"{MIN_TEXT_WORDS} words, or {MIN_BRIEF_SENTENCES} sentences on a page marked up as an article"
    found = f"marked up with {', '.join(markup)}" if markup else "no article markup"
    return (f"article text too short: {_counted(round(words), 'word')} in {_counted(sentences, 'sentence')}, "
            f"{found} (needs {needs})")


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _paywalled(tree: lxml.html.HtmlElement, nodes: list[dict[str, object]]) -> bool:
    """Whether the page declares content that is not free (JSON-LD or microdata `isAccessibleForFree`
    false) and did not serve the paid part it names; a declaration naming no part counts as unserved."""
    declared = any(_is_false(value) for value in _MICRODATA_FREE(tree))
    selectors: list[str] = []
    for node in nodes:
        if _is_false(node.get("isAccessibleForFree")):
            declared = True
            for selector in _strings(node.get("cssSelector")):
                selectors.extend(part.strip() for part in selector.split(","))
    if not declared:
        return False
    return not any(_served(tree, selector) for selector in selectors)


def _served(tree: lxml.html.HtmlElement, selector: str) -> bool:
    """Whether an element matching the class selector `selector` (`.paywall`, `div.body.locked`: the
    only form Google's guidelines allow) holds text."""
    match = _CLASS_SELECTOR.fullmatch(selector)
    if match is None:
        return False
    tests = [f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')" for name in match["classes"][1:].split(".")]
    elements = tree.xpath(f"//{match['tag'] or '*'}[{' and '.join(tests)}]")
    return any(element.text_content().strip() for element in elements)


def _json_ld_nodes(tree: lxml.html.HtmlElement) -> Iterator[dict[str, object]]:
    """Every object in the page's JSON-LD, nested ones (`@graph`, `hasPart`) included."""
    for script in _JSON_LD(tree):
        try:
            data = json.loads(script, strict=False)
        except (ValueError, RecursionError):  # nested past Python's recursion limit: no usable data
            continue
        yield from _objects(data)


def _objects(data: object) -> Iterator[dict[str, object]]:
    if isinstance(data, dict):
        yield data
        data = list(data.values())
    if isinstance(data, list):
        for value in data:
            yield from _objects(value)


def _types(node: dict[str, object]) -> Iterator[str]:
    for name in _strings(node.get("@type")):
        yield name.rstrip("/").rsplit("/", 1)[-1].removeprefix("schema:")


def _is_article_type(name: str) -> bool:
    return name.endswith("Article") or name in ARTICLE_TYPES


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _is_false(value: object) -> bool:
    """JSON-LD `false`, or the string forms publishers write ("False", "false")."""
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")
