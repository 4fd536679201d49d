"""Extraction quality on a public benchmark: Kuroshio's extraction step against plain trafilatura.

Why: publisher rules and Kuroshio's cleanup (title line, furniture lines, bylines, the evidence that
a page is an article, reading a short page without trafilatura's whole-page rescue first) must not cost
accuracy on the open web. The data is the article-extraction-benchmark (181
real pages with hand-made article bodies) in /work/shared/benchmarks; its README defines the metric,
implemented here as written: `\\w+` tokens, 4-token shingles with multiplicity, per-page precision and
recall (TP, FP, FN normalised per page), averaged over pages, F1 of the averages; accuracy is the share
of pages whose token sequence matches exactly.

Kuroshio: `crawler.extract.extract_article` with no publisher (generic rules) and the page's URL from
the ground truth; a NoArticleError is an empty prediction. Plain: `trafilatura.extract(html)` with its
defaults. Both in the same run, on the same decoded HTML.

    .venv/bin/python -m benchmarks.extraction_quality [--worst 8]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trafilatura

from benchmarks.common import SHARED, machine_summary
from kuroshio.crawler.extract import NoArticleError, extract_article

DATA = SHARED / "benchmarks" / "article-extraction-benchmark"
TOKEN = re.compile(r"\w+")
SHINGLE = 4


@dataclass(frozen=True)
class PageScore:
    """One page's precision, recall and whether the token sequences match exactly."""

    page_id: str
    precision: float
    recall: float
    exact: bool


@dataclass(frozen=True)
class Score:
    """An extractor's averages over the benchmark, and its pages."""

    name: str
    precision: float
    recall: float
    f1: float
    accuracy: float
    seconds: float
    pages: tuple[PageScore, ...]


def shingles(text: str) -> Counter[tuple[str, ...]]:
    """4-token shingles of `text` with multiplicity (a text shorter than 4 tokens is one shingle)."""
    tokens = TOKEN.findall(text)
    return Counter(tuple(tokens[start:start + SHINGLE]) for start in range(max(1, len(tokens) - SHINGLE + 1))
                   if tokens[start:start + SHINGLE])


def score_page(page_id: str, *, truth: str, prediction: str) -> PageScore:
    """Precision and recall of one prediction as the benchmark defines them."""
    expected, predicted = shingles(truth), shingles(prediction)
    true_positive = sum((expected & predicted).values())
    false_positive = sum((predicted - expected).values())
    false_negative = sum((expected - predicted).values())
    total = true_positive + false_positive + false_negative
    if false_positive == false_negative == 0:
        precision = recall = 1.0
    else:  # normalised so the three sum to 1: the ratios are unchanged, and no page outweighs another
        tp, fp, fn = (count / total for count in (true_positive, false_positive, false_negative))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
    return PageScore(page_id, precision, recall, TOKEN.findall(truth) == TOKEN.findall(prediction))


def evaluate(name: str, extract: Callable[[str, str], str], pages: Sequence[tuple[str, str, str, str]]) -> Score:
    """Score `extract(html, url) -> text` on every (id, html, url, truth) page."""
    started = time.perf_counter()
    predictions = [(page_id, extract(html, url), truth) for page_id, html, url, truth in pages]
    seconds = time.perf_counter() - started
    scores = tuple(score_page(page_id, truth=truth, prediction=prediction) for page_id, prediction, truth in predictions)
    precision = sum(score.precision for score in scores) / len(scores)
    recall = sum(score.recall for score in scores) / len(scores)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(score.exact for score in scores) / len(scores)
    return Score(name, precision, recall, f1, accuracy, seconds, scores)


def kuroshio_text(html: str, url: str) -> str:
    """Kuroshio's extraction step, generic rules; no article is an empty prediction."""
    try:
        return extract_article(html, url=url, source="benchmark").text
    except NoArticleError:
        return ""


def plain_trafilatura_text(html: str, url: str) -> str:
    """trafilatura.extract with every option at its default."""
    return trafilatura.extract(html) or ""


def load_pages() -> list[tuple[str, str, str, str]]:
    """(id, html, url, true body) of every benchmark page."""
    truth = json.loads((DATA / "ground-truth.json").read_text(encoding="utf-8"))
    return [(page_id, gzip.decompress((DATA / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8"),
             entry["url"], entry["articleBody"]) for page_id, entry in sorted(truth.items())]


def main(argv: Sequence[str] | None = None) -> None:
    """Score both extractors and print the table, then the pages where Kuroshio loses most."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extraction_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--worst", type=int, default=8, help="list the N pages where Kuroshio trails plain trafilatura most")
    args = parser.parse_args(argv)
    print(machine_summary())
    pages = load_pages()
    print(f"{len(pages)} pages from {DATA}")
    results = [evaluate("Kuroshio extract_article (generic)", kuroshio_text, pages),
               evaluate("trafilatura.extract defaults", plain_trafilatura_text, pages)]
    print(f"{'extractor':<38} {'precision':>9} {'recall':>7} {'F1':>7} {'accuracy':>8} {'time':>7}")
    for result in results:
        print(f"{result.name:<38} {result.precision:9.3f} {result.recall:7.3f} {result.f1:7.3f} "
              f"{result.accuracy:8.3f} {result.seconds:6.1f}s")
    kuroshio, plain = results
    print(f"F1 difference Kuroshio - plain: {kuroshio.f1 - plain.f1:+.4f} (target >= 0)")
    by_id = {score.page_id: score for score in plain.pages}
    url_of = {page_id: url for page_id, _, url, _ in pages}
    losses = sorted(((by_id[s.page_id].precision + by_id[s.page_id].recall - s.precision - s.recall, s)
                     for s in kuroshio.pages), key=lambda pair: -pair[0])
    print("pages where Kuroshio trails most (P+R lost; Kuroshio P/R vs plain P/R):")
    for loss, score in losses[:args.worst]:
        if loss <= 0:
            break
        other = by_id[score.page_id]
        print(f"  {loss:5.2f}  {score.precision:.2f}/{score.recall:.2f} vs {other.precision:.2f}/{other.recall:.2f}  "
              f"{url_of[score.page_id][:90]}")


if __name__ == "__main__":
    main()
