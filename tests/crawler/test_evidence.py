"""The evidence that makes a page an article: size in words fair across scripts, sentences, article
markup, a declared paywall, a truncation notice."""

from __future__ import annotations

import json

import lxml.html
import pytest
from fixture_web import REPO

from kuroshio.crawler.evidence import (
    MIN_TEXT_WORDS,
    drop_truncation_notices,
    page_evidence,
    sentence_count,
    text_words,
    too_little_text,
)

BRIEFS = json.loads((REPO / "fixtures" / "hostile" / "briefs" / "expected.json").read_text(encoding="utf-8"))["stored"]
# The wire's two stories, each in its English, traditional Chinese, simplified Chinese and Japanese edition.
STORIES = {"flights": ("en/news/202512020001", "zh-tw/news/202512020003", "zh-cn/news/202512020005", "ja/news/202512020007"),
           "rescue": ("en/news/202512020002", "zh-tw/news/202512020004", "zh-cn/news/202512020006", "ja/news/202512020008")}


def page(head: str = "", body: str = "") -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(f"<html><head><title>T</title>{head}</head><body>{body}</body></html>")


def json_ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


@pytest.mark.parametrize(("text", "words"), [
    ("Taiwan and Japan signed a pact.", 6),
    ("台灣與日本", 2.5),  # a Han character is half a word
    ("日本と台湾は2日", 4.5),  # kana too; the digit is a word of its own
    ("대만과 일본이 협정에 서명했다", 4),  # Hangul is spaced: words
    ("Kaohsiung–Sendai flights", 3),
])
def test_words_count_spaced_scripts_by_word_and_han_and_kana_by_half_a_character(text: str, words: float) -> None:
    assert text_words(text) == words


def test_one_story_told_in_four_languages_measures_about_the_same_in_words_not_in_characters() -> None:
    """The wire's two stories in English, traditional and simplified Chinese and Japanese: 2.5-4.5 times
    apart in characters (what the old floor counted), within a factor of 1.6 in words."""
    for story, paths in STORIES.items():
        texts = [BRIEFS[f"http://wire.briefs.test/{path}"]["text"] for path in paths]
        characters, words = [len(text) for text in texts], [text_words(text) for text in texts]
        assert max(characters) / min(characters) > 2.5, (story, characters)
        assert max(words) / min(words) < 1.6, (story, words)


@pytest.mark.parametrize(("text", "sentences"), [
    ("Japan's coast guard rescued five fishermen. All five were in good health.", 2),
    ("交通部今天表示，直航班機將於3月復航。該航線自2020年起停飛。", 2),
    ("台湾交通部は2日、直行便を3月に再開すると発表した。同路線は2020年から運休している。", 2),
    ("他說：「我們明年會再來台灣。」隨後搭機離開。", 1),  # 隨後搭機離開 is three words: a fragment
    ('He said, "We will be back in Taipei next year." Then he left for the airport.', 2),
    ("Taipei, Dec. 2 (CNA) Taiwan and Japan signed a pact on Tuesday.", 1),  # "Taipei, Dec." is a fragment
    ("Shares rose 3.5 percent on focustaiwan.tw news today", 0),  # no stop at the end: a heading
    ("Already a subscriber? Log in.", 0),  # fragments of page furniture
    ("Subscribe to keep reading\n\nPhoto: CNA.", 0),
])
def test_a_sentence_is_four_words_or_more_ending_in_a_stop(text: str, sentences: int) -> None:
    assert sentence_count(text) == sentences


def test_a_paragraph_of_words_is_an_article_without_any_markup() -> None:
    text = " ".join(["word"] * MIN_TEXT_WORDS)
    assert too_little_text(text, markup=(), partial=False) is None
    assert too_little_text(" ".join(["word"] * (MIN_TEXT_WORDS - 1)), markup=(), partial=False) is not None


def test_two_sentences_are_an_article_only_on_a_page_marked_up_as_one() -> None:
    brief = "交通部今天表示，高雄與仙台之間的直航班機將於3月復航。該航線自2020年起停飛。"
    assert too_little_text(brief, markup=("og:type article",), partial=False) is None
    assert too_little_text(brief, markup=(), partial=False) == (
        "article text too short: 18 words in 2 sentences, no article markup "
        "(needs 30 words, or 2 sentences on a page marked up as an article)"
    )


