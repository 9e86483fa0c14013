"""BM25 ranking of documents for a word query, with words in a title counting extra."""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD_RE = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``, in order."""
    return _WORD_RE.findall(text.lower())


class Bm25Index:
    """Documents added one by one, ranked by Okapi BM25.

    A title word counts ``title_weight`` times a body word, so a document
    named for the query outranks one that only mentions it.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, title_weight: float = 3.0) -> None:
        self._k1, self._b, self._title_weight = k1, b, title_weight
        self._counts: list[Counter[str]] = []
        self._lengths: list[float] = []
        self._document_frequency: Counter[str] = Counter()

    def add(self, title: str, body: str) -> int:
        """Index a document; returns its number (0, 1, ...)."""
        counts: Counter[str] = Counter()
        body_words, title_words = words(body), words(title)
        for word in body_words:
            counts[word] += 1
        for word in title_words:
            counts[word] += self._title_weight
        self._counts.append(counts)
        self._lengths.append(len(body_words) + self._title_weight * len(title_words))
        self._document_frequency.update(counts.keys())
        return len(self._counts) - 1

    def rank(self, query: str) -> list[tuple[int, float]]:
        """Documents that contain a query word, as (number, score), best first."""
        total = len(self._counts)
        if not total:
            return []
        average = sum(self._lengths) / total or 1.0
        terms = set(words(query))
        scored: list[tuple[int, float]] = []
        for number, counts in enumerate(self._counts):
            score = 0.0
            norm = self._k1 * (1 - self._b + self._b * self._lengths[number] / average)
            for term in terms:
                frequency = counts.get(term, 0)
                if frequency:
                    df = self._document_frequency[term]
                    idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
                    score += idf * frequency * (self._k1 + 1) / (frequency + norm)
            if score > 0:
                scored.append((number, score))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored
