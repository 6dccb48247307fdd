"""The reader's votes as a small per-subscriber model: kernel logistic regression.

Each subscriber with votes gets a linear model over paper features (tf-idf vectors,
embeddings when the semantic ranker is on, categories when `feedback_category` is set)
fitted to their votes (decayed by age), their liked papers (positives) and a fixed sample
of the day's papers (weak negatives, weighing `feedback_negatives` times their votes). It is
fitted in its dual form, f(paper) = sum_j alpha_j k(x_j, paper) over the subscriber's own
training papers, and subscribers are fitted side by side, a chunk at a time, independently.

A "more" vote is also strong evidence on its own, like a liked paper: each paper's closeness
to the nearest more-voted paper is scored the way liked papers are (tf-idf cosine and, with
the semantic ranker, embedding cosine, each scaled by the day's best) and added, times
`w_feedback_more`. Beside a profile of their own, what votes add ramps in with their number,
n / (n + `feedback_ramp`): a few votes help, they cannot take over. The reason names the
closest paper the reader voted on that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from digest.rank.model import Candidate, Interest, RankParams, Reason
from digest.rank.queries import liked_vectors, membership
from digest.rank.textfeat import CorpusStats, Vocabulary, doc_terms

SAMPLE_SEED = 13  # the weak negatives are the same sample of the day for every subscriber


@dataclass
class Features:
    """Papers as the model sees them: unit tf-idf rows, unit embeddings (semantic ranker only)
    and unit category rows."""

    lexical: sparse.csr_matrix
    embedded: np.ndarray | None
    categories: sparse.csr_matrix

    def rows(self, index: Sequence[int] | np.ndarray | slice) -> Features:
        """The features of some of the papers."""
        return Features(self.lexical[index],
                        self.embedded[index] if self.embedded is not None else None,
                        self.categories[index])


def kernel_parts(a: Features, b: Features) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """tf-idf cosines, embedding cosines (None without embeddings) and category cosines."""
    lexical = np.asarray((a.lexical @ b.lexical.T).toarray(), dtype=np.float32)
    embedded = np.asarray(a.embedded @ b.embedded.T, dtype=np.float32) \
        if a.embedded is not None and b.embedded is not None else None
    return lexical, embedded, np.asarray((a.categories @ b.categories.T).toarray(),
                                         dtype=np.float32)


def combine(parts: tuple[np.ndarray, np.ndarray | None, np.ndarray],
            params: RankParams) -> np.ndarray:
    """The model's (linear) kernel from its parts: tf-idf cosine, plus weighted embedding and
    category cosines."""
    lexical, embedded, categories = parts
    out = lexical.copy()
    if embedded is not None:
        out += params.feedback_semantic * embedded
    if params.feedback_category:
        out += params.feedback_category * categories
    return out


def kernel(a: Features, b: Features, params: RankParams) -> np.ndarray:
    """The model's (linear) kernel: tf-idf cosine, plus weighted embedding and category cosines."""
    return combine(kernel_parts(a, b), params)


