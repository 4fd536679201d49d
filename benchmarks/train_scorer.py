"""Train a topic's second stage on a labelled set, report how it does on articles it did not learn from, and
write its weights (`kuroshio.crawler.scorer`).

Why here: the labelled relevance set (`benchmarks/relevance/`) is what it learns from, and the figures a
reader should trust are measured here too. Trained on the whole development set, the scorer's figures on
that set say nothing (it has seen every answer), so this script first cross-validates: the set is cut into
`--folds` contiguous blocks (it is appended a writer's week at a time, so a block is mostly one writer's
events), and each block is judged by a scorer trained on the others, beside the rules alone on the same
articles. Then it trains on the whole set and writes the weights the topic ships with. Only the held-out
set (`python -m benchmarks.relevance --set heldout`) says what it does on news nobody learned from.

The model is scikit-learn's LogisticRegression (L2, lbfgs, deterministic) over the features of
`kuroshio.crawler.topics.scorer_features`, fitted on the articles that name every required side of the
query: the only ones a scorer judges. scikit-learn is needed here only (the `train` extra); scoring is a
dot product in plain Python.

    .venv/bin/python -m benchmarks.train_scorer [--set PATH] [--out PATH] [--write-results]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

from benchmarks.common import replace_section, short_commit
from benchmarks.relevance import ARTICLES, GROUPS, RESULTS, Article, Tally, Verdict, load_articles, rate, shown, tally
from kuroshio.crawler.scorer import SCORER_FORMAT, WORD_PREFIXES, Scorer, query_digest, shipped_scorer_path
from kuroshio.crawler.topics import DEFAULT_SCORER, MATCHER_VERSION, Topic, default_topics, match_topic, scorer_features

SECTION = "## Relevance scorer, cross-validated (issue #11)"
REGULARISATION = 3.0
"""scikit-learn's C: chosen by cross-validation on the development set (1, 3, 10 and 30 did alike)."""
VETO_BELOW = 0.25
RESCUE_FROM = 0.85
"""The thresholds, chosen by the same cross-validation: a veto only where the model is fairly sure a match
is off topic, a rescue only where it is very sure a refusal was wrong."""
FOLDS = 10
COMMON_SHARE = 0.2
"""A word held by this share of the fitted articles is listed as common: explanations leave it out."""
SMALLEST_WEIGHT = 1e-3
"""Weights nearer zero than this are dropped, in cross-validation as in the file (a seventh of them): a
thousand of them together move a probability by less than the thresholds' spacing."""


@dataclass(frozen=True)
class Judged:
    """One article as the rules judged it, and as the topic with the scorer as its second stage did."""

    article: Article
    by_rules: bool
    with_scorer: bool


def fit(rows: Sequence[dict[str, float]], labels: Sequence[bool], regularisation: float) -> tuple[float, dict[str, float]]:
    """The intercept and the weight of each feature, learned from `rows`."""
    vectorizer = DictVectorizer()
    model = LogisticRegression(C=regularisation, max_iter=10_000)
    model.fit(vectorizer.fit_transform(rows), labels)
    weights = dict(zip(vectorizer.get_feature_names_out(), model.coef_[0], strict=True))
    return float(model.intercept_[0]), {str(name): round(float(weight), 6) for name, weight in weights.items()
                                        if abs(weight) >= SMALLEST_WEIGHT}


def scorer_of(intercept: float, weights: dict[str, float], query_text: str) -> Scorer:
    """A fitted model as the topic uses it, so that cross-validation scores exactly as the crawl will."""
    return Scorer(name="cross-validation", digest="", query_digest=query_digest(query_text), intercept=intercept,
                  weights=weights, veto_below=VETO_BELOW, rescue_from=RESCUE_FROM)


