"""Training the default topic's second stage (benchmarks/train_scorer.py): the shipped weights are what the
script makes of the development set, and scorers that never saw an article judge it within the issue's
targets. Needs scikit-learn (the `test` and `train` extras)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from kuroshio.crawler.scorer import load_scorer
from kuroshio.crawler.topics import Topic, default_topics, scorer_features

REPO_ROOT = Path(__file__).resolve().parents[2]

# benchmarks/ is not installed: it is imported from the repository, as `python -m benchmarks.train_scorer` does.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
relevance = importlib.import_module("benchmarks.relevance")
training = importlib.import_module("benchmarks.train_scorer")


@pytest.fixture(scope="module")
def development() -> tuple[list, list, list]:
    """The development set, each article's features (None where no scorer judges) and the rules' verdict."""
    default = default_topics()[0]
    rules_only = Topic(default.name, default.query_text, default.min_score)
    articles = relevance.load_articles()
    rows = [scorer_features(rules_only, title=item.title, text=item.text) for item in articles]
    rules = [relevance.judge(item, [rules_only]).matched for item in articles]
    return articles, rows, rules


def test_the_shipped_scorer_is_what_training_makes_of_the_development_set(development):
    # Nobody edits weights by hand: retraining gives the shipped file's probabilities, to rounding.
    articles, rows, _ = development
    judged = [index for index, row in enumerate(rows) if row is not None]
    intercept, weights = training.fit([rows[index] for index in judged], [articles[index].on_topic for index in judged],
                                      training.REGULARISATION)
    retrained = training.scorer_of(intercept, weights, default_topics()[0].query_text)
    shipped = default_topics()[0].second_stage
    assert shipped is not None
    assert (shipped.veto_below, shipped.rescue_from) == (training.VETO_BELOW, training.RESCUE_FROM)
    for index in judged:
        assert abs(retrained.probability(rows[index]) - shipped.probability(rows[index])) < 1e-3, articles[index].id


def test_scorers_that_never_saw_an_article_judge_the_development_set_within_the_targets(development):
    # The honest figure on the development set: each block judged by a scorer trained on the others.
    articles, rows, rules = development
    judged = training.cross_validate(articles, rows, rules, default_topics()[0].query_text, training.FOLDS)
    scored = training.figures(judged, "all", with_scorer=True)
    rules = training.figures(judged, "all", with_scorer=False)

    assert scored.recall >= relevance.TARGET_RECALL and scored.precision >= relevance.TARGET_PRECISION
    assert scored.recall >= rules.recall and scored.precision >= rules.precision


def test_training_writes_a_scorer_the_default_query_accepts_and_reports_each_language(tmp_path, capsys, development):
    articles, rows, _ = development
    chosen = [item for item, row in zip(articles, rows, strict=True) if row is not None][:120]
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(vars(item), ensure_ascii=False) + "\n" for item in chosen), encoding="utf-8")
    out = tmp_path / "trained.json"

    training.main(["--set", str(small), "--out", str(out), "--folds", "3"])

    printed = capsys.readouterr().out
    assert "Cross-validated over 3 contiguous blocks of `small.jsonl` (120 articles)." in printed
    assert all(f"| {group} |" in printed for group in (*relevance.GROUPS, "all"))
    scorer = load_scorer(str(out))
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["trained"]["articles"] == 120 and document["trained"]["fitted_on"] == 120
    assert scorer.query_digest == default_topics()[0].second_stage.query_digest
    assert Topic.from_config("copy", default_topics()[0].query_text, scorer=str(out)).second_stage == scorer
