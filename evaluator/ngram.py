"""Reply language models that never see the input: the baselines a chatbot must beat.

Both work in the model's own token space: Transform ids, ``<unk>`` for out-of-vocabulary
words, and every reply closed by ``<eos>``, so their perplexities compare directly with
the seq2seq model's teacher-forced perplexity on the same targets.

* :class:`UnigramLM`: add-one smoothed token frequencies.
* :class:`KneserNeyTrigramLM`: interpolated Kneser–Ney (Chen & Goodman 1998, section 3)
  with one absolute discount per order, ``D = n1 / (n1 + 2 n2)``; the lower orders use
  continuation counts and the unigram level is interpolated with the uniform distribution,
  so every token of the vocabulary has a probability. A reply's history starts as
  ``<bos> <bos>``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from common import features

Reply = Sequence[int]  # reply token ids, closed by <eos>


def reply_ids(row: Iterable[int]) -> list:
    """The target ids of one padded row: the reply up to and including ``<eos>``."""
    out = []
    for i in row:
        i = int(i)
        if i == features.PAD_ID:
            break
        out.append(i)
        if i == features.EOS_ID:
            break
    return out


def _discount(counts: Iterable[int]) -> float:
    histogram = Counter(c for c in counts if c <= 2)
    n1, n2 = histogram[1], histogram[2]
    return n1 / (n1 + 2 * n2) if n1 else 0.5


class UnigramLM:
    """Add-one smoothed unigram over ``vocab_size`` ids (``<pad>`` and ``<bos>`` are never targets)."""

    def __init__(self, replies: Iterable[Reply], vocab_size: int):
        self.counts = Counter(t for r in replies for t in r)
        self.outcomes = vocab_size - 2  # every id but <pad> and <bos>
        self.total = sum(self.counts.values())

    def prob(self, token: int, history: tuple[int, ...] = ()) -> float:
        return (self.counts[token] + 1.0) / (self.total + self.outcomes)


class KneserNeyTrigramLM:
    """Interpolated Kneser–Ney trigram over ``vocab_size`` ids."""

    def __init__(self, replies: Iterable[Reply], vocab_size: int):
        self.outcomes = vocab_size - 2
        tri: Counter = Counter()
        for reply in replies:
            padded = (features.BOS_ID, features.BOS_ID, *reply)
            tri.update(zip(padded, padded[1:], padded[2:]))
        # Highest order: raw counts per context (u, v).
        self.tri = tri
        self.ctx2: Counter = Counter()
        self.follow2: Counter = Counter()  # distinct w after (u, v)
        # Middle order: continuation counts N1+(. v w).
        self.cont2: Counter = Counter()
        self.ctx1: Counter = Counter()  # sum over w of N1+(. v w)
        self.follow1: Counter = Counter()  # distinct w with N1+(. v w) > 0
        for (u, v, w), c in tri.items():
            self.ctx2[(u, v)] += c
            self.follow2[(u, v)] += 1
            self.cont2[(v, w)] += 1
        for (v, _w), c in self.cont2.items():
            self.ctx1[v] += c
            self.follow1[v] += 1
        # Lowest order: N1+(. w), the number of distinct histories v before w.
        self.cont1: dict[int, int] = defaultdict(int)
        for _v, w in self.cont2:
            self.cont1[w] += 1
        self.cont1_total = sum(self.cont1.values())
        self.d3 = _discount(tri.values())
        self.d2 = _discount(self.cont2.values())
        self.d1 = _discount(self.cont1.values())

    def _p1(self, w: int) -> float:
        lam = self.d1 * len(self.cont1) / self.cont1_total
        return max(self.cont1.get(w, 0) - self.d1, 0.0) / self.cont1_total + lam / self.outcomes

    def _p2(self, v: int, w: int) -> float:
        total = self.ctx1.get(v, 0)
        if not total:
            return self._p1(w)
        lam = self.d2 * self.follow1[v] / total
        return max(self.cont2.get((v, w), 0) - self.d2, 0.0) / total + lam * self._p1(w)

    def prob(self, token: int, history: tuple[int, ...]) -> float:
        """p(token | the last two tokens of ``history``)."""
        u, v = history[-2], history[-1]
        total = self.ctx2.get((u, v), 0)
        if not total:
            return self._p2(v, token)
        lam = self.d3 * self.follow2[(u, v)] / total
        return max(self.tri.get((u, v, token), 0) - self.d3, 0.0) / total + lam * self._p2(v, token)


def _log_prob(lm, reply: Reply) -> float:
    """The natural-log probability of a whole reply (closed by ``<eos>``) under ``lm``."""
    history, total = (features.BOS_ID, features.BOS_ID), 0.0
    for token in reply:
        total += math.log(lm.prob(token, history))
        history = (history[-1], token)
    return total


def perplexity(lm, replies: Iterable[Reply]) -> float:
    """exp of the mean negative log-probability per reply token (``<eos>`` included)."""
    replies = list(replies)
    tokens = sum(len(r) for r in replies)
    return math.exp(-sum(_log_prob(lm, r) for r in replies) / tokens) if tokens else float("nan")


def mean_log_prob(lm, reply: Reply) -> float:
    """A reply's mean natural-log probability per token under ``lm`` (``reply`` closed by
    ``<eos>``, as :func:`perplexity` reads it): the fluency of one reply."""
    return _log_prob(lm, reply) / len(reply) if reply else float("nan")


def word_fluency(lm, id_to_token: Sequence[str]):
    """A reply's fluency under ``lm`` from its words: (words -> mean log-probability per token), the
    words mapped to the model's ids (``<unk>`` for others) and the reply closed by ``<eos>``."""
    ids = {w: i for i, w in enumerate(id_to_token)}
    return lambda reply: mean_log_prob(lm, [ids.get(w, features.UNK_ID) for w in reply] + [features.EOS_ID])