def block_kernel(points: Features, bounds: np.ndarray, params: RankParams) -> np.ndarray:
    """`kernel` within each block of consecutive rows (a subscriber's own points; `bounds` are
    the blocks' starts and the end), each block's matrix flattened row by row, one after
    another: the pairs the fit needs, not every pair of rows."""
    out = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        out.append(kernel(points.rows(slice(lo, hi)), points.rows(slice(lo, hi)), params).ravel())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def category_rows(per_paper: Sequence[Sequence[str]], index: dict[str, int]) -> sparse.csr_matrix:
    """Unit rows of category membership (categories added to `index` as they are met)."""
    rows = membership(per_paper, index)
    norms = np.sqrt(np.asarray(rows.sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ rows, dtype=np.float32)


@dataclass
class FeedbackInputs:
    """Day-level features of every voted or liked paper some voter has, and the negatives."""

    index: dict[str, int]          # paper id -> row of `train`
    ids: list[str]                 # row -> paper id
    day_index: dict[str, int]      # candidate id -> candidate index
    titles: dict[str, str]
    train: Features                # voted and liked papers
    day: Features                  # the day's candidates
    negatives: np.ndarray          # candidate indices of the weak negatives
    k_neg_day: np.ndarray          # negatives x candidates kernel


def has_votes(interest: Interest) -> bool:
    """True when the subscriber has voted (only they get a feedback model)."""
    return bool(interest.votes)


def feedback_inputs(active: Sequence[Interest], candidates: Sequence[Candidate],
                    texts: dict[str, tuple[str, str]], categories: dict[str, tuple[str, ...]],
                    vocab: Vocabulary, stats: CorpusStats, params: RankParams,
                    day_tfidf: sparse.csr_matrix, alive: np.ndarray,
                    day_embeddings: np.ndarray | None,
                    embedded: dict[str, np.ndarray] | None) -> FeedbackInputs | None:
    """Features of the voters' training papers and of the day, or None when nobody voted."""
    voters = [i for i in active if has_votes(i)]
    if not voters:
        return None
    ids = sorted({p for i in voters for p in i.known_papers if p in texts})
    tfidf = liked_vectors([doc_terms(*texts[p], frozenset()) for p in ids], vocab, stats,
                          params.liked_terms)
    vectors = None
    if day_embeddings is not None and day_embeddings.ndim == 2:
        vectors = np.zeros((len(ids), day_embeddings.shape[1]), dtype=np.float32)
        for n, p in enumerate(ids):
            if embedded is not None and (v := embedded.get(p)) is not None:
                vectors[n] = v
    cats: dict[str, int] = {}
    day = Features(day_tfidf, day_embeddings if vectors is not None else None,
                   category_rows([c.categories for c in candidates], cats))
    train = Features(tfidf, vectors, category_rows([categories.get(p, ()) for p in ids], cats))
    day.categories.resize((len(candidates), max(len(cats), 1)))
    train.categories.resize((len(ids), max(len(cats), 1)))
    pool = np.nonzero(alive)[0]
    size = min(int(params.feedback_samples), len(pool))
    negatives = np.sort(np.random.default_rng(SAMPLE_SEED).choice(pool, size, replace=False))
    return FeedbackInputs({p: n for n, p in enumerate(ids)}, ids,
                          {c.id: n for n, c in enumerate(candidates)},
                          {p: texts[p][0] for p in ids}, train, day, negatives,
                          kernel(day.rows(negatives), day, params))


@dataclass
class FeedbackChunk:
    """One chunk's fitted models: the feedback value of every paper, and what to cite."""

    values: np.ndarray         # chunk x candidates: the feedback component / w_feedback (the
    #                            model's tanh, plus closeness to more-voted papers); 0 without votes
    rows: dict[int, int]       # local subscriber -> row of `points` / `local`
    points: list[list[tuple[int, int]]]  # per row: (training paper row, vote value; 0 = liked)
    kernel: np.ndarray         # chunk training papers x candidates
    local: list[dict[int, int]]  # per row: training paper row -> row of `kernel`
    ids: list[str]             # training paper row -> paper id
    titles: dict[str, str]
    weight: float

    @property
    def voters(self) -> np.ndarray:
        """True for the chunk's subscribers that have a model."""
        mask = np.zeros(self.values.shape[0], dtype=bool)
        mask[list(self.rows)] = True
        return mask

    def reason(self, sub: int, paper: int, floor: float = 0.05) -> Reason | None:
        """'close to "X", which you marked more-like-this' (or less-) for a scored paper."""
        row = self.rows.get(sub)
        value = float(self.values[sub, paper])
        if row is None or abs(value) < floor:
            return None
        sign = 1 if value > 0 else -1
        voted = [point for point, vote in self.points[row] if vote == sign]
        if not voted:
            return None
        best = max(voted, key=lambda p: float(self.kernel[self.local[row][p], paper]))
        paper_id = self.ids[best]
        mark = "more-like-this" if sign > 0 else "less-like-this"
        return Reason("feedback", f'close to "{self.titles.get(paper_id, paper_id)}", '
                      f"which you marked {mark}", (paper_id,), self.weight * value)


def _points(interest: Interest, inputs: FeedbackInputs,
            params: RankParams) -> list[tuple[int, int, float]]:
    """(training paper row, vote value or 0 for liked, weight) of one subscriber."""
    newest: dict[str, tuple[int, float]] = {}
    for vote in sorted(interest.votes, key=lambda v: -v.age_days):  # the newest vote wins
        if vote.paper_id in inputs.index and vote.value:
            decay = 0.5 ** (max(vote.age_days, 0.0) / max(params.feedback_half_life, 1e-6))
            newest[vote.paper_id] = (1 if vote.value > 0 else -1, decay)
    if not newest:
        return []
    out = [(inputs.index[p], v, w) for p, (v, w) in newest.items()]
    out += [(inputs.index[p], 0, params.feedback_liked) for p in dict.fromkeys(interest.liked)
            if p in inputs.index and p not in newest]
    return out


def feedback_chunk(chunk: range, active: Sequence[Interest], inputs: FeedbackInputs | None,
                   params: RankParams, gate: np.ndarray | None = None) -> FeedbackChunk | None:
    """Fit the models of the chunk's voters (the rest pay nothing) and score every paper: the
    model's tanh times w_feedback, plus w_feedback_more times the closeness to more-voted papers,
    both ramped in by the number of votes (w_feedback 0 turns feedback off). `gate` (chunk x
    papers, semantic mode): how much of its closeness to a liked paper each paper keeps, as
    far as it is also close to a topic (score.topic_gate); closeness to a more-voted paper by
    meaning keeps the same share."""
    if inputs is None or params.w_feedback <= 0:
        return None
    own = {s: pts for s in range(len(chunk))
           if has_votes(active[chunk.start + s])
           and (pts := _points(active[chunk.start + s], inputs, params))}
    if not own:
        return None
    used = sorted({p for pts in own.values() for p, _, _ in pts})
    where = {p: n for n, p in enumerate(used)}
    train = inputs.train.rows(used)
    parts = kernel_parts(train, inputs.day)
    k_day = combine(parts, params)
    negatives = inputs.negatives
    k_neg = inputs.k_neg_day[:, negatives]           # negatives x negatives
    k_train_neg = k_day[:, negatives]                # training papers x negatives
    subs = sorted(own)
    rows, cols, labels, weights, voted = [], [], [], [], []
    for r, s in enumerate(subs):
        for p, vote, w in own[s]:
            voted.append(vote != 0)
            rows.append(r)
            cols.append(where[p])
            labels.append(1.0 if vote >= 0 else -1.0)
            weights.append(w)
    shape = (len(subs), len(used))
    row_arr, col_arr = np.asarray(rows), np.asarray(cols)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_arr, minlength=len(subs)))])
    # each point's score from its own subscriber's points: kernel values of those pairs only
    size = np.diff(indptr)[row_arr]                   # each point's subscriber's point count
    pair_i = np.repeat(np.arange(len(row_arr)), size)  # point i with every j of its block
    pair_j = np.arange(len(pair_i)) - np.repeat(np.cumsum(size) - size, size) \
        + np.repeat(indptr[row_arr], size)
    k_pairs = block_kernel(train.rows(col_arr), indptr, params)
    k_point_neg = k_train_neg[col_arr]                # each point x negatives
    y = np.asarray(labels, dtype=np.float32)
    c = np.asarray(weights, dtype=np.float32)
    own_weight = np.bincount(row_arr, weights=c, minlength=len(subs)).astype(np.float32)
    neg_c = np.repeat((params.feedback_negatives * own_weight / max(len(negatives), 1))[:, None],
                      len(negatives), axis=1)
    # a subscriber's own training paper among the day's sample is not also a negative
    neg_pos = {int(n): m for m, n in enumerate(negatives)}
    for r, s in enumerate(subs):
        for p, _, _ in own[s]:
            m = inputs.day_index.get(inputs.ids[p])
            if m is not None and m in neg_pos:
                neg_c[r, neg_pos[m]] = 0.0
    lam = params.feedback_lambda
    scale = 1.0 + params.feedback_semantic * (train.embedded is not None) \
        + params.feedback_category  # the largest kernel value: the step stays stable
    total = own_weight + neg_c.sum(axis=1)
    step = (1.0 / (lam + scale * total / 4.0)).astype(np.float32)
    alpha = np.zeros(len(row_arr), dtype=np.float32)
    alpha_neg = np.zeros_like(neg_c)
    for _ in range(int(params.feedback_steps)):
        a = sparse.csr_matrix((alpha, col_arr, indptr), shape=shape)
        f_train = np.bincount(pair_i, weights=alpha[pair_j] * k_pairs, minlength=len(alpha)) \
            + np.einsum("rs,rs->r", alpha_neg[row_arr], k_point_neg)
        f_neg = np.asarray(a @ k_train_neg) + alpha_neg @ k_neg
        g = -c * y * _sigmoid(-y * f_train)
        g_neg = neg_c * _sigmoid(f_neg)
        alpha = alpha - step[row_arr] * (g + lam * alpha)
        alpha_neg = alpha_neg - step[:, None] * (g_neg + lam * alpha_neg)
    a = sparse.csr_matrix((alpha, col_arr, indptr), shape=shape)
    f_day = np.asarray(a @ k_day) + alpha_neg @ inputs.k_neg_day
    votes = np.bincount(row_arr, weights=np.asarray(voted, dtype=np.float32),
                        minlength=len(subs)).astype(np.float32)
    alone = np.asarray([not _has_profile(active[chunk.start + s]) for s in subs])
    component = params.w_feedback * _ramp(votes, alone, params)[:, None] * np.tanh(f_day)
    if params.w_feedback_more:  # more-voted papers as queries, scored like liked papers
        groups = [[(where[p], w) for p, vote, w in own[s] if vote > 0] for s in subs]
        given = np.asarray([len(g) for g in groups], dtype=np.float32)
        component += params.w_feedback_more * _ramp(given, alone, params)[:, None] \
            * _closeness(parts, groups, params, gate[subs] if gate is not None else None)
    values = np.zeros((len(chunk), inputs.k_neg_day.shape[1]), dtype=np.float32)
    values[subs] = component / params.w_feedback
    points = [[(p, v) for p, v, _ in own[s]] for s in subs]
    local = [{p: where[p] for p, _, _ in own[s]} for s in subs]
    return FeedbackChunk(values, {s: r for r, s in enumerate(subs)}, points, k_day,
                         local, inputs.ids, inputs.titles, params.w_feedback)


