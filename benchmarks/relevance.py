"""Relevance of the default topic on two labelled sets: precision and recall per language (issue #11, item 3).

Why: the digest is only as good as the topic filter in front of it. A miss is a story an analyst never
sees. A false alarm is noise that teaches them to skim. There are two sets, both in
`benchmarks/relevance/` (its README gives the labelling rule and the kinds of traps). The development
set, `articles.jsonl`, is the one the default topic's rules were tuned on and its scorer was trained on
(`benchmarks/train_scorer.py`), so its figures here are training figures; that script's cross-validated
ones are the development set's honest figures. The held-out set, `heldout.jsonl`, was written
afterwards on other events by someone who had not seen the matcher, and is never used for tuning or
training, so its figures say whether both carry over. Each holds en, zh-Hant, zh-Hans and ja articles, half on topic. Each article was labelled
by whether an analyst following Taiwan–Japan relations wants to read it, never by what a matcher finds.

Each article's title and text go through the package's public API,
`judge_topics(default_topics(), title=..., text=...)`, the judgement `match_topics` makes, with its
reasons. An article is predicted on topic when any
default topic matches it. A miss is an on-topic article with no match. A false alarm is an off-topic
article with a match. A miss is listed with why the topic refused it, in the matcher's own words
(`judge_topics`: a side nothing names, a gate that holds, a score short of min_score, sides named
apart, a roundup), its score and the terms that occurred. Targets for the default topic: recall >= 0.98
and precision >= 0.95, on each set.

    .venv/bin/python -m benchmarks.relevance [--set dev|heldout|both] [--write-results]

Each set is reported on its own: its per-language table, then its misses and false alarms. `--set`
chooses the sets (default both). `--write-results` needs both: it replaces the "## Relevance (issue #11)"
section of benchmarks/RESULTS.md (it is appended when missing) with this run's figures for the two sets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.common import REPO, replace_section, short_commit
from kuroshio.crawler.topics import Refusal, Topic, default_topics, judge_topics
from kuroshio.storage.records import TopicMatch

ARTICLES = REPO / "benchmarks" / "relevance" / "articles.jsonl"
HELDOUT = REPO / "benchmarks" / "relevance" / "heldout.jsonl"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Relevance (issue #11)"
GROUPS = ("en", "zh-hant", "zh-hans", "ja")
LABELS = frozenset({"on", "off"})
SCRIPTS = {"en": frozenset({"latin"}), "zh": frozenset({"hant", "hans"}), "ja": frozenset({"ja"})}
TARGET_RECALL = 0.98
TARGET_PRECISION = 0.95


@dataclass(frozen=True)
class ArticleSet:
    """One labelled set: the name `--set` knows it by, its heading in reports, and its file."""

    name: str
    title: str
    path: Path


SETS = (ArticleSet("dev", "Development set", ARTICLES), ArticleSet("heldout", "Held-out set", HELDOUT))
SET_CHOICES = (*(article_set.name for article_set in SETS), "both")


def chosen_sets(choice: str) -> tuple[ArticleSet, ...]:
    """The sets `--set choice` names: one by its name, or every set for "both"."""
    return tuple(article_set for article_set in SETS if choice in (article_set.name, "both"))


class RelevanceSetError(ValueError):
    """A line of the relevance set that is not a well-formed article; the message names the line."""


@dataclass(frozen=True)
class Article:
    """One labelled article of the set."""

    id: str
    language: str
    script: str
    label: str
    kind: str
    title: str
    text: str
    note: str

    @property
    def on_topic(self) -> bool:
        """True when the article is labelled on topic."""
        return self.label == "on"

    @property
    def group(self) -> str:
        """The row it is counted in: its language, and for Chinese its script (zh-hant, zh-hans)."""
        return f"zh-{self.script}" if self.language == "zh" else self.language


@dataclass(frozen=True)
class Verdict:
    """What the topic made of one article.

    `matched`: the topic matched. `score` and `terms`: the match's score and terms; for an article the
    topic did not match, what it scored and what occurred, with `reason`, the matcher's word for why it
    refused (None for a match).
    """

    article: Article
    matched: bool
    score: float
    terms: tuple[str, ...]
    reason: str | None = None

    @property
    def miss(self) -> bool:
        """An on-topic article the topic did not match."""
        return self.article.on_topic and not self.matched

    @property
    def false_alarm(self) -> bool:
        """An off-topic article the topic matched."""
        return self.matched and not self.article.on_topic


@dataclass(frozen=True)
class Tally:
    """Counts and rates for one group of articles."""

    group: str
    articles: int
    on_topic: int
    true_positives: int
    misses: int
    false_alarms: int

    @property
    def precision(self) -> float | None:
        """Share of matched articles that are on topic; None when nothing was matched."""
        matched = self.true_positives + self.false_alarms
        return self.true_positives / matched if matched else None

    @property
    def recall(self) -> float | None:
        """Share of on-topic articles that were matched; None when the group has none on topic."""
        return self.true_positives / self.on_topic if self.on_topic else None


def load_articles(path: Path = ARTICLES) -> list[Article]:
    """Read the set, one JSON object per line; a malformed line raises RelevanceSetError naming it."""
    articles = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as error:
            raise RelevanceSetError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(fields, dict):
            raise RelevanceSetError(f"{where}: expected a JSON object")
        articles.append(_article(fields, where))
    return articles


def _article(fields: dict[str, object], where: str) -> Article:
    names = [field.name for field in dataclasses.fields(Article)]
    if sorted(fields) != sorted(names):
        raise RelevanceSetError(f"{where}: expected the keys {', '.join(names)}, found {', '.join(fields)}")
    if not all(isinstance(fields[name], str) and fields[name] for name in names):
        raise RelevanceSetError(f"{where}: every field must be a non-empty string")
    article = Article(**{name: str(fields[name]) for name in names})
    if article.label not in LABELS:
        raise RelevanceSetError(f"{where}: label {article.label!r} is neither 'on' nor 'off'")
    if article.script not in SCRIPTS.get(article.language, ()):
        raise RelevanceSetError(f"{where}: script {article.script!r} does not go with language {article.language!r}")
    return article


def judge(article: Article, topics: Sequence[Topic]) -> Verdict:
    """Match one article against `topics` as the crawler does; when none matches, the best-scoring
    topic's refusal says why."""
    judged = judge_topics(topics, title=article.title, text=article.text)
    matches = [match for match in judged if isinstance(match, TopicMatch)]
    if matches:
        best = max(matches, key=lambda match: match.score)
        return Verdict(article=article, matched=True, score=best.score, terms=best.terms)
    refusal = max((refused for refused in judged if isinstance(refused, Refusal)), key=lambda refused: refused.score,
                  default=None)
    if refusal is None:
        return Verdict(article=article, matched=False, score=0.0, terms=(), reason="no topic")
    return Verdict(article=article, matched=False, score=refusal.score, terms=refusal.terms, reason=refusal.reason)