def cross_validate(articles: Sequence[Article], rows: Sequence[dict[str, float] | None], rules: Sequence[bool],
                   query_text: str, folds: int) -> list[Judged]:
    """Each article judged by a scorer trained on the other folds' articles."""
    judged: list[Judged] = []
    size = -(-len(articles) // folds)
    for start in range(0, len(articles), size):
        held = range(start, min(start + size, len(articles)))
        train = [index for index in range(len(articles)) if index not in held and rows[index] is not None]
        intercept, weights = fit([rows[index] or {} for index in train], [articles[index].on_topic for index in train],
                                 REGULARISATION)
        scorer = scorer_of(intercept, weights, query_text)
        judged += [Judged(articles[index], rules[index], rules[index] if (row := rows[index]) is None
                          else scorer.decides(rules[index], scorer.probability(row))) for index in held]
    return judged


def figures(judged: Sequence[Judged], group: str, *, with_scorer: bool) -> Tally:
    """The counts and rates of one language group ("all" for every article), as the relevance benchmark
    tallies them."""
    return tally([Verdict(item.article, matched=item.with_scorer if with_scorer else item.by_rules, score=0.0,
                          terms=()) for item in judged], group)


def report(judged: Sequence[Judged], folds: int, path: Path) -> list[str]:
    """Per language, the rules alone and the rules with a scorer that never saw the article."""
    lines = [f"Cross-validated over {folds} contiguous blocks of `{path.name}` ({len(judged)} articles).", "",
             "| language | rules: recall | rules: precision | with the scorer: recall | with the scorer: precision "
             "| misses | false alarms |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for group in (*GROUPS, "all"):
        rules, scored = figures(judged, group, with_scorer=False), figures(judged, group, with_scorer=True)
        lines.append(f"| {group} | {rate(rules.recall)} | {rate(rules.precision)} | {rate(scored.recall)} | "
                     f"{rate(scored.precision)} | {scored.misses} | {scored.false_alarms} |")
    vetoed = [item.article for item in judged if item.by_rules and not item.with_scorer]
    rescued = [item.article for item in judged if not item.by_rules and item.with_scorer]
    for heading, changed in (("Vetoed", vetoed), ("Rescued", rescued)):
        lines += ["", f"{heading} ({len(changed)}): "
                  + (", ".join(f"{article.id} ({article.label})" for article in changed) or "none")]
    return lines


def common_words(rows: Sequence[dict[str, float]]) -> list[str]:
    """The word features at least `COMMON_SHARE` of `rows` hold, sorted."""
    held = Counter(name for row in rows for name in row if name.startswith(WORD_PREFIXES))
    return sorted(name for name, count in held.items() if count >= COMMON_SHARE * len(rows))


def write_scorer(path: Path, topic: Topic, intercept: float, weights: dict[str, float], common: list[str],
                 trained_on: Path, articles: int, fitted: int) -> None:
    """The weights file the topic reads, its keys sorted (`fit` rounded the numbers) so retraining diffs well."""
    document = {
        "format": SCORER_FORMAT,
        "name": path.stem,
        "query_sha256": query_digest(topic.query_text),
        "trained": {"set": shown(trained_on), "articles": articles, "fitted_on": fitted,
                    "matcher_version": MATCHER_VERSION, "regularisation": REGULARISATION},
        "veto_below": VETO_BELOW,
        "rescue_from": RESCUE_FROM,
        "intercept": round(intercept, 6),
        "common": common,
        "weights": dict(sorted(weights.items())),
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=0, sort_keys=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """Cross-validate, print the figures, then train on the whole set and write the weights."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_scorer", description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=ARTICLES, dest="path", help="the labelled set to learn from")
    parser.add_argument("--out", type=Path, default=shipped_scorer_path(DEFAULT_SCORER),
                        help="where to write the weights (default: the default topic's shipped scorer)")
    parser.add_argument("--folds", type=int, default=FOLDS, help="blocks of the cross-validation")
    parser.add_argument("--query", help="the topic query to train for, as the configuration writes it "
                                        "(default: the default topic's); its scorer serves that query only")
    parser.add_argument("--write-results", action="store_true",
                        help=f"replace the '{SECTION}' section of {shown(RESULTS)} with this run's figures")
    args = parser.parse_args(argv)
    default = default_topics()[0]
    rules_only = Topic.from_config(default.name, args.query or default.query_text, default.min_score)
    articles = load_articles(args.path)
    rows = [scorer_features(rules_only, title=article.title, text=article.text) for article in articles]
    rules = [match_topic(rules_only, title=article.title, text=article.text) is not None for article in articles]
    lines = report(cross_validate(articles, rows, rules, rules_only.query_text, args.folds), args.folds, args.path)
    print("\n".join(lines))
    fitted = [index for index, row in enumerate(rows) if row is not None]
    intercept, weights = fit([rows[index] or {} for index in fitted], [articles[index].on_topic for index in fitted],
                             REGULARISATION)
    write_scorer(args.out, rules_only, intercept, weights, common_words([rows[index] or {} for index in fitted]),
                 args.path, len(articles), len(fitted))
    print(f"\nwrote {shown(args.out)}: fitted on the {len(fitted)} of {len(articles)} articles that name every side")
    if args.write_results:
        setup = (f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on commit `{short_commit()}` with "
                 "`.venv/bin/python -m benchmarks.train_scorer --write-results`. The development set's own figures "
                 "in the section above come from a scorer trained on it; these come from scorers that never saw "
                 f"the articles they judge (C = {REGULARISATION:g}, veto below {VETO_BELOW:g}, rescue from "
                 f"{RESCUE_FROM:g}).")
        RESULTS.write_text(replace_section(RESULTS.read_text(encoding="utf-8"),
                                           "\n".join([SECTION, "", setup, "", *lines]) + "\n"), encoding="utf-8")
        print(f"wrote {SECTION!r} to {shown(RESULTS)}")


if __name__ == "__main__":
    main()