def _has_profile(interest: Interest) -> bool:
    """True when the subscriber gave interests of their own, which a few votes must not
    take over."""
    return bool(interest.topics or interest.keywords or interest.authors or interest.liked
                or interest.categories)


def _ramp(votes: np.ndarray, alone: np.ndarray, params: RankParams) -> np.ndarray:
    """How much of their full weight votes get: n / (n + feedback_ramp) for n votes; all of
    it when the votes are all a subscriber gave (`alone`)."""
    if params.feedback_ramp <= 0:
        return np.ones_like(votes)
    return np.where(alone, 1.0, votes / (votes + params.feedback_ramp)).astype(np.float32)


def _closeness(parts: tuple[np.ndarray, np.ndarray | None, np.ndarray],
               groups: list[list[tuple[int, float]]], params: RankParams,
               gate: np.ndarray | None = None) -> np.ndarray:
    """Per group of voted papers (training rows, decay weights), every paper's closeness to
    its nearest one, scored like a liked paper's: the best tf-idf cosine and the best
    embedding cosine (times `gate`, the share a liked paper's would keep), each scaled by its
    best value of the day, weighted w_liked and w_semantic_liked."""
    lexical, embedded, _ = parts
    out = params.w_liked * _nearest(lexical, groups, params.normalize)
    if embedded is not None:
        near = _nearest(np.maximum(embedded, 0.0), groups, 0.0)
        if gate is not None:
            near *= gate
        if params.normalize:
            near /= np.maximum(near.max(axis=1, keepdims=True), 1e-6)
        out += params.w_semantic_liked * near
    return out


def _nearest(k: np.ndarray, groups: list[list[tuple[int, float]]], normalize: float) -> np.ndarray:
    """Per group, the largest decay-weighted row of `k` (0 for an empty group), optionally
    divided by its largest value."""
    out = np.zeros((len(groups), k.shape[1]), dtype=np.float32)
    filled = [n for n, g in enumerate(groups) if g]
    if not filled:
        return out
    rows = np.asarray([r for n in filled for r, _ in groups[n]], dtype=np.int64)
    decay = np.asarray([w for n in filled for _, w in groups[n]], dtype=np.float32)
    starts = np.cumsum([0] + [len(groups[n]) for n in filled[:-1]])
    out[filled] = np.maximum.reduceat(k[rows] * decay[:, None], starts, axis=0)
    if normalize:
        out /= np.maximum(out.max(axis=1, keepdims=True), 1e-6)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)