def tally(verdicts: Iterable[Verdict], group: str) -> Tally:
    """Count one group; the group "all" counts every verdict."""
    chosen = [verdict for verdict in verdicts if group == "all" or verdict.article.group == group]
    return Tally(
        group=group,
        articles=len(chosen),
        on_topic=sum(verdict.article.on_topic for verdict in chosen),
        true_positives=sum(verdict.matched and verdict.article.on_topic for verdict in chosen),
        misses=sum(verdict.miss for verdict in chosen),
        false_alarms=sum(verdict.false_alarm for verdict in chosen),
    )


def tallies(verdicts: Sequence[Verdict]) -> list[Tally]:
    """One tally per language group, then one for the whole set."""
    return [tally(verdicts, group) for group in (*GROUPS, "all")]


def rate(value: float | None) -> str:
    """A rate to three places, or "n/a" when it is undefined (nothing matched, nothing on topic)."""
    return "n/a" if value is None else f"{value:.3f}"


def describe_score(verdict: Verdict) -> str:
    """The score as a reader needs it: a match's score, or why the topic refused the article."""
    return f"score {verdict.score:g}" if verdict.matched else f"refused, {verdict.reason}"


def describe(verdict: Verdict) -> str:
    """One line for a miss or a false alarm: id, language, kind, score and matched terms."""
    terms = ", ".join(verdict.terms) if verdict.terms else "-"
    return f"{verdict.article.id} ({verdict.article.group}, {verdict.article.kind}): {describe_score(verdict)}; terms: {terms}"


def table(rows: Sequence[Tally]) -> list[str]:
    """The per-language figures as a Markdown table (printed and written alike)."""
    lines = ["| language | articles | on topic | true positives | misses | false alarms | precision | recall |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {row.group} | {row.articles} | {row.on_topic} | {row.true_positives} | {row.misses} | "
              f"{row.false_alarms} | {rate(row.precision)} | {rate(row.recall)} |" for row in rows]
    return lines


