"""The digest message: parts, headers, escaping and hostile input, read back with the `email` package."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta

import pytest
from digest_support import NOW, TOPICS, article, digest_config, parse_message, parts, seed
from fixture_web import SEED_CASES

from kuroshio.digest.compose import compose_digest
from kuroshio.digest.health import SourceProblem
from kuroshio.digest.message import build_message, clean_header, message_bytes, message_id, render_html, render_text
from kuroshio.digest.options import DigestConfig


def build(articles, **overrides):
    digest = digest_config(**overrides)
    content = compose_digest(digest, articles, topic_names=[t.name for t in TOPICS],
                             problems_since=NOW - timedelta(days=1), now=NOW)
    return content, parse_message(message_bytes(build_message(content, digest=digest,
                                                              sender="Kuroshio <kuroshio@example.org>", now=NOW)))


def test_digest_is_one_multipart_alternative_message_with_text_and_html_parts() -> None:
    _, message = build([seed(case) for case in SEED_CASES])
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)
    assert "3 new articles from 3 sources" in text
    assert "<strong>3 new articles</strong> from <strong>3 sources</strong>" in html


@pytest.mark.parametrize(("count", "subject"), [(1, "Kuroshio morning: 1 new article"),
                                               (3, "Kuroshio morning: 3 new articles")])
def test_the_default_subject_counts_articles_in_singular_and_plural(count: int, subject: str) -> None:
    default = next(option.default for option in fields(DigestConfig) if option.name == "subject")
    _, message = build([seed(case) for case in SEED_CASES[:count]], subject=default)
    assert message["Subject"] == subject


def test_headers_name_sender_recipients_date_list_and_a_stable_message_id() -> None:
    content, message = build([seed(case) for case in SEED_CASES], to=("a@example.org", "b@example.org"))
    assert message["From"] == "Kuroshio <kuroshio@example.org>"
    assert message["To"] == "a@example.org, b@example.org"
    assert message["Subject"] == "Kuroshio morning: 3 new articles"
    assert message["Date"] == "Wed, 03 Dec 2025 08:30:00 +0800"  # in the digest's time zone
    assert message["List-Id"] == "Kuroshio digest morning <morning.digest.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<digest\.morning\.[0-9a-f]{32}@example\.org>", message["Message-ID"])
    assert message["Message-ID"] == message_id("morning", tuple(reversed(content.article_ids)), domain="example.org",
                                               now=NOW + timedelta(days=1))
    assert message["Message-ID"] != message_id("morning", content.article_ids[1:], domain="example.org", now=NOW)


def test_text_part_has_topic_groups_links_sources_times_excerpts_and_marked_terms() -> None:
    _, message = build([seed(case) for case in SEED_CASES])
    text, _ = parts(message)
    assert "== taiwan-japan (3 stories) ==" in text
    assert "* *Taiwan*'s Ko calls for deeper cooperation with *Japan*" in text
    assert "kyodo | published 2023-06-08 18:23" in text
    assert "http://english.kyodonews.test/articles/-/38517" in text
    assert "Former *Taipei* Mayor Ko Wen-je" in text
    assert text.index("Taiwan* urges") < text.index("Taiwan* president") < text.index("Taiwan*'s Ko")  # newest first


def test_html_part_links_headlines_and_marks_terms_with_no_remote_content_or_script() -> None:
    _, message = build([seed(case) for case in SEED_CASES])
    _, html = parts(message)
    assert ('<a href="http://english.kyodonews.test/articles/-/38517" style="color:#102a43;text-decoration:none">'
            '<mark style="background:#fff1a8;color:inherit;padding:0 1px">Taiwan</mark>&#39;s Ko calls') in html
    assert "<script" not in html.lower()
    assert not re.search(r"<(img|link|iframe|object|embed)\b", html, re.IGNORECASE)
    assert not re.search(r"\b(src|srcset|background)\s*=", html, re.IGNORECASE)
    assert "default-src 'none'" in html


def test_html_and_script_in_titles_and_text_are_escaped() -> None:
    hostile = article('Taiwan <script>alert("x")</script> & Japan <img src=http://evil.example/x.png>',
                      'Taiwan and Japan. <script>document.cookie</script> Japan "quoted" & <b>bold</b>.')
    _, message = build([hostile])
    text, html = parts(message)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp;" in html
    assert '<script>alert("x")</script>' in text  # plain text shows it as text, which is harmless there


def test_crlf_in_a_title_or_subject_cannot_inject_headers() -> None:
    hostile = article("Taiwan Japan\r\nBcc: victim@evil.example\r\n\r\n<b>body</b>")
    _, message = build([hostile], subject="Daily {count}\r\nBcc: victim@evil.example\nX-Injected: 1")
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"] == "Daily 1 Bcc: victim@evil.example X-Injected: 1"
    assert message.get_content_type() == "multipart/alternative"


def test_non_ascii_and_very_long_subjects_are_encoded_and_folded() -> None:
    subject = "黒潮 {name} 台灣と日本: {count} 件 " + "very long words " * 30
    content, message = build([seed("kyodo-ko")], subject=subject, name="朝刊")
    raw = message_bytes(build_message(content, digest=digest_config(subject=subject, name="朝刊"),
                                      sender="Kuroshio <kuroshio@example.org>", now=NOW))
    assert message["Subject"].startswith("黒潮 朝刊 台灣と日本: 1 件 very long words")
    assert message["Subject"].endswith("very\u2026")
    assert len(" ".join(message["Subject"].split())) <= 250
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in header_block.split(b"\r\n"))
    assert header_block.isascii()


def test_a_ten_kilobyte_title_neither_breaks_the_message_nor_its_line_limits() -> None:
    huge = article("Taiwan Japan " + "x" * 10_000, "Taiwan and Japan. " + "y" * 10_000)
    content, message = build([huge])
    raw = message_bytes(build_message(content, digest=digest_config(), sender="Kuroshio <kuroshio@example.org>",
                                      now=NOW))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    text, html = parts(message)
    assert "* *Taiwan* *Japan*\r\n  xxxxxxxx" in text and "x\u2026" in text
    assert len(html) < 20_000


def test_capped_digest_says_how_many_articles_were_left_out() -> None:
    articles = [article(f"Taiwan and Japan story {n}", f"Taiwan and Japan {n}. Japan and Taiwan.") for n in range(7)]
    _, message = build(articles, max_articles=3)
    text, html = parts(message)
    assert "4 more articles not shown" in text
    assert "4 more articles not shown." in html


def test_header_values_lose_every_control_character() -> None:
    assert clean_header("a\r\nb\x00c\x1b\x7fd\u2028e\tf") == "a b c d e f"


def test_html_template_autoescapes() -> None:
    content, _ = build([article("Taiwan Japan {{ 7*7 }} <i>")])
    html = render_html(content)
    assert "&lt;i&gt;" in html and "{{ 7*7 }}" in html


def test_copies_from_other_sources_are_listed_under_the_story_in_both_parts() -> None:
    original = article("Taiwan's Ko calls for deeper cooperation with Japan", source="kyodo")
    copy = article("Taiwan’s Ko calls for deeper cooperation with Japan", "Ko said Taiwan and Japan ...",
                   source="taiwan-news", url="https://taiwan-news.example/ko",
                   published_at=original.published_at - timedelta(hours=1))
    _, message = build([original, copy])
    text, html = parts(message)
    assert "1 story shown" in text and text.count("\n* ") == 1
    assert "Also reported by:\r\n  - taiwan-news: Taiwan\u2019s Ko calls for deeper cooperation with Japan\r\n" \
           "    https://taiwan-news.example/ko" in text
    assert '<a href="https://taiwan-news.example/ko" title="Taiwan’s Ko calls for deeper cooperation with Japan"' in html


def test_footer_names_the_sources_to_check_or_says_all_is_well() -> None:
    digest = digest_config()
    problems = [SourceProblem("kyodo", "2 of 2 crawls failed (last: HTTP 503 <b>)")]
    for given, expected_text, expected_html in [
        (problems, "  - kyodo: 2 of 2 crawls failed (last: HTTP 503 <b>)",
         "<li><strong>kyodo</strong>: 2 of 2 crawls failed (last: HTTP 503 &lt;b&gt;)</li>"),
        ([], "Every source crawled and found new articles since 2025-12-02 08:30.",
         "Every source crawled and found new articles since 2025-12-02 08:30."),
    ]:
        content = compose_digest(digest, [seed("kyodo-ko")], topic_names=["taiwan-japan"], problems=given,
                                 problems_since=NOW - timedelta(days=1), now=NOW)
        text, html = render_text(content), render_html(content)
        assert expected_text in text and expected_html in html


def test_an_instant_alert_is_called_an_alert_and_speaks_of_no_digest_before_it() -> None:
    digest_text, _ = parts(build([seed(SEED_CASES[0])])[1])
    alert_text, alert_html = parts(build([seed(SEED_CASES[0])], mode="instant")[1])

    assert digest_text.startswith('Kuroshio digest "morning"') and "This is the first digest. Times are" in digest_text
    assert alert_text.startswith('Kuroshio alert "morning"') and "Kuroshio alert" in alert_html
    assert "digest" not in alert_text.split("\n== ")[0].replace('"morning"', "")
    assert "\nTimes are " in alert_text and "first digest" not in alert_html
