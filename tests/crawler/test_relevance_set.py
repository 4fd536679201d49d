"""The relevance sets are well formed: the development set (benchmarks/relevance/articles.jsonl) and the
held-out set (heldout.jsonl), which is never used for tuning (a held-out set whose errors were read while
tuning moves into the development set). The benchmark that scores the default topic
on them (benchmarks/relevance.py) counts precision and recall correctly and reports each set on its own.

The targets themselves (recall >= 0.98, precision >= 0.95) are not asserted here; the matcher's own tests
hold them.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from kuroshio.crawler.topics import Topic, default_topics

REPO_ROOT = Path(__file__).resolve().parents[2]


# benchmarks/ is not installed: it is imported from the repository, as `python -m benchmarks.relevance` does.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
relevance = importlib.import_module("benchmarks.relevance")
ARTICLES = relevance.load_articles()
HELDOUT = relevance.load_articles(relevance.HELDOUT)
BOTH_SETS = pytest.mark.parametrize("articles", [ARTICLES, HELDOUT], ids=["dev", "heldout"])

# The traps issue #11 names, each a kind in the set.
REQUIRED_KINDS = {
    "story", "brief", "place-only",
    "domestic", "trap-passing-mention", "trap-third-country", "trap-substring", "trap-sports", "trap-weather",
}
# The substring traps the issue names: each must be in an off-topic story of its own kind.
ISSUE_SUBSTRINGS = ("朝日台", "今日台北", "平台日前", "陽台日照", "气象台日前")
COUNTRY_NAMES = re.compile(r"Taiwan|Japan|台灣|臺灣|台湾|日本|台日|日台")


def article(id: str, *, group: str, label: str, kind: str = "story") -> object:
    language, _, script = group.partition("-")
    script = script or {"en": "latin", "ja": "ja"}[language]
    return relevance.Article(id=id, language=language, script=script, label=label, kind=kind,
                             title=f"title of {id}", text=f"text of {id}", note="hand-made")


def verdict(id: str, *, group: str, label: str, matched: bool) -> object:
    return relevance.Verdict(article=article(id, group=group, label=label), matched=matched,
                             score=3.0 if matched else 0.0, terms=("taiwan", "japan") if matched else (),
                             reason=None if matched else "nothing names @Japan")


# --- the set ----------------------------------------------------------------------------------------------

def test_the_set_has_at_least_150_articles_with_unique_ids() -> None:
    ids = Counter(item.id for item in ARTICLES)
    assert len(ARTICLES) >= 150
    assert [id for id, count in ids.items() if count > 1] == []


def test_every_language_has_30_articles_and_every_script_is_present() -> None:
    languages = Counter(item.language for item in ARTICLES)
    scripts = Counter(item.script for item in ARTICLES)
    assert set(languages) == {"en", "zh", "ja"}
    assert min(languages.values()) >= 30
    assert set(scripts) == {"latin", "hant", "hans", "ja"}
    assert scripts["hant"] >= 20 and scripts["hans"] >= 20


def test_half_the_set_is_on_topic_and_every_group_has_both_labels() -> None:
    share = sum(item.on_topic for item in ARTICLES) / len(ARTICLES)
    assert 0.45 <= share <= 0.55
    labels = {(item.group, item.label) for item in ARTICLES}
    assert labels == {(group, label) for group in relevance.GROUPS for label in ("on", "off")}


@BOTH_SETS
def test_labels_are_only_on_or_off(articles: list) -> None:
    assert {item.label for item in articles} == {"on", "off"}


def test_every_kind_of_article_the_issue_asks_for_is_present() -> None:
    kinds = {(item.kind, item.label) for item in ARTICLES}
    on_kinds = {"story", "brief", "place-only"}
    assert {kind for kind, _ in kinds} >= REQUIRED_KINDS
    assert {(kind, "on" if kind in on_kinds else "off") for kind in REQUIRED_KINDS} <= kinds


@pytest.mark.parametrize("substring", ISSUE_SUBSTRINGS)
def test_each_substring_trap_the_issue_names_is_an_off_topic_story(substring: str) -> None:
    traps = [item.id for item in ARTICLES if item.kind == "trap-substring" and item.label == "off"
             and substring in item.title + item.text]
    assert traps, f"no off-topic trap-substring article contains {substring}"


@BOTH_SETS
def test_place_only_articles_name_neither_country(articles: list) -> None:
    named = {item.id: COUNTRY_NAMES.findall(item.title + item.text) for item in articles if item.kind == "place-only"}
    assert len(named) >= 10
    assert {id: names for id, names in named.items() if names} == {}


@BOTH_SETS
def test_place_only_articles_cover_each_language(articles: list) -> None:
    assert {item.group for item in articles if item.kind == "place-only"} == set(relevance.GROUPS)


@BOTH_SETS
def test_every_article_says_why_it_has_its_label(articles: list) -> None:
    assert [item.id for item in articles if "\n" in item.note or not item.note.strip()] == []


# --- the held-out set -------------------------------------------------------------------------------------

def test_the_held_out_set_has_at_least_90_articles() -> None:
    assert len(HELDOUT) >= 90


def test_ids_are_unique_across_both_sets() -> None:
    ids = Counter(item.id for item in [*ARTICLES, *HELDOUT])
    assert [id for id, count in ids.items() if count > 1] == []


def test_every_language_of_the_held_out_set_has_25_articles_and_both_chinese_scripts() -> None:
    languages = Counter(item.language for item in HELDOUT)
    scripts = Counter(item.script for item in HELDOUT)
    assert set(languages) == {"en", "zh", "ja"}
    assert min(languages.values()) >= 25
    assert set(scripts) == {"latin", "hant", "hans", "ja"}


def test_half_the_held_out_set_is_on_topic_and_every_group_has_both_labels() -> None:
    share = sum(item.on_topic for item in HELDOUT) / len(HELDOUT)
    assert 0.45 <= share <= 0.55
    labels = {(item.group, item.label) for item in HELDOUT}
    assert labels == {(group, label) for group in relevance.GROUPS for label in ("on", "off")}


def test_the_held_out_set_uses_the_development_kinds_with_the_same_labels() -> None:
    # The README's table of kinds is the vocabulary of both sets: a kind means the same label in each.
    assert {(item.kind, item.label) for item in HELDOUT} <= {(item.kind, item.label) for item in ARTICLES}
    assert {item.kind for item in HELDOUT} >= REQUIRED_KINDS


def test_a_malformed_line_is_refused_with_its_line_number(tmp_path: Path) -> None:
    good = ('{"id": "a", "language": "en", "script": "latin", "label": "on", "kind": "story", '
            '"title": "t", "text": "x", "note": "n"}')
    bad_label = good.replace('"on"', '"maybe"').replace('"a"', '"b"')
    path = tmp_path / "articles.jsonl"
    path.write_text(good + "\n" + bad_label + "\n", encoding="utf-8")
    with pytest.raises(relevance.RelevanceSetError, match=r"articles\.jsonl:2: label 'maybe'"):
        relevance.load_articles(path)
    path.write_text(good.replace('"latin"', '"hant"') + "\n", encoding="utf-8")
    with pytest.raises(relevance.RelevanceSetError, match=r":1: script 'hant' does not go with language 'en'"):
        relevance.load_articles(path)


# --- the benchmark's arithmetic ---------------------------------------------------------------------------

HAND_MADE = [
    verdict("en-1", group="en", label="on", matched=True),
    verdict("en-2", group="en", label="on", matched=True),
    verdict("en-3", group="en", label="on", matched=False),   # a miss
    verdict("en-4", group="en", label="off", matched=True),   # a false alarm
    verdict("en-5", group="en", label="off", matched=False),
    verdict("ja-1", group="ja", label="on", matched=True),
    verdict("ja-2", group="ja", label="off", matched=False),
    verdict("hant-1", group="zh-hant", label="off", matched=False),
]


def test_precision_and_recall_per_language_on_a_hand_made_set() -> None:
    rows = {row.group: row for row in relevance.tallies(HAND_MADE)}
    assert [row.group for row in relevance.tallies(HAND_MADE)] == ["en", "zh-hant", "zh-hans", "ja", "all"]
    en = rows["en"]
    assert (en.articles, en.on_topic, en.true_positives, en.misses, en.false_alarms) == (5, 3, 2, 1, 1)
    assert en.precision == pytest.approx(2 / 3) and en.recall == pytest.approx(2 / 3)
    assert (rows["ja"].precision, rows["ja"].recall) == (1.0, 1.0)
    whole = rows["all"]
    assert (whole.articles, whole.on_topic, whole.true_positives, whole.misses, whole.false_alarms) == (8, 4, 3, 1, 1)
    assert whole.precision == pytest.approx(0.75) and whole.recall == pytest.approx(0.75)


def test_a_group_with_nothing_matched_or_nothing_on_topic_has_no_rate() -> None:
    rows = {row.group: row for row in relevance.tallies(HAND_MADE)}
    assert (rows["zh-hant"].precision, rows["zh-hant"].recall) == (None, None)
    assert rows["zh-hans"].articles == 0
    assert "| zh-hant | 1 | 0 | 0 | 0 | 0 | n/a | n/a |" in relevance.table(relevance.tallies(HAND_MADE))


def test_the_report_lists_every_miss_and_every_false_alarm_with_score_and_terms() -> None:
    lines = relevance.report(HAND_MADE)
    assert "- en-3 (en, story): refused, nothing names @Japan; terms: -" in lines
    assert "- en-4 (en, story): score 3; terms: taiwan, japan" in lines
    assert sum(line.startswith("- ") for line in lines) == 2


def test_judge_matches_a_taiwan_japan_story_and_not_an_unrelated_one() -> None:
    topics = default_topics()
    story = relevance.Article(
        id="on", language="en", script="latin", label="on", kind="story",
        title="Taiwan and Japan sign fisheries pact",
        text="Taiwan and Japan signed a fisheries pact on Monday. Taiwan said Japan agreed to a hotline.", note="n")
    unrelated = relevance.Article(
        id="off", language="en", script="latin", label="off", kind="domestic",
        title="Paris museums extend opening hours", text="The Louvre will open until 10 p.m. on Fridays.", note="n")
    matched, missed = relevance.run([story, unrelated], topics)
    assert matched.matched and matched.score is not None and matched.terms
    assert not missed.matched and missed.score == 0
    assert relevance.describe_score(missed).startswith("refused, nothing names (@Taiwan OR 台日")


def test_a_miss_below_min_score_shows_its_score_and_terms() -> None:
    strict = Topic.from_config("kumamoto", "Kumamoto", min_score=5.0)
    # Over 40 words: a brief is matched by one mention of each side whatever the min score (README.md).
    text = ("Kumamoto signed a chip talent pact with a university on Monday. The agreement covers scholarships, "
            "internships and a shared laboratory for students of electrical engineering, and the first group of "
            "forty students will begin classes in the spring after a ceremony at the city hall.")
    story = relevance.Article(id="b", language="en", script="latin", label="on", kind="story",
                              title="Chip talent pact", text=text, note="n")
    (result,) = relevance.run([story], [strict])
    assert not result.matched and result.miss
    assert result.score is not None and 0 < result.score < 5.0 and result.terms
    assert relevance.describe_score(result) == f"refused, score {result.score:g} < min 5, and it is no brief"


def test_set_option_chooses_one_set_or_both() -> None:
    assert [item.name for item in relevance.chosen_sets("dev")] == ["dev"]
    assert [item.name for item in relevance.chosen_sets("heldout")] == ["heldout"]
    assert [item.name for item in relevance.chosen_sets("both")] == ["dev", "heldout"]
    assert [item.path for item in relevance.SETS] == [relevance.ARTICLES, relevance.HELDOUT]


def _tiny_sets(tmp_path: Path) -> tuple:
    line = ('{{"id": "{id}", "language": "en", "script": "latin", "label": "{label}", "kind": "story", '
            '"title": "{title}", "text": "{text}", "note": "n"}}')
    dev, heldout = tmp_path / "dev.jsonl", tmp_path / "heldout.jsonl"
    dev.write_text(line.format(id="d-1", label="on", title="Taiwan and Japan sign fisheries pact",
                               text="Taiwan and Japan signed a fisheries pact. Taiwan said Japan agreed.") + "\n",
                   encoding="utf-8")
    # Labelled on so that it is a miss whatever the matcher learns: it names nothing of either side.
    heldout.write_text(line.format(id="h-1", label="on", title="Paris museums extend opening hours",
                                   text="The Louvre will open until 10 p.m. on Fridays.") + "\n", encoding="utf-8")
    return (relevance.ArticleSet("dev", "Development set", dev),
            relevance.ArticleSet("heldout", "Held-out set", heldout))


def test_each_set_is_reported_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(relevance, "SETS", _tiny_sets(tmp_path))
    relevance.main([])
    both = capsys.readouterr().out
    dev_part, _, heldout_part = both.partition("## Held-out set")
    assert "## Development set: 1 articles" in dev_part and "Misses (0)" in dev_part
    assert heldout_part.startswith(": 1 articles") and "- h-1 (en, story)" in heldout_part
    relevance.main(["--set", "heldout"])
    only = capsys.readouterr().out
    assert "## Held-out set" in only and "Development set" not in only


def test_write_results_records_both_sets_and_refuses_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Relevance (issue #11)\n\nold figures\n\n## Other\n\nkept\n", encoding="utf-8")
    monkeypatch.setattr(relevance, "SETS", _tiny_sets(tmp_path))
    monkeypatch.setattr(relevance, "RESULTS", results)
    with pytest.raises(SystemExit) as refused:
        relevance.main(["--set", "dev", "--write-results"])
    assert refused.value.code == 2
    assert "--write-results records both sets; drop --set dev" in capsys.readouterr().err
    assert "old figures" in results.read_text(encoding="utf-8")
    relevance.main(["--write-results"])
    written = results.read_text(encoding="utf-8")
    assert "old figures" not in written and written.endswith("## Other\n\nkept\n")
    development, _, held_out = written.partition("### Held-out set (`heldout.jsonl`)")
    assert "### Development set (`dev.jsonl`)" in development and "| all | 1 | 1 | 1 | 0 | 0 | 1.000 | 1.000 |" in development
    assert "| all | 1 | 1 | 0 | 1 | 0 | n/a | 0.000 |" in held_out and "- h-1 (en, story)" in held_out


def test_write_results_replaces_only_its_own_section() -> None:
    document = "# Results\n\n## 1. Throughput\n\nfast\n\n## Relevance (issue #11)\n\nold figures\n\n## 6. Other\n\nkept\n"
    replaced = relevance.replace_section(document, "## Relevance (issue #11)\n\nnew figures\n")
    assert replaced == "# Results\n\n## 1. Throughput\n\nfast\n\n## Relevance (issue #11)\n\nnew figures\n\n## 6. Other\n\nkept\n"
    appended = relevance.replace_section("# Results\n\n## 1. Throughput\n\nfast\n", "## Relevance (issue #11)\n\nnew\n")
    assert appended == "# Results\n\n## 1. Throughput\n\nfast\n\n## Relevance (issue #11)\n\nnew\n"
    assert relevance.replace_section(appended, "## Relevance (issue #11)\n\nnewer\n").count("## Relevance") == 1


# --- the default topic on the sets -------------------------------------------------------------------------

# Floors under the figures in benchmarks/RESULTS.md, so that a change to the matcher, the gazetteer, the
# default topic or its scorer that loses relevance fails here. Development: 0.997 / 1.000 on 1,942 articles,
# training figures since the scorer learned from them. Held-out: 0.983 / 0.967 on 240 articles in two sets
# nobody tuning or training had read, written to look like ordinary weeks of these outlets; the floors are
# the issue's targets (TARGET_RECALL, TARGET_PRECISION). The development set's honest, cross-validated
# figures are pinned by tests/crawler/test_scorer_training.py.
RELEVANCE_FLOORS = {"dev": (0.99, 0.99), "heldout": (0.98, 0.95)}


@pytest.mark.parametrize("name", sorted(RELEVANCE_FLOORS))
def test_default_topic_keeps_its_recall_and_precision_on_each_set(name: str) -> None:
    articles = {"dev": ARTICLES, "heldout": HELDOUT}[name]
    overall = relevance.tally(relevance.run(articles, default_topics()), "all")
    recall_floor, precision_floor = RELEVANCE_FLOORS[name]

    assert overall.recall >= recall_floor
    assert overall.precision >= precision_floor