def report(verdicts: Sequence[Verdict]) -> list[str]:
    """The table, then every miss and every false alarm."""
    misses = [verdict for verdict in verdicts if verdict.miss]
    false_alarms = [verdict for verdict in verdicts if verdict.false_alarm]
    lines = table(tallies(verdicts))
    lines += ["", f"Misses ({len(misses)}), on topic but not matched:", ""]
    lines += [f"- {describe(verdict)}" for verdict in misses] or ["- none"]
    lines += ["", f"False alarms ({len(false_alarms)}), off topic but matched:", ""]
    lines += [f"- {describe(verdict)}" for verdict in false_alarms] or ["- none"]
    return lines


def summary(verdicts: Sequence[Verdict]) -> str:
    """One line for a set: its size, recall and precision, and whether the targets held."""
    overall = tally(verdicts, "all")
    held = "held" if (overall.recall or 0) >= TARGET_RECALL and (overall.precision or 0) >= TARGET_PRECISION \
        else "missed"
    return (f"{overall.articles} articles, {overall.on_topic} on topic: recall {rate(overall.recall)}, "
            f"precision {rate(overall.precision)}, targets {held}.")


def section(results: Sequence[tuple[ArticleSet, Sequence[Verdict]]], *, commit: str,
            topics: Sequence[Topic]) -> str:
    """The RESULTS.md section for this run: the setup, then each set's summary, table, misses and false alarms."""
    names = ", ".join(f"`{topic.name}` (min score {topic.min_score:g})" for topic in topics)
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on commit `{commit}` with "
        "`.venv/bin/python -m benchmarks.relevance --write-results`.",
        "",
        "**Setup.** Two labelled sets in `benchmarks/relevance/`. Each article was labelled before any run, by "
        "whether an analyst following Taiwan–Japan relations wants to read it (see "
        "`benchmarks/relevance/README.md`). The development set, `articles.jsonl`, is the one the default "
        "topic's rules were tuned on and its learned scorer was trained on, so its figures below are training "
        "figures (the section \"Relevance scorer, cross-validated\" has honest ones). The held-out set, `heldout.jsonl`, was written afterwards on other events and is "
        "never used for tuning: it says whether the tuning carries over (earlier held-out sets, once their errors "
        "had been read, moved into the development set: see the set's README). The topic is "
        f"{names}, from `default_topics()` and `judge_topics()`. Targets, on each set: recall ≥ "
        f"{TARGET_RECALL}, precision ≥ {TARGET_PRECISION}.",
    ]
    for article_set, verdicts in results:
        lines += ["", f"### {article_set.title} (`{article_set.path.name}`)", "", summary(verdicts), "",
                  *report(verdicts)]
    return "\n".join(lines) + "\n"


def run(articles: Sequence[Article], topics: Sequence[Topic]) -> list[Verdict]:
    """Judge every article in order."""
    return [judge(article, topics) for article in articles]


def shown(path: Path) -> str:
    """A path as the reader knows it: relative to the repository when it lies inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: Sequence[str] | None = None) -> None:
    """Score the chosen sets, print each set's report, and with --write-results record both in RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relevance", description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SET_CHOICES, default="both", dest="choice",
                        help="which labelled set to score: the development set, the held-out set, or both (default)")
    parser.add_argument("--write-results", action="store_true",
                        help=f"replace the '{SECTION}' section of {shown(RESULTS)} with both sets' figures")
    args = parser.parse_args(argv)
    if args.write_results and args.choice != "both":
        parser.error(f"--write-results records both sets; drop --set {args.choice}")
    topics = default_topics()
    print("topics: " + ", ".join(f"{topic.name} (min score {topic.min_score:g})" for topic in topics))
    results: list[tuple[ArticleSet, Sequence[Verdict]]] = []
    for article_set in chosen_sets(args.choice):
        verdicts = run(load_articles(article_set.path), topics)
        results.append((article_set, verdicts))
        print(f"\n## {article_set.title}: {len(verdicts)} articles from {shown(article_set.path)}\n")
        print(summary(verdicts))
        print()
        print("\n".join(report(verdicts)))
    if args.write_results:
        RESULTS.write_text(replace_section(RESULTS.read_text(encoding="utf-8"),
                                           section(results, commit=short_commit(), topics=topics)), encoding="utf-8")
        print(f"wrote {SECTION!r} to {shown(RESULTS)}")


if __name__ == "__main__":
    main()
