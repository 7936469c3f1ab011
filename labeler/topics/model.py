"""``TopicModel``: LDA over report text, an estimator on scikit-learn terms.

The constructor holds hyper-parameters only; :meth:`TopicModel.fit` learns bigrams (gensim
``Phrases``), a dictionary and one LDA model (gensim ``LdaMulticore``, seeded) per number of
topics in the grid, scores each by topic coherence (gensim ``CoherenceModel``, ``c_v`` or
``u_mass``) and keeps the most coherent. Fitted attributes end in ``_``.

Off-domain score
----------------
Each report gets a *surprisal* under the model: the mean negative log-likelihood of its tokens,
in nats per token, where a token the dictionary knows has probability
``(1 - p_unk) * sum_k theta[k] * phi[k, w]`` (``theta``: the report's inferred topic mixture,
``phi``: the topic-word distributions), and a token it does not know has the probability of an
average rare word of the training corpus, ``p_unk / n_unk_types`` (``p_unk``: share of training
tokens whose term fell below ``min_df``; ``n_unk_types``: how many such terms; add-one smoothed).
Terms dropped for being too frequent (``max_df``) count as stop words. A chest X-ray report
scores low under a chest X-ray model; a knee MRI, full of unknown and unlikely words, scores high.

The flag threshold is the ``offdomain_quantile`` (default 0.99) of the training corpus's own
scores, estimated robustly (:func:`robust_threshold`: a normal tail fitted to the median and the
90th percentile), so that a few percent of strays inside the training corpus do not raise it:
"flag what is stranger than about 99 % of the reports the model was fit on". It is set from
the training corpus alone, never from examples of off-domain reports. With
``refit_inliers=True`` (default) the model is then refitted at the chosen k without the training
reports above the threshold, so strays in the training corpus do not teach the model their
vocabulary, and the threshold is recalibrated on the remaining reports.

Persistence
-----------
:meth:`TopicModel.save` writes a directory without pickles: ``manifest.json`` (engine version,
hyper-parameters, k, coherence curve, training fingerprint, seed, off-domain calibration,
sha256 of every file), ``dictionary.txt`` (gensim's text format), ``phrases.json`` (the bigrams
and their scores) and ``lda.npz`` (topic-word statistics and priors).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._util import file_sha256
from .._version import __version__
from ..errors import ConfigError, ModelError
from ..records import Report
from .preprocess import DEFAULT_SECTIONS, ReportPreprocessor

__all__ = [
    "TopicModel",
    "TopicAssignment",
    "InvalidParameterError",
    "DEFAULT_GRID",
    "MODEL_KIND",
    "FORMAT_VERSION",
    "require_gensim",
    "robust_threshold",
    "select_k",
    "read_manifest",
]

log = logging.getLogger(__name__)

MODEL_KIND = "radlabeler.topics.lda"
FORMAT_VERSION = 1
#: numbers of topics tried by default
DEFAULT_GRID: tuple[int, ...] = (5, 8, 10, 12, 15, 20)
COHERENCE_MEASURES = ("c_v", "u_mass")
K_SELECTIONS = ("max", "one_se")
_FILES = ("dictionary.txt", "phrases.json", "lda.npz")

ProgressFn = Callable[[str, int, int], None]


class InvalidParameterError(ConfigError, ValueError):
    """A hyper-parameter or argument with an invalid value (a ``ValueError`` and a ``ConfigError``)."""

    code = "invalid_parameter"


def require_gensim() -> None:
    """Raise a clear error when gensim (the ``[topics]`` extra) is not installed."""
    try:
        import gensim  # noqa: F401
    except ImportError:
        raise ConfigError("topic modelling needs gensim: pip install 'radlabeler[topics]'",
                          code="missing_dependency") from None


@dataclass(frozen=True)
class TopicAssignment:
    """Per-report topic output of :meth:`TopicModel.assign`.

    Attributes
    ----------
    theta : ndarray of shape (N, K)
        Topic proportions (rows sum to one).
    dominant : ndarray of shape (N,)
        Highest-weight topic.
    n_tokens : ndarray of shape (N,)
        Tokens scored (after preprocessing and bigrams, frequent terms excluded).
    n_oov : ndarray of shape (N,)
        Of those, tokens the model's dictionary does not know.
    score : ndarray of shape (N,)
        Off-domain score (nats per token; NaN for reports with no tokens).
    flag : ndarray of shape (N,)
        ``score > threshold``, or the dominant topic is one of ``offdomain_topics``.
    threshold : float
    """

    theta: np.ndarray
    dominant: np.ndarray
    n_tokens: np.ndarray
    n_oov: np.ndarray
    score: np.ndarray
    flag: np.ndarray
    threshold: float

    @property
    def dominant_weight(self) -> np.ndarray:
        """Weight of the dominant topic, shape ``(N,)``."""
        return self.theta.max(axis=1) if self.theta.size else np.zeros(0)

    @property
    def oov_rate(self) -> np.ndarray:
        """Share of unknown tokens, shape ``(N,)`` (NaN for reports with no tokens)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n_tokens > 0, self.n_oov / np.maximum(self.n_tokens, 1), np.nan)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def text_fingerprint(texts: Iterable[str]) -> str:
    """sha256 over texts in order (length-prefixed): identifies a training corpus without storing it."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class TopicModel:
    """LDA topic model of report text with k chosen by coherence, and an off-domain score.

    Parameters
    ----------
    n_topics : int or sequence of int, default=DEFAULT_GRID
        One number of topics, or a grid; with a grid the most coherent k is kept (ties: the
        smaller k).
    coherence : {"c_v", "u_mass"}, default="c_v"
        Coherence measure (gensim ``CoherenceModel``). ``c_v`` (sliding-window NPMI + cosine)
        tracks human judgement best; ``u_mass`` (document co-occurrence) is faster.
    coherence_topn : int, default=10
        Top words per topic that coherence is computed on.
    k_selection : {"max", "one_se"}, default="max"
        ``"max"``: the k with the highest mean coherence (ties: the smaller k). ``"one_se"``: the
        smallest k whose coherence is within one standard error (of the best k's per-topic
        coherences) of the best — the parsimonious choice when the curve is flat.
    passes : int, default=20
        Batch variational-Bayes passes over the corpus.
    iterations : int, default=100
        Maximum per-document inference iterations.
    alpha : {"symmetric", "asymmetric"} or float, default="symmetric"
        Document-topic prior.
    eta : float or None, default=None
        Topic-word prior (``None``: symmetric ``1 / k``).
    min_df : int, default=3
        Terms in fewer reports are dropped (they also keep rare identifiers out of the model).
    max_df : float, default=0.5
        Terms in more than this share of reports are dropped (corpus-specific stop words).
    max_features : int or None, default=None
        Keep only the most frequent terms.
    bigrams : bool, default=True
        Detect bigrams with gensim ``Phrases`` (``pleural_effusion``).
    bigram_min_count : int, default=5
    bigram_threshold : float, default=10.0
        ``Phrases`` scoring threshold (higher: fewer bigrams).
    sections : tuple of str or None, default=DEFAULT_SECTIONS
        Report sections whose text is modelled (see :mod:`labeler.topics.preprocess`).
    extra_stop_words : tuple of str, default=()
    rules : str or None, default=None
        Ruleset directory that defines section headers (default: the packaged rules).
    offdomain_quantile : float, default=0.99
        The flag threshold is this quantile of the training corpus's off-domain scores, estimated
        robustly (:func:`robust_threshold`).
    refit_inliers : bool, default=True
        After choosing k, refit the model at that k without the training reports its own
        threshold flags (a trimmed fit), and recalibrate on the rest. Strays inside the training
        corpus otherwise teach the model their vocabulary and hide themselves; in a clean corpus
        this removes about 1 % of reports and changes little. Costs one more fit at the chosen k.
    workers : int, default=1
        ``LdaMulticore`` worker processes (and coherence processes). Results are reproducible
        for a fixed ``(random_state, workers)``.
    random_state : int or None, default=0
        Seed. ``None`` draws one (recorded in ``seed_`` and the manifest).

    Attributes
    ----------
    n_topics_ : int
        The chosen number of topics.
    coherence_curve_ : list of dict
        ``{"k", "coherence", "per_topic", "seconds"}`` for every k tried.
    dictionary_ : gensim.corpora.Dictionary
    phrases_ : gensim.models.phrases.FrozenPhrases or None
    lda_ : gensim LdaMulticore
    prevalence_ : ndarray of shape (n_topics_,)
        Mean topic proportions over the training reports.
    offdomain_threshold_ : float
    training_ : dict
        Report and token counts, corpus fingerprint, fit time.
    excluded_indices_ : ndarray of int
        Positions (in the ``fit`` input) of the training reports left out of the refit as
        off-domain (empty without ``refit_inliers``). Not saved with the model.

    Examples
    --------
    >>> model = TopicModel(n_topics=(8, 10), random_state=0).fit(texts)       # doctest: +SKIP
    >>> theta = model.transform(new_texts)                                     # doctest: +SKIP
    >>> model.top_terms(5)[0]                                                  # doctest: +SKIP
    [('pleural_effusion', 0.05), ...]
    """

    def __init__(
        self,
        n_topics: int | Sequence[int] = DEFAULT_GRID,
        *,
        coherence: str = "c_v",
        coherence_topn: int = 10,
        k_selection: str = "max",
        passes: int = 20,
        iterations: int = 100,
        alpha: str | float = "symmetric",
        eta: float | None = None,
        min_df: int = 3,
        max_df: float = 0.5,
        max_features: int | None = None,
        bigrams: bool = True,
        bigram_min_count: int = 5,
        bigram_threshold: float = 10.0,
        sections: tuple[str, ...] | None = DEFAULT_SECTIONS,
        extra_stop_words: tuple[str, ...] = (),
        rules: str | None = None,
        offdomain_quantile: float = 0.99,
        refit_inliers: bool = True,
        workers: int = 1,
        random_state: int | None = 0,
    ) -> None:
        self.n_topics = n_topics
        self.coherence = coherence
        self.coherence_topn = coherence_topn
        self.k_selection = k_selection
        self.passes = passes
        self.iterations = iterations
        self.alpha = alpha
        self.eta = eta
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.bigrams = bigrams
        self.bigram_min_count = bigram_min_count
        self.bigram_threshold = bigram_threshold
        self.sections = sections
        self.extra_stop_words = extra_stop_words
        self.rules = rules
        self.offdomain_quantile = offdomain_quantile
        self.refit_inliers = refit_inliers
        self.workers = workers
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters

    _PARAMS = ("n_topics", "coherence", "coherence_topn", "k_selection", "passes", "iterations", "alpha", "eta", "min_df",
               "max_df", "max_features", "bigrams", "bigram_min_count", "bigram_threshold", "sections",
               "extra_stop_words", "rules", "offdomain_quantile", "refit_inliers", "workers", "random_state")

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters (JSON-able)."""
        out: dict[str, Any] = {}
        for name in self._PARAMS:
            v = getattr(self, name)
            if isinstance(v, tuple):
                v = list(v)
            out[name] = v
        return out

    def __repr__(self) -> str:
        return f"TopicModel(n_topics={self.n_topics!r}, coherence={self.coherence!r}, random_state={self.random_state!r})"

    @property
    def grid(self) -> tuple[int, ...]:
        """The numbers of topics to try (validated, sorted, unique)."""
        raw = self.n_topics
        values: list[Any] = [raw] if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool) else (
            list(raw) if isinstance(raw, (list, tuple, range, np.ndarray)) else [raw])
        if not values:
            raise InvalidParameterError("n_topics must be an integer >= 2 or a non-empty grid of them")
        for v in values:
            _check_int("n_topics", v, 2)
        return tuple(sorted({int(v) for v in values}))

    def validate_params(self) -> None:
        """Check every hyper-parameter; raises :class:`InvalidParameterError` on the first bad one."""
        self.grid  # noqa: B018 - validates
        if self.coherence not in COHERENCE_MEASURES:
            raise InvalidParameterError(f"coherence must be one of {COHERENCE_MEASURES}, got {self.coherence!r}")
        _check_int("coherence_topn", self.coherence_topn, 2)
        if self.k_selection not in K_SELECTIONS:
            raise InvalidParameterError(f"k_selection must be one of {K_SELECTIONS}, got {self.k_selection!r}")
        _check_int("passes", self.passes, 1)
        _check_int("iterations", self.iterations, 1)
        _check_int("min_df", self.min_df, 1)
        _check_int("bigram_min_count", self.bigram_min_count, 1)
        _check_int("workers", self.workers, 1)
        if self.max_features is not None:
            _check_int("max_features", self.max_features, 2)
        if isinstance(self.alpha, str):
            if self.alpha not in ("symmetric", "asymmetric"):
                raise InvalidParameterError("alpha must be 'symmetric', 'asymmetric' or a positive number")
        elif isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise InvalidParameterError("alpha must be 'symmetric', 'asymmetric' or a positive number")
        if self.eta is not None and (isinstance(self.eta, bool) or not isinstance(self.eta, (int, float))
                                     or not self.eta > 0):
            raise InvalidParameterError("eta must be None or a positive number")
        if isinstance(self.max_df, bool) or not isinstance(self.max_df, (int, float)) or not 0 < self.max_df <= 1:
            raise InvalidParameterError("max_df must be a share of reports in (0, 1]")
        if not isinstance(self.refit_inliers, bool):
            raise InvalidParameterError("refit_inliers must be True or False")
        if not isinstance(self.bigram_threshold, (int, float)) or isinstance(self.bigram_threshold, bool):
            raise InvalidParameterError("bigram_threshold must be a number")
        q = self.offdomain_quantile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.5 <= q < 1:
            raise InvalidParameterError("offdomain_quantile must be in [0.5, 1)")
        if self.random_state is not None:
            _check_int("random_state", self.random_state, 0)
        self._make_preprocessor()

    def _make_preprocessor(self) -> ReportPreprocessor:
        return ReportPreprocessor(
            sections=self.sections if self.sections is None or isinstance(self.sections, str)
            else tuple(self.sections),
            extra_stop_words=tuple(self.extra_stop_words),
            rules=self.rules,
        )

    # ------------------------------------------------------------------ fitting

    def fit(self, texts: Iterable[str | Report], *, on_progress: ProgressFn | None = None) -> TopicModel:
        """Fit on report texts (strings or :class:`~labeler.records.Report`).

        Parameters
        ----------
        texts : iterable of str or Report
        on_progress : callable, default=None
            Called as ``on_progress(stage, done, total)`` with stages ``"tokenize"``, ``"fit"``
            (one step per k of the grid), ``"refit"`` (only when training reports were flagged)
            and ``"score"``.

        Returns
        -------
        self
        """
        self.validate_params()
        require_gensim()
        items = [t.text if isinstance(t, Report) else t for t in texts]
        for t in items:
            if not isinstance(t, str):
                raise InvalidParameterError(f"texts must be strings or Reports, got {type(t).__name__}")
        pre = self._make_preprocessor()
        if on_progress:
            on_progress("tokenize", 0, len(items))
        segments = pre.segments(items)
        if on_progress:
            on_progress("tokenize", len(items), len(items))
        return self._fit_segments(segments, pre, text_fingerprint(items), on_progress)

    def _fit_segments(self, segments: list[list[list[str]]], pre: ReportPreprocessor, fingerprint: str,
                      on_progress: ProgressFn | None) -> TopicModel:
        start = time.perf_counter()
        seed = int(self.random_state) if self.random_state is not None else int(
            np.random.SeedSequence().entropy % (2**31 - 1))
        self.seed_ = seed
        self.preprocessor_ = pre
        grid = self.grid
        curve = self._fit_pass(segments, grid, seed, on_progress)
        self.coherence_curve_ = curve
        docs = self._pass_docs
        theta, scores, n_tok, _ = self._score_docs(docs)
        self._calibrate(scores)
        n_excluded = 0
        refit_s = 0.0
        self.excluded_indices_ = np.zeros(0, dtype=np.int64)
        if self.refit_inliers:
            outliers = np.nan_to_num(scores, nan=-np.inf) > self.offdomain_threshold_
            n_excluded = int(outliers.sum())
            self.excluded_indices_ = np.flatnonzero(outliers).astype(np.int64)
            if n_excluded:
                if on_progress:
                    on_progress("refit", 0, 1)
                log.info("topics: refitting k=%d without %d off-domain training reports", self.n_topics_, n_excluded)
                t_refit = time.perf_counter()
                inliers = [seg for seg, out in zip(segments, outliers) if not out]
                keep = {name: getattr(self, name) for name in _PASS_ATTRIBUTES}
                try:
                    self._fit_pass(inliers, (self.n_topics_,), seed, None)
                except InvalidParameterError as exc:  # a tiny corpus may not survive the trimming
                    log.warning("topics: refit without off-domain reports impossible (%s); keeping the first fit", exc)
                    for name, value in keep.items():
                        setattr(self, name, value)
                    n_excluded = 0
                    self.excluded_indices_ = np.zeros(0, dtype=np.int64)
                else:
                    docs = self._pass_docs
                    theta, scores, n_tok, _ = self._score_docs(docs)
                    self._calibrate(scores)
                refit_s = time.perf_counter() - t_refit
        if on_progress:
            on_progress("score", 1, 1)
        finite = scores[np.isfinite(scores)]
        self.prevalence_ = theta[n_tok > 0].mean(axis=0) if np.any(n_tok > 0) else theta.mean(axis=0)
        self.training_ = {
            "n_reports": len(segments),
            "n_excluded_offdomain": n_excluded,
            "n_reports_modelled": len(docs),
            "n_reports_with_terms": int(sum(1 for d in docs if self.dictionary_.doc2bow(d))),
            "n_tokens": int(sum(len(d) for d in docs)),
            "vocabulary": len(self.dictionary_),
            "n_bigrams": len(self.phrases_.phrasegrams) if self.phrases_ is not None else 0,
            "fingerprint_sha256": fingerprint,
            "seconds": round(time.perf_counter() - start, 3),
            "refit_seconds": round(refit_s, 3),
            "score_quantiles": {str(q): round(float(np.quantile(finite, q)), 4)
                                for q in (0.5, 0.9, 0.95, 0.99, 0.999)},
        }
        del self._pass_docs
        return self

    def _calibrate(self, scores: np.ndarray) -> None:
        finite = scores[np.isfinite(scores)]
        self.offdomain_calibration_ = robust_threshold(finite, self.offdomain_quantile)
        self.offdomain_threshold_ = float(self.offdomain_calibration_["threshold"])

    def _fit_pass(self, segments: list[list[list[str]]], grid: tuple[int, ...], seed: int,
                  on_progress: ProgressFn | None) -> list[dict[str, Any]]:
        """Bigrams, dictionary, unknown-word model and one LDA per k of ``grid``; sets the fitted
        attributes for the chosen k and returns the coherence curve."""
        from gensim.corpora import Dictionary

        phrases = self._learn_phrases(segments) if self.bigrams else None
        docs = [_apply_phrases(phrases, segs) for segs in segments]
        full = Dictionary(docs)
        n_docs = len(docs)
        frequent = {full[i] for i, df in full.dfs.items() if df > self.max_df * n_docs}
        cfs = {full[i]: c for i, c in full.cfs.items()}
        dictionary = Dictionary(docs)
        dictionary.filter_extremes(no_below=self.min_df, no_above=self.max_df, keep_n=self.max_features)
        if len(dictionary) < 2:
            raise InvalidParameterError(
                f"only {len(dictionary)} term(s) left after min_df={self.min_df}, max_df={self.max_df}: "
                "the corpus is too small or too uniform for a topic model (lower min_df?)")
        known = set(dictionary.token2id)
        rare_types = [t for t in cfs if t not in known and t not in frequent]
        n_rare_tokens = sum(cfs[t] for t in rare_types)
        n_scored_tokens = sum(c for t, c in cfs.items() if t not in frequent)
        p_unk = (n_rare_tokens + 1) / (n_scored_tokens + 1)

        bows = [dictionary.doc2bow(d) for d in docs]
        train = [b for b in bows if b]
        train_docs = [d for d, b in zip(docs, bows) if b]
        if len(train) < 2:
            raise InvalidParameterError(f"{len(train)} report(s) with known terms: need at least 2")
        if grid[-1] > len(dictionary):
            raise InvalidParameterError(
                f"n_topics up to {grid[-1]} but only {len(dictionary)} terms in the dictionary")

        curve: list[dict[str, Any]] = []
        fitted: dict[int, tuple[Any, list[float]]] = {}
        for i, k in enumerate(grid):
            if on_progress:
                on_progress("fit", i, len(grid))
            t0 = time.perf_counter()
            lda = self._fit_lda(train, dictionary, k, seed)
            fit_s = time.perf_counter() - t0
            per_topic = self._coherence(lda, train, train_docs, dictionary)
            score = float(np.mean(per_topic))
            se = float(np.std(per_topic, ddof=1) / math.sqrt(k)) if k > 1 else 0.0
            curve.append({"k": k, "coherence": round(score, 6), "se": round(se, 6),
                          "per_topic": [round(x, 6) for x in per_topic],
                          "fit_seconds": round(fit_s, 3), "seconds": round(time.perf_counter() - t0, 3)})
            fitted[k] = (lda, per_topic)
            log.info("topics: k=%d coherence(%s)=%.4f (%.1f s)", k, self.coherence, score, fit_s)
        if on_progress:
            on_progress("fit", len(grid), len(grid))
        k_best = select_k(curve, self.k_selection)
        lda_best, per_topic_best = fitted[k_best]

        self.phrases_ = phrases
        self.dictionary_ = dictionary
        self.lda_ = lda_best
        self.n_topics_ = k_best
        self.topic_coherence_ = [float(x) for x in per_topic_best]
        self.frequent_terms_ = tuple(sorted(frequent))
        self.unk_logprob_ = float(math.log(p_unk) - math.log(len(rare_types) + 1))
        self.unk_ = {"p_unk": p_unk, "n_rare_types": len(rare_types), "n_rare_tokens": n_rare_tokens,
                     "n_scored_tokens": n_scored_tokens}
        self._phi_cache = None
        self._pass_docs = docs
        return curve

    def _learn_phrases(self, segments: list[list[list[str]]]) -> Any:
        from gensim.models.phrases import Phrases

        sentences = [seg for segs in segments for seg in segs]
        model = Phrases(sentences, min_count=self.bigram_min_count, threshold=float(self.bigram_threshold),
                        delimiter="_", connector_words=frozenset())
        return model.freeze()

    def _fit_lda(self, corpus: list[list[tuple[int, int]]], dictionary: Any, k: int, seed: int) -> Any:
        from ._lda import SeededLdaMulticore

        workers = int(self.workers)
        chunksize = max(1, math.ceil(len(corpus) / workers))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return SeededLdaMulticore(
                corpus=corpus, num_topics=k, id2word=dictionary, workers=workers, chunksize=chunksize,
                passes=int(self.passes), iterations=int(self.iterations), batch=True, decay=0.0,
                alpha=self.alpha, eta=self.eta, eval_every=0, seed=seed,
            )

    def _coherence(self, lda: Any, corpus: list[Any], texts: list[list[str]], dictionary: Any) -> list[float]:
        from gensim.models.coherencemodel import CoherenceModel

        topn = min(int(self.coherence_topn), len(dictionary))
        topics = [[dictionary[w] for w, _ in lda.get_topic_terms(t, topn=topn)] for t in range(lda.num_topics)]
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            if self.coherence == "u_mass":
                cm = CoherenceModel(topics=topics, corpus=corpus, dictionary=dictionary, coherence="u_mass",
                                    topn=topn)
            else:
                cm = CoherenceModel(topics=topics, texts=texts, dictionary=dictionary, coherence="c_v",
                                    topn=topn, processes=max(1, int(self.workers)))
            values = cm.get_coherence_per_topic()
        return [float(v) if np.isfinite(v) else 0.0 for v in values]

    # ------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "lda_"):
            raise ModelError("this TopicModel is not fitted yet: call fit() or TopicModel.load()",
                             code="not_fitted")

    @property
    def _phi(self) -> np.ndarray:
        if getattr(self, "_phi_cache", None) is None:
            self._phi_cache = np.asarray(self.lda_.get_topics(), dtype=np.float64)
        return self._phi_cache  # type: ignore[return-value]

    def _docs(self, texts: Iterable[str | Report]) -> list[list[str]]:
        self._check_fitted()
        items = list(texts)
        segments = self.preprocessor_.segments(items)
        return [_apply_phrases(self.phrases_, segs) for segs in segments]

    def _infer(self, bows: list[list[tuple[int, int]]]) -> np.ndarray:
        """Topic proportions ``(N, K)``; each report inferred alone (deterministic per report)."""
        k = self.n_topics_
        out = np.empty((len(bows), k), dtype=np.float64)
        prior = np.asarray(self.lda_.alpha, dtype=np.float64)
        prior = prior / prior.sum()
        for i, bow in enumerate(bows):
            if not bow:
                out[i] = prior
                continue
            gamma, _ = self.lda_.inference([bow])
            g = np.asarray(gamma[0], dtype=np.float64)
            out[i] = g / g.sum()
        return out

    def _score_docs(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(theta (N,K), score (N,), n_tokens (N,), n_oov (N,)) for token lists."""
        frequent = set(self.frequent_terms_)
        token2id = self.dictionary_.token2id
        bows = [self.dictionary_.doc2bow(d) for d in docs]
        theta = self._infer(bows)
        phi = self._phi
        log_known = math.log1p(-min(self.unk_["p_unk"], 1 - 1e-12))
        n = len(docs)
        scores = np.full(n, np.nan)
        n_tok = np.zeros(n, dtype=np.int64)
        n_oov = np.zeros(n, dtype=np.int64)
        for i, (doc, bow) in enumerate(zip(docs, bows)):
            kept = [t for t in doc if t not in frequent]
            oov = sum(1 for t in kept if t not in token2id)
            n_tok[i], n_oov[i] = len(kept), oov
            if not kept:
                continue
            ll = oov * self.unk_logprob_
            if bow:
                ids = np.fromiter((w for w, _ in bow), dtype=np.int64, count=len(bow))
                counts = np.fromiter((c for _, c in bow), dtype=np.float64, count=len(bow))
                p = theta[i] @ phi[:, ids]
                ll += float(counts @ (np.log(np.maximum(p, 1e-300)) + log_known))
            scores[i] = -ll / len(kept)
        return theta, scores, n_tok, n_oov

    def transform(self, texts: Iterable[str | Report]) -> np.ndarray:
        """Topic proportions of each report, shape ``(N, n_topics_)``; rows sum to one.

        A report with no known terms gets the prior mixture. Deterministic: a report's row does
        not depend on the other reports in the call.
        """
        docs = self._docs(texts)
        return self._infer([self.dictionary_.doc2bow(d) for d in docs])

    def fit_transform(self, texts: Iterable[str | Report]) -> np.ndarray:
        """``fit(texts).transform(texts)`` (texts are read once)."""
        items = list(texts)
        return self.fit(items).transform(items)

    def offdomain_score(self, texts: Iterable[str | Report]) -> np.ndarray:
        """Off-domain score of each report, shape ``(N,)`` (nats per token; NaN: no tokens)."""
        return self._score_docs(self._docs(texts))[1]

    def assign(self, texts: Iterable[str | Report], *, threshold: float | None = None,
               offdomain_topics: Sequence[int] = ()) -> TopicAssignment:
        """Topic mixture, dominant topic, off-domain score and flag for each report.

        Parameters
        ----------
        texts : iterable of str or Report
        threshold : float, default=None
            Flag threshold (default: the fitted ``offdomain_threshold_``).
        offdomain_topics : sequence of int, default=()
            Topics a reviewer judged off-domain (``topics show``): reports whose dominant topic
            is one of them are flagged too.
        """
        self._check_fitted()
        thr = self.offdomain_threshold_ if threshold is None else float(threshold)
        if not math.isfinite(thr):
            raise InvalidParameterError("threshold must be a finite number")
        bad = [t for t in offdomain_topics if not (isinstance(t, (int, np.integer)) and 0 <= t < self.n_topics_)]
        if bad:
            raise InvalidParameterError(f"offdomain_topics {bad} are not topic ids 0..{self.n_topics_ - 1}")
        theta, score, n_tok, n_oov = self._score_docs(self._docs(texts))
        dominant = theta.argmax(axis=1).astype(np.int64) if len(theta) else np.zeros(0, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            flag = np.nan_to_num(score, nan=-np.inf) > thr
        if len(offdomain_topics):
            flag |= np.isin(dominant, np.asarray(list(offdomain_topics), dtype=np.int64)) & (n_tok > 0)
        return TopicAssignment(theta, dominant, n_tok, n_oov, score, flag, thr)

    # ------------------------------------------------------------------ description

    def top_terms(self, n: int = 10) -> list[list[tuple[str, float]]]:
        """The ``n`` most probable terms of every topic: ``[[(term, probability), ...], ...]``."""
        self._check_fitted()
        _check_int("n", n, 1)
        phi = self._phi
        out = []
        for k in range(self.n_topics_):
            order = np.argsort(-phi[k], kind="stable")[:n]
            out.append([(self.dictionary_[int(w)], float(phi[k, w])) for w in order])
        return out

    def topic_names(self, n: int = 3) -> list[str]:
        """A short name per topic from its top terms, e.g. ``"edema·interstitial·cardiomegaly"``."""
        return ["·".join(t for t, _ in terms) for terms in self.top_terms(n)]

    @property
    def model_sha256(self) -> str | None:
        """sha256 over the saved files' hashes (set by :meth:`save` / :meth:`load`)."""
        return getattr(self, "_sha256", None)

    def info(self) -> dict[str, Any]:
        """Identity for provenance: engine version, k, seed, coherence, model hash."""
        self._check_fitted()
        return {
            "kind": MODEL_KIND,
            "engine_version": __version__,
            "n_topics": self.n_topics_,
            "coherence": self.coherence,
            "seed": self.seed_,
            "workers": self.workers,
            "offdomain_threshold": round(self.offdomain_threshold_, 6),
            "training_fingerprint_sha256": self.training_["fingerprint_sha256"],
            "model_sha256": self.model_sha256,
        }

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model to directory ``path`` (see the module docstring for the files).

        An existing directory is replaced only with ``overwrite=True`` and only when it holds a
        topic model (its ``manifest.json`` says so); anything else is refused.
        """
        self._check_fitted()
        out = Path(path)
        if out.exists():
            if not overwrite:
                raise ConfigError(f"output exists: {out} (pass --overwrite to replace)", code="output_exists")
            if not _is_model_dir(out):
                raise ConfigError(f"{out} exists and is not a topic model directory; not replacing it",
                                  code="output_exists")
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.dictionary_.save_as_text(str(tmp / "dictionary.txt"))
        phrases = {}
        if self.phrases_ is not None:
            phrases = {"delimiter": "_", "threshold": float(self.phrases_.threshold),
                       "min_count": int(self.phrases_.min_count),
                       "phrasegrams": {k: float(v) for k, v in sorted(self.phrases_.phrasegrams.items())}}
        (tmp / "phrases.json").write_text(json.dumps(phrases, indent=1) + "\n", encoding="utf-8")
        state = self.lda_.state
        with open(tmp / "lda.npz", "wb") as fh:
            np.savez(fh, sstats=np.asarray(state.sstats, dtype=np.float32),
                     alpha=np.asarray(self.lda_.alpha, dtype=np.float64),
                     eta=np.asarray(self.lda_.eta, dtype=np.float64),
                     numdocs=np.asarray([state.numdocs], dtype=np.int64))
        files = {name: file_sha256(tmp / name) for name in _FILES}
        sha = hashlib.sha256("".join(files[n] for n in _FILES).encode()).hexdigest()
        manifest = self._manifest(files, sha)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        self._sha256 = sha
        return out

    def _manifest(self, files: dict[str, str], sha: str) -> dict[str, Any]:
        import gensim

        return {
            "kind": MODEL_KIND,
            "format_version": FORMAT_VERSION,
            "engine_version": __version__,
            "gensim_version": gensim.__version__,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "params": self.get_params(),
            "seed": self.seed_,
            "n_topics": self.n_topics_,
            "coherence": {"measure": self.coherence, "topn": self.coherence_topn, "selection": self.k_selection,
                          "chosen_k": self.n_topics_, "curve": self.coherence_curve_,
                          "per_topic": self.topic_coherence_},
            "preprocessing": {**self.preprocessor_.to_dict(), "frequent_terms": list(self.frequent_terms_)},
            "offdomain": {"score": "mean surprisal, nats per token", "threshold": self.offdomain_threshold_,
                          "calibration": self.offdomain_calibration_, "unk_logprob": self.unk_logprob_,
                          **self.unk_},
            "prevalence": [round(float(x), 6) for x in self.prevalence_],
            "top_terms": [[t for t, _ in terms] for terms in self.top_terms(10)],
            "training": self.training_,
            "files": files,
            "model_sha256": sha,
        }

    @classmethod
    def load(cls, path: str | Path) -> TopicModel:
        """Load a model saved by :meth:`save` (checks kind, format version and file hashes)."""
        require_gensim()
        from gensim.corpora import Dictionary
        from gensim.models.phrases import FrozenPhrases, Phrases

        from ._lda import SeededLdaMulticore

        d = Path(path)
        manifest = read_manifest(d)
        for name, digest in manifest["files"].items():
            f = d / name
            if not f.is_file():
                raise ModelError(f"{d}: {name} is missing", code="model_corrupt")
            if file_sha256(f) != digest:
                raise ModelError(f"{d}: {name} does not match its sha256 in manifest.json (modified or corrupt)",
                                 code="model_corrupt")
        engine_major = str(manifest.get("engine_version", "0")).split(".")[0]
        if engine_major != __version__.split(".")[0]:
            warnings.warn(f"topic model saved by engine {manifest.get('engine_version')}, this is {__version__}",
                          UserWarning, stacklevel=2)
        params = dict(manifest["params"])
        for key in ("n_topics", "sections", "extra_stop_words"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        model = cls(**params)
        model.seed_ = int(manifest["seed"])
        prep = dict(manifest["preprocessing"])
        frequent = prep.pop("frequent_terms", [])
        model.preprocessor_ = ReportPreprocessor.from_dict(prep)
        model.frequent_terms_ = tuple(frequent)
        model.dictionary_ = Dictionary.load_from_text(str(d / "dictionary.txt"))
        phrases = json.loads((d / "phrases.json").read_text(encoding="utf-8"))
        if phrases:
            frozen = FrozenPhrases(Phrases(min_count=phrases["min_count"], threshold=phrases["threshold"],
                                           delimiter=phrases["delimiter"], connector_words=frozenset()))
            frozen.phrasegrams = dict(phrases["phrasegrams"])
            model.phrases_ = frozen
        else:
            model.phrases_ = None
        with np.load(d / "lda.npz") as z:
            sstats, alpha, eta, numdocs = z["sstats"], z["alpha"], z["eta"], int(z["numdocs"][0])
        k = int(manifest["n_topics"])
        if sstats.shape != (k, len(model.dictionary_)):
            raise ModelError(f"{d}: lda.npz has shape {sstats.shape}, expected ({k}, {len(model.dictionary_)})",
                             code="model_corrupt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lda = SeededLdaMulticore(corpus=None, num_topics=k, id2word=model.dictionary_, workers=1,
                                     alpha=alpha, eta=eta, iterations=int(params.get("iterations", 100)),
                                     seed=model.seed_)
        lda.state.sstats = sstats.astype(lda.dtype)
        lda.state.numdocs = numdocs
        lda.sync_state()
        model.lda_ = lda
        model.n_topics_ = k
        coh = manifest["coherence"]
        model.coherence_curve_ = coh["curve"]
        model.topic_coherence_ = coh["per_topic"]
        off = manifest["offdomain"]
        model.offdomain_threshold_ = float(off["threshold"])
        model.offdomain_calibration_ = dict(off["calibration"])
        model.unk_logprob_ = float(off["unk_logprob"])
        model.unk_ = {key: off[key] for key in ("p_unk", "n_rare_types", "n_rare_tokens", "n_scored_tokens")}
        model.prevalence_ = np.asarray(manifest["prevalence"], dtype=np.float64)
        model.training_ = manifest["training"]
        model._phi_cache = None
        model._sha256 = manifest["model_sha256"]
        return model


#: attributes one fitting pass sets (restored when a refit is impossible)
_PASS_ATTRIBUTES = ("phrases_", "dictionary_", "lda_", "n_topics_", "topic_coherence_", "frequent_terms_",
                    "unk_logprob_", "unk_", "_phi_cache", "_pass_docs")


def select_k(curve: Sequence[dict[str, Any]], rule: str = "max") -> int:
    """The k a coherence curve chooses (``curve``: dicts with ``k``, ``coherence``, ``se``).

    >>> curve = [{"k": 5, "coherence": 0.60, "se": 0.03}, {"k": 10, "coherence": 0.62, "se": 0.03}]
    >>> select_k(curve, "max"), select_k(curve, "one_se")
    (10, 5)
    """
    if not curve:
        raise InvalidParameterError("empty coherence curve")
    ordered = sorted(curve, key=lambda c: c["k"])
    best = max(ordered, key=lambda c: (c["coherence"], -c["k"]))
    if rule == "max":
        return int(best["k"])
    if rule == "one_se":
        floor = best["coherence"] - (best.get("se") or 0.0)
        return int(next(c["k"] for c in ordered if c["coherence"] >= floor - 1e-12))
    raise InvalidParameterError(f"k_selection must be one of {K_SELECTIONS}, got {rule!r}")


def robust_threshold(scores: np.ndarray, quantile: float) -> dict[str, Any]:
    """The ``quantile`` of a normal upper tail fitted to the median and 90th percentile of ``scores``.

    ``threshold = Q50 + (z_q / z_0.9) * (Q90 - Q50)`` with ``z`` the standard normal quantiles
    (for ``quantile=0.99``: ``Q50 + 1.815 * (Q90 - Q50)``). The median and the 90th percentile
    barely move when a few percent of the scores are outliers, so off-domain reports inside the
    training corpus do not raise the threshold meant to catch them (the plain empirical 99th
    percentile sits among them as soon as they are more than 1 % of the corpus). Fitting the
    tail to Q50-Q90 rather than to the MAD follows the upper half of the distribution, which for
    a mixture of report styles is narrower than its centre. When Q90 equals the median (a
    degenerate, tiny corpus) the empirical quantile is used.

    >>> robust_threshold(np.arange(1.0, 12.0), 0.99)["threshold"]
    13.261
    """
    from statistics import NormalDist

    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        raise InvalidParameterError("no finite scores to calibrate the off-domain threshold on")
    z_q, z_90 = NormalDist().inv_cdf(quantile), NormalDist().inv_cdf(0.9)
    q50, q90 = (float(x) for x in np.quantile(scores, [0.5, 0.9]))
    empirical = float(np.quantile(scores, quantile))
    if q90 > q50:
        thr, rule = q50 + z_q / z_90 * (q90 - q50), "Q50 + z_q / z_0.9 * (Q90 - Q50)"
    else:
        thr, rule = empirical, "empirical quantile (Q90 equals the median)"
    return {"rule": rule, "quantile": quantile, "z_q": round(z_q, 6), "q50": round(q50, 6), "q90": round(q90, 6),
            "empirical_quantile": round(empirical, 6), "threshold": round(thr, 4),
            "training_share_below": round(float(np.mean(scores <= thr)), 6), "n_scores": int(scores.size)}


def _apply_phrases(phrases: Any, segments: list[list[str]]) -> list[str]:
    if phrases is None:
        return [t for seg in segments for t in seg]
    return [t for seg in segments for t in phrases[seg]]


def _is_model_dir(path: Path) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("kind") == MODEL_KIND
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a saved topic model (clear errors when it is not one)."""
    d = Path(path)
    if not d.is_dir():
        raise ModelError(f"topic model directory not found: {d}", code="model_missing")
    f = d / "manifest.json"
    try:
        manifest = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{d} has no manifest.json: not a topic model directory", code="model_missing") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{f}: cannot read: {exc}", code="model_corrupt") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MODEL_KIND:
        raise ModelError(f"{d} is not a topic model (manifest kind {manifest.get('kind') if isinstance(manifest, dict) else None!r})",
                         code="model_kind")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{d}: topic model format {manifest.get('format_version')} is not supported "
                         f"(this engine reads format {FORMAT_VERSION})", code="model_version")
    return manifest

