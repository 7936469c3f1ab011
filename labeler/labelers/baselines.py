"""Cheap trainable baselines (scikit-learn only, no torch).

:class:`TfidfLabeler` (``"baseline.tfidf"``) learns each observation's status from the words
around its mentions: for every report and observation, the sentences holding a mention (found by
the ruleset's phrase rules, with the mention marked) become one short document; word n-grams
weighted by TF-IDF feed one multinomial logistic regression per observation. Derived
observations (``No Finding``) are derived from the others' probabilities with the ruleset's own
policy. It trains in seconds on a CPU, which makes it the out-of-fold signal of the noise
estimator (:mod:`labeler.signals`); it also labels like any other labeler.

The mention finder is the rules' (sections → sentences → mentions are regular expressions; no
spaCy), so the baseline cannot find a finding the phrase rules miss; it decides status by a
different method (learned n-grams instead of ConText scopes), which is what the noise estimator
needs from it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import platform
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ConfigError, ModelError
from ..records import Label, Provenance, Report, ReportResult
from ..ruleset import Ruleset, load_ruleset
from ..vocab import STATUS_ORDER, AssertionStatus
from .base import LabelerInfo, config_hash, register

__all__ = ["TfidfLabeler", "MODEL_FORMAT"]

log = logging.getLogger(__name__)

MODEL_FORMAT = "radlabeler.baseline.tfidf"
FORMAT_VERSION = 1
_MANIFEST = "model.json"
_WEIGHTS = "weights.npz"
_NONE_DOC = "xxnomention"
_SEP = " xxsep "
_STATUS_INDEX = {s: k for k, s in enumerate(STATUS_ORDER)}


def _status_index(value: Any) -> int:
    return _STATUS_INDEX[AssertionStatus(value.value if isinstance(value, AssertionStatus) else value)]


@register("baseline.tfidf")
class TfidfLabeler:
    """Per-observation TF-IDF + logistic regression over the sentences that mention it.

    Parameters
    ----------
    model : str or Path, default=None
        A directory written by :meth:`save` to load (``labeler label -l baseline.tfidf --model DIR``).
    rules : str or Path, default=None
        Ruleset: its phrase rules find the mentions, its aggregation derives ``No Finding``, its
        rule labeler gives the training labels when :meth:`fit` gets none. ``None``: the packaged rules.
    label_sections : sequence of str, default=None
        Sections read (``None``: the ruleset's).
    ngram_range : tuple of int, default=(1, 3)
        Word n-grams.
    min_df : int, default=2
        Ignore n-grams seen in fewer training documents.
    C : float, default=10.0
        Inverse L2 strength of the logistic regressions.
    max_iter : int, default=1000
    seed : int, default=0
        Seeds the solver (the fit is deterministic for a given seed and data).

    Examples
    --------
    >>> from labeler import Report
    >>> texts = ["IMPRESSION: Small left pleural effusion.", "IMPRESSION: No pleural effusion.",
    ...          "IMPRESSION: Possible pleural effusion.", "IMPRESSION: Clear lungs."] * 5
    >>> reports = [Report(str(i), t) for i, t in enumerate(texts)]
    >>> lab = TfidfLabeler(min_df=1).fit(reports)          # labels from the rule labeler
    >>> proba = lab.predict_proba([Report("x", "IMPRESSION: No pleural effusion.")])
    >>> proba.shape
    (1, 14, 4)
    >>> lab.observations[proba[0].argmax(axis=1).tolist().index(2)]   # the one predicted absent
    'pleural_effusion'
    """

    name = "baseline.tfidf"
    version = "1"
    probabilistic = True

    def __init__(
        self,
        model: str | Path | None = None,
        rules: str | Path | None = None,
        label_sections: Sequence[str] | None = None,
        *,
        ngram_range: tuple[int, int] = (1, 3),
        min_df: int = 2,
        C: float = 10.0,  # noqa: N803 - scikit-learn's name
        max_iter: int = 1000,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.rules = rules
        self.label_sections = label_sections
        self.ngram_range = tuple(ngram_range)
        self.min_df = min_df
        self.C = C
        self.max_iter = max_iter
        self.seed = seed
        self._ruleset: Ruleset | None = None
        self._stages: tuple[Any, ...] | None = None
        self._provenance: Provenance | None = None
        #: per modelled observation: dict(classes, vocabulary, idf, coef, intercept) or None (constant)
        self.models_: dict[str, dict[str, Any]] | None = None
        self.modelled_: tuple[str, ...] | None = None
        self.card_: dict[str, Any] | None = None
        if model is not None:
            self._load_dir(Path(model))

    # ------------------------------------------------------------------ identity
    @classmethod
    def load(cls, path: str | Path, rules: str | Path | None = None) -> TfidfLabeler:
        """Load a directory written by :meth:`save`."""
        return cls(model=path, rules=rules)

    @property
    def ruleset(self) -> Ruleset:
        """The ruleset (with ``label_sections`` applied)."""
        if self._ruleset is None:
            from .rules import RuleLabeler

            sections = self.label_sections
            if self.card_ is not None:
                sections = self.card_["label_sections"]
            self._ruleset = RuleLabeler(self.rules, sections).ruleset if sections is not None else load_ruleset(
                self.rules)
        return self._ruleset

    @property
    def observations(self) -> tuple[str, ...]:
        return self.ruleset.observations

    @property
    def is_fitted(self) -> bool:
        return self.models_ is not None

    def params(self) -> dict[str, Any]:
        return {"rules": str(self.rules) if self.rules else None,
                "label_sections": list(self.ruleset.manifest.label_sections),
                "ngram_range": list(self.ngram_range), "min_df": self.min_df, "C": self.C,
                "max_iter": self.max_iter, "seed": self.seed}

    def info(self) -> LabelerInfo:
        rs = self.ruleset
        return LabelerInfo(self.name, self.version, rs.observations, self.params(),
                           {"name": rs.name, "version": rs.version, "sha256": rs.sha256}, self.model_sha256)

    @property
    def model_sha256(self) -> str | None:
        if self.models_ is None:
            return None
        return hashlib.sha256(self._weights_bytes()).hexdigest()

    @property
    def provenance(self) -> Provenance:
        if self._provenance is None:
            rs = self.ruleset
            self._provenance = Provenance(__version__, self.name, self.version, rs.name, rs.version, rs.sha256,
                                          config_hash(self.params()), self.model_sha256)
        return self._provenance

    # ------------------------------------------------------------------ documents
    def _front(self) -> tuple[Any, ...]:
        if self._stages is None:
            from ..mentions import MentionMatcher
            from ..sections import SectionSplitter
            from ..sentences import SentenceSplitter

            rs = self.ruleset
            self._stages = (SectionSplitter.from_ruleset(rs), SentenceSplitter(), MentionMatcher.from_ruleset(rs))
        return self._stages

    def _derived(self) -> dict[str, Any]:
        return {d.observation: d for d in self.ruleset.aggregation.derived}

    def _modelled(self) -> tuple[str, ...]:
        derived = self._derived()
        return tuple(o for o in self.ruleset.all_observations if o not in derived)

    def documents(self, reports: Iterable[Report]) -> dict[str, list[str]]:
        """Per modelled observation, one document per report: its mention sentences, mention marked."""
        stages = self._front()
        modelled = self._modelled()
        docs: dict[str, list[str]] = {o: [] for o in modelled}
        for report in reports:
            result = ReportResult(report.study_uid, self.provenance)
            for stage in stages:
                result = stage(result, report.text)
            parts: dict[str, list[str]] = {}
            text = report.text
            for m in result.mentions:
                s = result.sentences[m.sentence]
                parts.setdefault(m.observation, []).append(
                    f"{text[s.start:m.start]} xxbegin {text[m.start:m.end]} xxend {text[m.end:s.end]}".lower())
            for o in modelled:
                got = parts.get(o)
                docs[o].append(_SEP.join(got) if got else _NONE_DOC)
        return docs

    # ------------------------------------------------------------------ training
    def _targets(self, reports: Sequence[Report], labels: Any) -> tuple[np.ndarray, tuple[str, ...]]:
        """Status indices ``(N, len(columns))`` and the observations they are for."""
        modelled = self._modelled()
        if labels is None:
            from .rules import RuleLabeler

            labels = list(RuleLabeler(self.rules, self.label_sections).label(reports))
        if len(labels) != len(reports):
            raise ValueError(f"labels has {len(labels)} entries for {len(reports)} reports")
        if len(labels) and isinstance(labels[0], ReportResult):
            y = np.zeros((len(labels), len(modelled)), dtype=np.int64)
            for i, res in enumerate(labels):
                st = res.statuses()
                for j, o in enumerate(modelled):
                    y[i, j] = _status_index(st.get(o, AssertionStatus.NOT_MENTIONED))
            return y, modelled
        arr = np.asarray(labels, dtype=object)
        obs = self.observations
        if arr.ndim != 2 or arr.shape[1] != len(obs):
            raise ValueError(f"labels must have shape (N, {len(obs)}) (one status per exported observation)")
        cols = tuple(o for o in obs if o in modelled)
        y = np.zeros((len(arr), len(cols)), dtype=np.int64)
        for j, o in enumerate(cols):
            col = arr[:, obs.index(o)]
            y[:, j] = [_status_index(AssertionStatus.NOT_MENTIONED if v is None else v) for v in col]
        return y, cols

    def fit(self, reports: Sequence[Report], labels: Any = None) -> TfidfLabeler:
        """Train from scratch.

        Parameters
        ----------
        reports : sequence of Report
        labels : sequence of ReportResult, array of shape (N, F), or None, default=None
            The rule labeler's results for ``reports`` (all observations, helpers included), or
            statuses per exported observation, or ``None`` to run the rule labeler.

        Returns
        -------
        self
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        reports = list(reports)
        if not reports:
            raise ValueError("fit() needs at least one report")
        if not all(isinstance(r, Report) for r in reports):
            raise TypeError("fit() takes Report records")
        self.models_ = None
        self.card_ = None
        self._provenance = None
        y, cols = self._targets(reports, labels)
        docs = self.documents(reports)
        models: dict[str, dict[str, Any]] = {}
        for j, obs in enumerate(cols):
            target = y[:, j]
            classes = np.unique(target)
            if len(classes) < 2:
                models[obs] = {"classes": classes.tolist(), "vocabulary": {}, "idf": np.zeros(0),
                               "coef": np.zeros((0, 0)), "intercept": np.zeros(0)}
                continue
            vec = TfidfVectorizer(ngram_range=self.ngram_range, min_df=min(self.min_df, len(reports)),
                                  sublinear_tf=True, token_pattern=r"(?u)\b\w+\b", dtype=np.float64)
            try:
                x = vec.fit_transform(docs[obs])
            except ValueError:  # every n-gram below min_df
                vec = TfidfVectorizer(ngram_range=self.ngram_range, min_df=1, sublinear_tf=True,
                                      token_pattern=r"(?u)\b\w+\b", dtype=np.float64)
                x = vec.fit_transform(docs[obs])
            clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
            clf.fit(x, target)
            coef, intercept = clf.coef_, clf.intercept_
            if len(classes) == 2:  # binary: scikit-learn keeps one row; make it softmax-shaped
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
            models[obs] = {"classes": [int(c) for c in clf.classes_],
                           "vocabulary": {t: int(i) for t, i in vec.vocabulary_.items()},
                           "idf": vec.idf_.astype(np.float64), "coef": coef.astype(np.float64),
                           "intercept": intercept.astype(np.float64)}
        self.models_ = models
        self.modelled_ = cols
        self._provenance = None  # now with the model hash
        log.info("baseline.tfidf fitted on %d reports, %d observations", len(reports), len(cols))
        return self

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if self.models_ is None:
            raise ModelError("baseline.tfidf is not fitted: call fit() or load a model directory",
                             code="not_fitted")

    def _observation_proba(self, obs: str, docs: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer

        assert self.models_ is not None  # noqa: S101 - checked by the caller
        m = self.models_[obs]
        out = np.zeros((len(docs), len(STATUS_ORDER)), dtype=np.float64)
        classes = m["classes"]
        if len(classes) == 1:
            out[:, classes[0]] = 1.0
            return out
        vec = TfidfVectorizer(ngram_range=self.ngram_range, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                              vocabulary=m["vocabulary"], dtype=np.float64)
        vec.idf_ = m["idf"]
        x = vec.transform(docs)
        logits = x @ m["coef"].T + m["intercept"]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out[:, classes] = p
        return out

    def predict_proba(self, reports: Iterable[Report]) -> np.ndarray:
        """Status probabilities ``(N, F, S)``; statuses in :data:`labeler.vocab.STATUS_ORDER`."""
        self._check_fitted()
        assert self.models_ is not None and self.modelled_ is not None  # noqa: S101
        reports = list(reports)
        docs = self.documents(reports)
        probs = {o: self._observation_proba(o, docs[o]) for o in self.modelled_}
        obs = self.observations
        out = np.zeros((len(reports), len(obs), len(STATUS_ORDER)), dtype=np.float64)
        for j, o in enumerate(obs):
            if o in probs:
                out[:, j] = probs[o]
        derived = self._derived()
        for j, o in enumerate(obs):
            d = derived.get(o)
            if d is None:
                continue
            blocking = [_STATUS_INDEX[AssertionStatus(s)] for s in d.blocking_statuses]
            ignored = set(d.ignore) | set(derived)
            p_clear = np.ones(len(reports))
            for other, p in probs.items():
                if other not in ignored:
                    p_clear *= 1.0 - p[:, blocking].sum(axis=1)
            out[:, j, _STATUS_INDEX[AssertionStatus(d.status)]] += p_clear
            out[:, j, _STATUS_INDEX[AssertionStatus(d.otherwise)]] += 1.0 - p_clear
        return out

    def label(self, reports: Iterable[Report], chunk_size: int = 512) -> Iterator[ReportResult]:
        """One result per report: the most probable status, with the probabilities."""
        self._check_fitted()
        obs = self.observations
        chunk: list[Report] = []

        def flush(items: list[Report]) -> Iterator[ReportResult]:
            proba = self.predict_proba(items)
            for rep, p in zip(items, proba):
                labels = tuple(
                    Label(o, STATUS_ORDER[int(p[j].argmax())],
                          probabilities={s.value: float(p[j, k]) for k, s in enumerate(STATUS_ORDER)})
                    for j, o in enumerate(obs))
                yield ReportResult(rep.study_uid, self.provenance, labels=labels, rows=rep.rows)

        for report in reports:
            chunk.append(report)
            if len(chunk) >= chunk_size:
                yield from flush(chunk)
                chunk = []
        if chunk:
            yield from flush(chunk)

    # ------------------------------------------------------------------ persistence
    def _weights_bytes(self) -> bytes:
        assert self.models_ is not None and self.modelled_ is not None  # noqa: S101
        arrays: dict[str, np.ndarray] = {}
        for k, o in enumerate(self.modelled_):
            m = self.models_[o]
            arrays[f"{k}.idf"] = np.asarray(m["idf"], dtype=np.float64)
            arrays[f"{k}.coef"] = np.asarray(m["coef"], dtype=np.float64)
            arrays[f"{k}.intercept"] = np.asarray(m["intercept"], dtype=np.float64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` (format, versions, ruleset, parameters, vocabularies) and ``weights.npz``."""
        self._check_fitted()
        assert self.models_ is not None and self.modelled_ is not None  # noqa: S101
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        weights = self._weights_bytes()
        rs = self.ruleset
        card = {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "engine_version": __version__,
            "labeler": self.name,
            "labeler_version": self.version,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "ruleset": {"name": rs.name, "version": rs.version, "sha256": rs.sha256},
            "observations": list(rs.observations),
            "label_sections": list(rs.manifest.label_sections),
            "params": {k: v for k, v in self.params().items() if k not in ("rules", "label_sections")},
            "modelled": [
                {"observation": o, "classes": self.models_[o]["classes"], "vocabulary": self.models_[o]["vocabulary"]}
                for o in self.modelled_
            ],
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
        }
        (out / _WEIGHTS).write_bytes(weights)
        (out / _MANIFEST).write_text(json.dumps(card, ensure_ascii=False) + "\n", encoding="utf-8")
        return out

    def _load_dir(self, path: Path) -> None:
        card_path, weights_path = path / _MANIFEST, path / _WEIGHTS
        if not card_path.is_file() or not weights_path.is_file():
            raise ModelError(f"{path}: not a baseline.tfidf model directory (needs {_MANIFEST} and {_WEIGHTS})")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{card_path}: unreadable model card ({type(exc).__name__})") from None
        if card.get("format") != MODEL_FORMAT or card.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{path}: format {card.get('format')!r} v{card.get('format_version')}, "
                             f"expected {MODEL_FORMAT!r} v{FORMAT_VERSION}")
        weights = weights_path.read_bytes()
        if hashlib.sha256(weights).hexdigest() != card.get("weights_sha256"):
            raise ModelError(f"{weights_path}: sha256 does not match the model card (corrupt or replaced file)")
        if str(card.get("engine_version", "")).split(".")[0] != __version__.split(".")[0]:
            raise ModelError(f"{path}: saved by engine {card.get('engine_version')}, this is {__version__}")
        self.card_ = card
        params = card["params"]
        self.ngram_range = tuple(params["ngram_range"])
        self.min_df, self.C, self.max_iter, self.seed = params["min_df"], params["C"], params["max_iter"], params["seed"]
        self._ruleset = None
        if tuple(card["observations"]) != self.ruleset.observations:
            raise ConfigError(f"{path}: the model labels {card['observations']}, the ruleset "
                              f"{list(self.ruleset.observations)}", code="ruleset_mismatch")
        if card["ruleset"]["sha256"] != self.ruleset.sha256:
            log.warning("model %s was trained with ruleset %s %s; using %s %s", path.name, card["ruleset"]["name"],
                        card["ruleset"]["version"], self.ruleset.name, self.ruleset.version)
        with np.load(io.BytesIO(weights)) as z:
            models = {}
            for k, entry in enumerate(card["modelled"]):
                models[entry["observation"]] = {
                    "classes": entry["classes"], "vocabulary": entry["vocabulary"],
                    "idf": z[f"{k}.idf"], "coef": z[f"{k}.coef"], "intercept": z[f"{k}.intercept"]}
        self.models_ = models
        self.modelled_ = tuple(e["observation"] for e in card["modelled"])
        self._provenance = None
