"""Which of a publisher's rules match on one page: what `kuroshio extract` shows beside the article.

Outside the extraction path and read-only: each rule of a `Publisher` is tried on the page the way
`crawler.extract` applies it — prune XPaths and the author elements on the parsed page; furniture texts,
drop lines and the byline on each element's whole text (white space folded); the date formats on the
elements after the headline, where the visible date stamp is looked for — and reported with how often
it matched and its first match, so an operator can tell why a caption, a byline or a date did or did
not go. A drop line or byline is matched by extraction on trafilatura's text lines, which are the page's
elements' texts in the common case; the report names the elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import lxml.etree
import lxml.html

from kuroshio.crawler.publishers import DATE_STAMP_ELEMENTS, MAX_PRUNED_TEXT_CHARS, Publisher
from kuroshio.storage.text import one_line

EXAMPLE_CHARS = 80
_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
_DATE_STAMP_SCOPE = f"//h1/following::*[position() <= {DATE_STAMP_ELEMENTS}]"


@dataclass(frozen=True)
class RuleMatch:
    """One rule of a publisher, and what it matched on the page."""

    kind: str  # the Publisher field: prune_xpaths, prune_texts, drop_lines, byline, author_xpaths, date_formats
    rule: str  # as declared
    matches: int  # elements it matched (0: none on this page)
    example: str  # the first match's text, on one line and cut; "" when none


def rules_on_page(html: str, publisher: Publisher) -> list[RuleMatch]:
    """Every rule of `publisher`, tried on the page `html` (decoded text)."""
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return []
    texts = _element_texts(tree)
    matches = [_xpath_match("prune_xpaths", xpath, tree) for xpath in publisher.prune_xpaths]
    matches += [_text_match("prune_texts", pattern, texts, partial(_whole, pattern)) for pattern in publisher.prune_texts]
    matches += [_text_match("drop_lines", pattern, texts, partial(_whole, pattern)) for pattern in publisher.drop_lines]
    if publisher.byline:
        matches.append(_text_match("byline", publisher.byline, texts,
                                   lambda text: publisher.byline_authors(text) is not None))
    matches += [_xpath_match("author_xpaths", xpath, tree) for xpath in publisher.author_xpaths]
    matches += [_date_match(date_format, tree, publisher) for date_format in publisher.date_formats]
    return matches


def _whole(pattern: str, text: str) -> bool:
    """Whether `pattern` matches the whole of `text`, as every text rule of a publisher is matched."""
    return re.fullmatch(pattern, text) is not None


def _element_texts(tree: lxml.html.HtmlElement) -> list[str]:
    """The elements' whole texts, white space folded, each once (a wrapper and its only child are one
    text), when short enough to be furniture (`MAX_PRUNED_TEXT_CHARS`) or a line."""
    texts: dict[str, None] = {}
    for element in tree.iter():
        if isinstance(element.tag, str) and element.tag not in ("html", "body", "head", "script", "style"):
            text = " ".join(element.text_content().split())
            if text and len(text) <= MAX_PRUNED_TEXT_CHARS:
                texts[text] = None
    return list(texts)


def _xpath_match(kind: str, xpath: str, tree: lxml.html.HtmlElement) -> RuleMatch:
    try:
        found = [element for element in tree.xpath(xpath) if isinstance(element, lxml.html.HtmlElement)]
    except lxml.etree.XPathError:
        found = []
    example = _example(found[0].text_content()) if found else ""
    return RuleMatch(kind, xpath, len(found), example)


def _text_match(kind: str, pattern: str, texts: list[str], matches: Callable[[str], bool]) -> RuleMatch:
    found = [text for text in texts if matches(text)]
    return RuleMatch(kind, pattern, len(found), _example(found[0]) if found else "")


def _date_match(date_format: str, tree: lxml.html.HtmlElement, publisher: Publisher) -> RuleMatch:
    from kuroshio.crawler.extract import date_stamp

    found = [element.text_content() for xpath in publisher.date_xpaths or (_DATE_STAMP_SCOPE,)
             for element in tree.xpath(xpath) if date_stamp(element.text_content(), (date_format,))]
    return RuleMatch("date_formats", date_format, len(found), _example(found[0]) if found else "")


def _example(text: str) -> str:
    line = one_line(text)
    return line if len(line) <= EXAMPLE_CHARS else line[: EXAMPLE_CHARS - 1] + "…"