def test_one_sentence_is_an_article_only_on_a_page_showing_it_in_part() -> None:
    lead = "Japan and Taiwan agreed Tuesday to start talks on sharing data on marine heat waves."
    markup = ("schema.org NewsArticle", "an article container")
    assert too_little_text(lead, markup=markup, partial=True) is None
    assert too_little_text(lead, markup=markup, partial=False).startswith(
        "article text too short: 15 words in 1 sentence, marked up with schema.org NewsArticle, an article container")
    assert too_little_text("Subscribe to keep reading", markup=markup, partial=True) == (
        "article text too short: 4 words in 0 sentences, marked up with schema.org NewsArticle, an article container "
        "(needs its lead sentence: the page shows the article only in part)"
    )


@pytest.mark.parametrize(("head", "body", "markup"), [
    (json_ld({"@context": "https://schema.org", "@type": "NewsArticle"}), "", ("schema.org NewsArticle",)),
    (json_ld({"@graph": [{"@type": "WebSite"}, {"@type": ["ReportageNews"]}]}), "", ("schema.org ReportageNews",)),
    ('<meta property="og:type" content="article">', "", ("og:type article",)),
    ('<meta property="article:published_time" content="2025-12-02T10:05:00+08:00">', "", ("a publication date",)),
    ("", '<div itemscope itemtype="https://schema.org/NewsArticle"><div itemprop="articleBody">x</div></div>',
     ("schema.org NewsArticle", "an article container")),
    ("", "<article><p>x</p></article>", ("an article container",)),
    ('<meta property="og:type" content="website">', "<main><h1>Page not found</h1></main>", ()),  # <main> is every page
    (json_ld({"@type": "VideoObject", "uploadDate": "2025-12-02"}), "", ()),
])
def test_article_markup_is_any_of_its_signals_and_main_is_not_one(head: str, body: str, markup: tuple[str, ...]) -> None:
    assert page_evidence(page(head, body)).markup == markup


# Declared paywalls as the extraction benchmark's real pages write them: the Wall Street Journal
# (top level false, `hasPart` .paywall, the part not served), the Los Angeles Times (only `hasPart`
# "False", the part served whole), Wired (`hasPart` a list).
WSJ = {"@type": "NewsArticle", "isAccessibleForFree": False,
       "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False, "cssSelector": ".paywall"}}
LA_TIMES = {"@type": "NewsArticle", "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": "False",
                                                 "cssSelector": ".paywall"}}
WIRED = {"@type": "NewsArticle", "isAccessibleForFree": False,
         "hasPart": [{"@type": "WebPageElement", "isAccessibleForFree": "False", "cssSelector": ".paywall"}]}
BODY = '<div class="ArticlePage-content paywall"><p>The whole story, served.</p></div>'


@pytest.mark.parametrize(("declaration", "body", "paywalled"), [
    (WSJ, "<p>The lead.</p>", True),
    (WSJ, BODY, False),
    (LA_TIMES, BODY, False),
    (LA_TIMES, "<p>The lead.</p>", True),
    (WIRED, '<div class="paywall"></div>', True),  # the part is there, empty: not served
    ({"@type": "NewsArticle", "isAccessibleForFree": False}, BODY, True),  # no part named: trust the page
    ({"@type": "NewsArticle", "isAccessibleForFree": "false"}, "", True),
    ({"@type": "NewsArticle", "isAccessibleForFree": True}, "", False),
    ({"@type": "NewsArticle"}, "", False),
    ({"@graph": [WSJ]}, "", True),
])
def test_a_paywall_counts_when_declared_and_its_paid_part_was_not_served(
    declaration: dict, body: str, paywalled: bool
) -> None:
    assert page_evidence(page(json_ld(declaration), body)).paywalled is paywalled


def test_a_microdata_paywall_declaration_counts() -> None:
    assert page_evidence(page('<meta itemprop="isAccessibleForFree" content="False">')).paywalled


def test_broken_json_ld_is_no_evidence_and_no_error() -> None:
    evidence = page_evidence(page('<script type="application/ld+json">{"@type": "NewsArticle",</script>'))
    assert evidence.markup == () and not evidence.paywalled


def test_focus_taiwans_archive_notice_is_dropped_and_reported() -> None:
    lead = "Taipei, March 15 (CNA) Taiwan and Japan on Friday signed a memorandum."
    notice = "(Full text of the story is now in CNA English news archive. To view the full story, subscribe.)"
    assert drop_truncation_notices(f"{lead}\n\n{notice}") == (lead, True)
    assert drop_truncation_notices(lead) == (lead, False)
    quoted = f"{lead} An editor said the full text of the story is now in CNA English news archive."
    assert drop_truncation_notices(quoted) == (quoted, False)  # only a paragraph that is the notice
