"""A topic's learned second stage (kuroshio.crawler.scorer): what it reads, when it overrules the rules,
how it explains itself, and which scorers a topic refuses. The weights here are written by hand, so each
test knows what the scorer must decide; the shipped scorer is pinned by tests/crawler/test_scorer_training.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuroshio.crawler.options import TopicConfig
from kuroshio.crawler.scorer import (
    SCORER_FORMAT,
    ScorerError,
    load_scorer,
    query_digest,
    scorer_for,
    tokens,
)
from kuroshio.crawler.topics import (
    DEFAULT_SCORER,
    Refusal,
    Topic,
    default_topics,
    explain_topics,
    judge_topics,
    match_topic,
    scorer_features,
)
from kuroshio.scheduler.rematch import topic_fingerprint
from kuroshio.storage.text import FoldedText

QUERY = "Taiwan AND Japan AND NOT typhoon"

# Both sides in the title: the rules match it.
MEETING_TITLE = "Taiwan and Japan meet again"
MEETING_TEXT = " ".join(["Officials from both sides met in Taipei on Tuesday for talks that lasted the whole day."] * 6)
# The sides are named twice each, never together and never in the head: the rules refuse it (named apart).
APART_TEXT = "\n\n".join([
    " ".join(["The council reviewed the port's plans for the coming season at length on Monday."] * 4),
    "Taiwan sent a delegation. The memorandum was signed later. Taiwan will host the next round.",
    "Japan welcomed it. Officials praised the memorandum. Japan said more visits would follow.",
])


def write_scorer(path: Path, weights: dict[str, float], *, query: str = QUERY, intercept: float = 0.0,
                 veto_below: float = 0.25, rescue_from: float = 0.85, common: tuple[str, ...] = ()) -> Path:
    path.write_text(json.dumps({"format": SCORER_FORMAT, "name": path.stem, "query_sha256": query_digest(query),
                                "intercept": intercept, "weights": weights, "veto_below": veto_below,
                                "rescue_from": rescue_from, "common": list(common)}), encoding="utf-8")
    return path


def topic_with(path: Path) -> Topic:
    return Topic.from_config("test", QUERY, scorer=str(path))


def test_words_are_folded_latin_words_and_cjk_character_pairs_without_the_agencies_names():
    folded = FoldedText.of("TOKYO (Kyodo) -- ＴＳＭＣ builds 熊本工場; 中央社 reports 台").text
    # Han variants fold to one form, as the query's terms do: 工場 and 工场 are one word to the scorer.
    assert tokens(folded) == {"tokyo", "tsmc", "builds", "熊本", "本工", "工场", "中央", "reports", "台"}
    assert tokens(FoldedText.of("熊本工场").text) <= tokens(folded)


@pytest.mark.parametrize("dateline", ["（中央社記者王小明台北5日電）", "【台北共同】", "Taipei, Feb. 5 (CNA) -- ",
                                      "TOKYO (Kyodo) - "])
def test_a_datelines_words_are_not_read(dateline: str):
    # Who filed a story, and for which agency, is the labelled set's house style, not what it is about.
    named = scorer_features(Topic("test", QUERY), title="", text=dateline + "Taiwan and Japan signed a pact.")
    assert named is not None
    assert {name for name in named if name.startswith("b:")} == {"b:taiwan", "b:and", "b:japan", "b:signed", "b:a",
                                                                 "b:pact"}


def test_features_are_the_rules_evidence_and_the_words_of_title_and_text_apart():
    named = scorer_features(Topic("test", QUERY), title="Taiwan, Japan sign pact", text="Taiwan and Japan signed it.")
    assert named is not None
    assert {name for name in named if not name.startswith(("t:", "b:"))} == {
        "side0", "side0_title", "side1", "side1_title", "shared", "sentences", "others", "gate0"}
    assert named["side0_title"] == 1.0 and named["gate0"] == 0.0
    assert "t:pact" in named and "b:pact" not in named and "b:signed" in named


def test_an_article_that_does_not_name_every_side_has_no_features_and_is_never_judged_by_the_scorer(tmp_path):
    assert scorer_features(Topic("test", QUERY), title="Taiwan alone", text="Only Taiwan is named here.") is None
    eager = topic_with(write_scorer(tmp_path / "eager.json", {}, intercept=50.0))
    assert match_topic(eager, title="Taiwan memorandum", text=APART_TEXT.replace("Japan", "Korea")) is None


def test_the_scorer_vetoes_a_match_of_the_rules_it_reads_as_off_topic_and_says_why(tmp_path):
    topic = topic_with(write_scorer(tmp_path / "s.json", {"b:semifinal": -5.0, "b:the": -0.1}))
    rules_only = Topic("test", QUERY)
    text = MEETING_TEXT + " The semifinal was close."
    assert match_topic(rules_only, title=MEETING_TITLE, text=text) is not None

    (refusal,) = judge_topics([topic], title=MEETING_TITLE, text=text)

    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith("the scorer reads it as off topic (0.01 < 0.25); most against: ")
    assert refusal.reason.endswith('"semifinal" -5.00, "the" -0.10')
    assert match_topic(topic, title=MEETING_TITLE, text=text) is None


def test_a_veto_names_the_counts_then_the_words_that_weighed_most_leaving_out_common_words(tmp_path):
    weights = {"sentences": -1.0, "b:the": -3.0, "b:semifinal": -2.0, "b:officials": -1.5, "t:meet": -1.0,
               "b:whole": -0.5, "b:talks": 0.5}
    topic = topic_with(write_scorer(tmp_path / "s.json", weights, common=("b:the",)))

    (refusal,) = judge_topics([topic], title=MEETING_TITLE, text=MEETING_TEXT + " The semifinal was close.")

    assert isinstance(refusal, Refusal)
    assert refusal.reason.endswith('most against: the text\'s length in sentences -2.08; '
                                   'words: "semifinal" -2.00, "officials" -1.50, title "meet" -1.00')


def test_where_the_scorer_is_unsure_the_rules_decide(tmp_path):
    topic = topic_with(write_scorer(tmp_path / "s.json", {"b:semifinal": -5.0, "b:memorandum": 0.5}))
    assert match_topic(topic, title=MEETING_TITLE, text=MEETING_TEXT) is not None  # p = 0.5: no veto
    assert match_topic(topic, title="Port council", text=APART_TEXT) is None  # p = 0.62: no rescue


def test_the_scorer_admits_an_article_the_rules_refused_when_it_is_sure(tmp_path):
    topic = topic_with(write_scorer(tmp_path / "s.json", {"b:memorandum": 5.0}))
    assert match_topic(Topic("test", QUERY), title="Port council", text=APART_TEXT) is None

    match = match_topic(topic, title="Port council", text=APART_TEXT)

    assert match is not None and match.score == 2.0 and match.terms == ("Japan", "Taiwan")


def test_an_admission_is_explained_with_the_rules_refusal_and_what_weighed_for_it(tmp_path):
    topic = topic_with(write_scorer(tmp_path / "s.json", {"b:memorandum": 5.0, "b:port": -0.5, "shared": 0.2}))
    rules_only = Topic("rules", QUERY)

    admitted = explain_topics([topic, rules_only], {"test", "rules"}, title="Port council", text=APART_TEXT).admitted

    assert list(admitted) == ["test"]
    assert admitted["test"].startswith("admitted by the scorer (0.99 >= 0.85), though by its rules its sides are "
                                       "named apart: ")
    assert admitted["test"].endswith('; most for: "memorandum" +5.00')
    assert explain_topics([topic], {"test"}, title=MEETING_TITLE, text=MEETING_TEXT).admitted == {}  # the rules match it
    assert explain_topics([topic], set(), title="Port council", text=APART_TEXT).admitted == {}  # not a stored match


def test_the_scorer_can_admit_what_a_gate_held_back(tmp_path):
    topic = topic_with(write_scorer(tmp_path / "s.json", {"b:relief": 6.0}))
    text = MEETING_TEXT + " Japan sent relief after the typhoon hit Taiwan."
    assert match_topic(Topic("test", QUERY), title=MEETING_TITLE, text=text) is None
    assert match_topic(topic, title=MEETING_TITLE, text=text) is not None


def test_a_scorer_trained_for_another_query_is_refused_in_one_line(tmp_path):
    path = write_scorer(tmp_path / "other.json", {}, query="Korea AND Japan")
    with pytest.raises(ScorerError, match=r"^scorer '.*other\.json' was trained for another query") as raised:
        topic_with(path)
    assert "\n" not in str(raised.value)
    problems = list(TopicConfig(name="test", query=QUERY, scorer=str(path)).problems())
    assert [key for key, _ in problems] == ["scorer"]


@pytest.mark.parametrize(("content", "complaint"), [
    (None, "cannot read"),
    (b"{not json", "is not a scorer file"),
    (json.dumps({"format": 99}).encode(), "is not a format-1 scorer file"),
    (json.dumps({"format": 1, "name": "x"}).encode(), "is not a scorer file ('query_sha256')"),
])
def test_a_scorer_file_that_cannot_be_used_is_one_line_naming_it(tmp_path, content, complaint):
    path = tmp_path / "broken.json"
    if content is not None:
        path.write_bytes(content)
    load_scorer.cache_clear()
    with pytest.raises(ScorerError) as raised:
        load_scorer(str(path))
    assert complaint in str(raised.value) and str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_shipped_scorer_is_refused():
    with pytest.raises(ScorerError, match="scorer 'no-such-scorer': cannot read"):
        scorer_for("no-such-scorer", QUERY)


def test_the_default_topic_ships_a_scorer_trained_for_its_own_query():
    (topic,) = default_topics()
    assert topic.scorer == DEFAULT_SCORER
    scorer = topic.second_stage
    assert scorer is not None and scorer.query_digest == query_digest(topic.query_text)
    assert 0 < scorer.veto_below < 0.5 < scorer.rescue_from < 1


def test_a_retrained_scorer_changes_the_topics_fingerprint_so_the_archive_is_rescored(tmp_path):
    first = topic_with(write_scorer(tmp_path / "first.json", {"b:pact": 1.0}))
    second = topic_with(write_scorer(tmp_path / "second.json", {"b:pact": 1.5}))
    rules_only = Topic("test", QUERY)
    assert len({topic_fingerprint(first), topic_fingerprint(second), topic_fingerprint(rules_only)}) == 3


def test_features_name_every_gate_of_the_query_in_order():
    evidence_of = scorer_features(Topic("test", "Taiwan AND Japan AND NOT typhoon AND NOT tennis"),
                                  title="Taiwan Japan tennis", text="Taiwan and Japan played tennis.")
    assert evidence_of is not None and (evidence_of["gate0"], evidence_of["gate1"]) == (0.0, 1.0)
