"""Rules + classifier, combined per observation.

:class:`EnsembleLabeler` runs the rule labeler and a trained :class:`ClassifierLabeler` on every
report and combines them observation by observation, with one of two policies:

``gate`` (default; needs no gold)
    The rules decide wherever they fired — they found a mention of the observation, so their
    status comes with evidence (``trust="fired"``); with ``trust="modifier"`` only where a ConText
    modifier or a fixed-status phrase decided it (a plain *present* mention is left to the
    classifier). Elsewhere the classifier decides when its most likely status has probability
    ``>= threshold``; otherwise the rules' status stands. Derived observations (``No Finding``)
    are derived again from the combined statuses with the ruleset's aggregation rules.

``stack`` (learned; needs a gold set)
    A logistic regression per observation over the rules' status and deciding modifier and the
    classifier's probabilities, fitted on a gold set with :meth:`EnsembleLabeler.fit` (Wolpert's
    stacked generalisation). With *status* gold it predicts the four statuses. With *binary* gold
    (coded / not coded, e.g. IU MeSH) it predicts whether the observation would be coded: a coded
    observation keeps the rules' present/uncertain status (or the classifier's, when the rules are
    silent); an observation the stacker does not code is *absent* where the rules or the
    classifier find a mention, else *not mentioned*. This is how the gold's coders resolved hedged
    mentions, learned per observation. The classifier probabilities used for fitting must come from
    reports the classifier was not trained on (:func:`fit_stacker` takes them precomputed, e.g.
    out-of-fold).

The stacker is saved as plain JSON (``stacker.json``) in the classifier's model directory, tied
to the classifier's weights hash; ``EnsembleLabeler(model=DIR)`` uses it when present.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._util import chunked
from .._version import __version__
from ..errors import ConfigError, ModelError
from ..gold import GoldSet
from ..records import Label, Provenance, Report, ReportResult
from ..ruleset import Ruleset
from ..vocab import STATUS_ORDER, AssertionStatus
from .base import LabelerInfo, config_hash, register
from .classifier import ClassifierLabeler, _fingerprint, statuses_to_indices
from .rules import RuleLabeler

__all__ = [
    "EnsembleLabeler",
    "Stacker",
    "rule_arrays",
    "gate_combine",
    "stack_features",
    "fit_stacker",
    "stacked_proba",
    "STACKER_FILE",
    "MODIFIER_CODES",
]

STACKER_FILE = "stacker.json"
#: deciding-modifier categories, coded 1..4 in :func:`rule_arrays` (0: none)
MODIFIER_CODES = ("negated", "uncertain", "hypothetical", "historical")
_NM, _POS, _NEG, _UNC = (STATUS_ORDER.index(s) for s in (AssertionStatus.NOT_MENTIONED, AssertionStatus.PRESENT,
                                                         AssertionStatus.ABSENT, AssertionStatus.UNCERTAIN))
_S = len(STATUS_ORDER)
POLICIES = ("gate", "stack")


# ---------------------------------------------------------------------------------------------
# numeric core (plain arrays)


def rule_arrays(results: Sequence[ReportResult], observations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rule statuses ``(N, F)`` (indices into ``STATUS_ORDER``) and deciding-modifier codes ``(N, F)``.

    The modifier code is 0 when no modifier decided the label, else ``1 + MODIFIER_CODES.index``.
    """
    index = {s: k for k, s in enumerate(STATUS_ORDER)}
    mod_index = {c: k + 1 for k, c in enumerate(MODIFIER_CODES)}
    status = np.full((len(results), len(observations)), _NM, dtype=np.int64)
    modifier = np.zeros((len(results), len(observations)), dtype=np.int64)
    for i, res in enumerate(results):
        by_obs = {lab.observation: lab for lab in res.labels}
        for j, o in enumerate(observations):
            lab = by_obs.get(o)
            if lab is None:
                continue
            status[i, j] = index[lab.status]
            if lab.evidence and lab.evidence[0].status is lab.status and lab.evidence[0].modifier is not None:
                modifier[i, j] = mod_index.get(lab.evidence[0].modifier.category, 0)
    return status, modifier


def gate_combine(rule_status: np.ndarray, rule_modifier: np.ndarray, clf_proba: np.ndarray, *,
                 trust: str = "fired", threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The gate policy on arrays.

    Parameters
    ----------
    rule_status, rule_modifier : ndarray of int, shape (N, F)
        From :func:`rule_arrays`.
    clf_proba : ndarray of shape (N, F, S)
    trust : {"fired", "modifier"}, default="fired"
        When the rules keep their status: wherever they found a mention, or only where a modifier
        or a fixed-status phrase (an absent/uncertain status without modifier) decided it.
    threshold : float, default=0.5
        The classifier replaces the rules only where its top status has at least this probability.

    Returns
    -------
    proba : ndarray of shape (N, F, S)
        The classifier's probabilities where it decided, the rules' one-hot status elsewhere.
    from_classifier : ndarray of bool, shape (N, F)

    Examples
    --------
    >>> rs = np.array([[0, 1]]); mod = np.zeros((1, 2), int)
    >>> p = np.array([[[0.1, 0.8, 0.05, 0.05], [0.1, 0.1, 0.7, 0.1]]])
    >>> proba, used = gate_combine(rs, mod, p)
    >>> used.tolist(), proba.argmax(-1).tolist()
    ([[True, False]], [[1, 1]])
    """
    if trust not in ("fired", "modifier"):
        raise ConfigError(f"trust must be 'fired' or 'modifier', not {trust!r}")
    if trust == "fired":
        confident = rule_status != _NM
    else:
        confident = (rule_modifier > 0) | np.isin(rule_status, (_NEG, _UNC))
    use = ~confident & (clf_proba.max(-1) >= threshold)
    onehot = np.eye(_S)[rule_status]
    return np.where(use[..., None], clf_proba, onehot), use


def stack_features(rule_status: np.ndarray, rule_modifier: np.ndarray, clf_proba: np.ndarray) -> np.ndarray:
    """Stacking features ``(N, F, D)``: rules status one-hot, modifier one-hot, classifier probabilities,
    the classifier's log-odds of present-or-uncertain and its probability of the rules' status."""
    eps = 1e-6
    onehot = np.eye(_S)[rule_status]
    mod = np.eye(len(MODIFIER_CODES) + 1)[rule_modifier][..., 1:]
    pos = clf_proba[..., _POS] + clf_proba[..., _UNC]
    logit = np.clip(np.log((pos + eps) / (1 - pos + eps)), -10, 10)[..., None] / 10
    agree = np.take_along_axis(clf_proba, rule_status[..., None], axis=-1)
    return np.concatenate([onehot, mod, clf_proba, logit, agree], axis=-1)


FEATURE_NAMES = (
    *(f"rules_{s.value}" for s in STATUS_ORDER),
    *(f"modifier_{c}" for c in MODIFIER_CODES),
    *(f"clf_p_{s.value}" for s in STATUS_ORDER),
    "clf_logit_coded",
    "clf_p_rules_status",
)


@dataclass(frozen=True)
class Stacker:
    """Fitted per-observation logistic regressions (plain arrays, JSON round-trip).

    ``models[j]`` is ``None`` (observation not in the gold: the gate decides), or a dict with
    ``classes`` (int labels), ``coef`` (K', D) and ``intercept`` (K',) — K' = 1 for a binary
    model — or ``constant`` (the only class seen).
    """

    kind: str
    observations: tuple[str, ...]
    models: tuple[dict[str, Any] | None, ...]
    C: float
    meta: dict[str, Any]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``kind="binary"``: P(coded) ``(N, F)``; ``"status"``: probabilities ``(N, F, S)``.

        Observations without a model get NaN.
        """
        n, f, _ = features.shape
        if self.kind == "binary":
            out = np.full((n, f), np.nan)
        else:
            out = np.full((n, f, _S), np.nan)
        for j, m in enumerate(self.models):
            if m is None:
                continue
            x = features[:, j, :]
            if "constant" in m:
                if self.kind == "binary":
                    out[:, j] = float(m["constant"])
                else:
                    out[:, j, :] = np.eye(_S)[int(m["constant"])]
                continue
            coef = np.asarray(m["coef"], dtype=np.float64)
            icpt = np.asarray(m["intercept"], dtype=np.float64)
            z = x @ coef.T + icpt
            if self.kind == "binary":
                out[:, j] = 1.0 / (1.0 + np.exp(-z[:, 0]))
            else:
                classes = np.asarray(m["classes"], dtype=np.int64)
                if len(classes) == 2:
                    p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
                    probs = np.stack([1 - p1, p1], axis=1)
                else:
                    z = z - z.max(axis=1, keepdims=True)
                    e = np.exp(z)
                    probs = e / e.sum(axis=1, keepdims=True)
                out[:, j, :] = 0.0
                out[:, j, classes] = probs
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"format": "radlabeler.stacker", "format_version": 1, "kind": self.kind,
                "observations": list(self.observations), "feature_names": list(FEATURE_NAMES),
                "C": self.C, "models": list(self.models), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stacker:
        if d.get("format") != "radlabeler.stacker":
            raise ModelError("not a stacker file", code="model_corrupt")
        if list(d.get("feature_names", [])) != list(FEATURE_NAMES):
            raise ModelError("the stacker was fitted on other features than this engine computes; refit it",
                             code="stacker_mismatch")
        return cls(d["kind"], tuple(d["observations"]), tuple(d["models"]), float(d["C"]), dict(d.get("meta", {})))


def fit_stacker(rule_status: np.ndarray, rule_modifier: np.ndarray, clf_proba: np.ndarray, gold: np.ndarray,
                gold_mask: np.ndarray, *, kind: str, observations: Sequence[str], C: float = 1.0,
                meta: dict[str, Any] | None = None) -> Stacker:
    """Fit one logistic regression per observation (scikit-learn) on stacking features.

    Parameters
    ----------
    rule_status, rule_modifier : ndarray of int, shape (N, F)
    clf_proba : ndarray of shape (N, F, S)
        Classifier probabilities on reports the classifier was **not** trained on (out-of-fold);
        in-sample probabilities agree with the rules too well and teach the stacker to ignore
        the classifier.
    gold : ndarray of int, shape (N, F)
        0/1 coded flags (``kind="binary"``) or status indices (``kind="status"``).
    gold_mask : ndarray of bool, shape (F,)
        Observations the gold covers (the others get no model).
    kind : {"binary", "status"}
    observations : sequence of str
    C : float, default=1.0
        Inverse L2 regularisation strength.
    """
    from sklearn.linear_model import LogisticRegression

    if kind not in ("binary", "status"):
        raise ValueError(f"kind must be 'binary' or 'status', not {kind!r}")
    x = stack_features(rule_status, rule_modifier, clf_proba)
    models: list[dict[str, Any] | None] = []
    for j in range(x.shape[1]):
        if not gold_mask[j]:
            models.append(None)
            continue
        y = np.asarray(gold[:, j], dtype=np.int64)
        classes = np.unique(y)
        if len(classes) == 1:
            models.append({"constant": int(classes[0])})
            continue
        lr = LogisticRegression(C=C, max_iter=2000)
        lr.fit(x[:, j, :], y)
        models.append({"classes": [int(c) for c in lr.classes_], "coef": lr.coef_.round(8).tolist(),
                       "intercept": lr.intercept_.round(8).tolist()})
    return Stacker(kind, tuple(observations), tuple(models), float(C), dict(meta or {}))


def stacked_proba(stacker: Stacker, rule_status: np.ndarray, rule_modifier: np.ndarray,
                  clf_proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stack policy on arrays: probabilities ``(N, F, S)`` and a mask of stacked observations.

    Observations without a stacker model are left to :func:`gate_combine` by the caller.
    """
    feats = stack_features(rule_status, rule_modifier, clf_proba)
    pred = stacker.predict(feats)
    out = np.zeros(clf_proba.shape, dtype=np.float64)
    if stacker.kind == "status":
        has = ~np.isnan(pred[..., 0])
        out[has] = pred[has]
        return out, has
    q = pred
    has = ~np.isnan(q)
    q = np.nan_to_num(q)
    rules_pos = np.isin(rule_status, (_POS, _UNC))
    clf_pu = clf_proba[..., _POS] + clf_proba[..., _UNC]
    clf_share = np.where(clf_pu > 0, clf_proba[..., _POS] / np.maximum(clf_pu, 1e-12), 1.0)
    share_present = np.where(rules_pos, (rule_status == _POS).astype(float), clf_share)
    mentioned = np.where(rule_status != _NM, 1.0, 1.0 - clf_proba[..., _NM])
    out[..., _POS] = q * share_present
    out[..., _UNC] = q * (1 - share_present)
    out[..., _NEG] = (1 - q) * mentioned
    out[..., _NM] = (1 - q) * (1 - mentioned)
    return out, has


# ---------------------------------------------------------------------------------------------
# the labeler


@register("ensemble")
class EnsembleLabeler:
    """Rules and a trained classifier, combined per observation (policies: see the module doc).

    Parameters
    ----------
    model : str or Path, default=None
        The classifier's model directory (``labeler label --labeler ensemble --model DIR``). A
        ``stacker.json`` in it selects the ``stack`` policy by default.
    rules : str or Path, default=None
        Ruleset of the rule labeler (and the label set the classifier must match).
    label_sections : sequence of str, default=None
        Sections the rule labeler labels.
    policy : {"gate", "stack"}, default=None
        ``None``: ``stack`` when the model has a stacker, else ``gate``.
    trust : {"fired", "modifier"}, default="fired"
        Gate policy: where the rules keep their status (see :func:`gate_combine`).
    threshold : float, default=0.5
        Gate policy: the classifier's minimum top probability to replace the rules.
    classifier : ClassifierLabeler, default=None
        A fitted classifier to use instead of loading ``model`` (library use).
    C : float, default=1.0
        Stacker regularisation (for :meth:`fit`).
    """

    name = "ensemble"
    version = "1"
    probabilistic = True

    def __init__(
        self,
        model: str | Path | None = None,
        rules: str | Path | None = None,
        label_sections: Sequence[str] | None = None,
        *,
        policy: str | None = None,
        trust: str = "fired",
        threshold: float = 0.5,
        classifier: ClassifierLabeler | None = None,
        C: float = 1.0,
    ) -> None:
        self.model = model
        self.rules = rules
        self.label_sections = label_sections
        self.policy = policy
        self.trust = trust
        self.threshold = threshold
        self.classifier = classifier
        self.C = C
        if policy is not None and policy not in POLICIES:
            raise ConfigError(f"unknown ensemble policy {policy!r} (choose from {', '.join(POLICIES)})")
        if trust not in ("fired", "modifier"):
            raise ConfigError(f"trust must be 'fired' or 'modifier', not {trust!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError("threshold must be in [0, 1]")
        if classifier is None and model is None:
            raise ConfigError("the ensemble needs a trained classifier: pass --model <model dir> "
                              "(train one with 'labeler train')", code="model_required")
        self.rules_ = RuleLabeler(rules, label_sections)
        if classifier is not None:
            if not classifier.is_fitted:
                raise ModelError("the ensemble's classifier is not fitted", code="not_fitted")
            self.classifier_ = classifier
        else:
            self.classifier_ = ClassifierLabeler(model=model, rules=rules)
        if list(self.classifier_.observations) != list(self.rules_.observations):
            raise ModelError("the classifier and the ruleset label different observations", code="label_set_mismatch")
        self.stacker_: Stacker | None = None
        model_dir = self.classifier_.model_dir_
        if model_dir is not None and (Path(model_dir) / STACKER_FILE).is_file():
            self.stacker_ = self._read_stacker(Path(model_dir) / STACKER_FILE)
        if policy == "stack" and self.stacker_ is None:
            raise ModelError(f"policy 'stack' needs a stacker ({STACKER_FILE} in the model directory); fit one with "
                             "'labeler train --gold ... --gold-use stack' or EnsembleLabeler.fit(gold)",
                             code="stacker_missing")
        self._provenance: Provenance | None = None

    # ------------------------------------------------------------------ identity

    @property
    def ruleset(self) -> Ruleset:
        return self.rules_.ruleset

    @property
    def observations(self) -> tuple[str, ...]:
        return self.rules_.observations

    @property
    def active_policy(self) -> str:
        """The policy in use: the given one, else ``stack`` when a stacker is fitted, else ``gate``."""
        if self.policy is not None:
            return self.policy
        return "stack" if self.stacker_ is not None else "gate"

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"policy": self.active_policy, "trust": self.trust, "threshold": self.threshold,
                             "rules": str(self.rules) if self.rules else None,
                             "label_sections": list(self.ruleset.manifest.label_sections),
                             "classifier": self.classifier_.info().params}
        if self.stacker_ is not None and self.active_policy == "stack":
            p["stacker_sha256"] = self._stacker_sha256()
        return p

    def info(self) -> LabelerInfo:
        rs = self.ruleset
        return LabelerInfo(self.name, self.version, self.observations, self.params(),
                           {"name": rs.name, "version": rs.version, "sha256": rs.sha256},
                           self.classifier_.model_sha256)

    @property
    def provenance(self) -> Provenance:
        if self._provenance is None:
            rs = self.ruleset
            self._provenance = Provenance(
                engine_version=__version__, labeler=self.name, labeler_version=self.version, ruleset=rs.name,
                ruleset_version=rs.version, ruleset_sha256=rs.sha256, config_hash=config_hash(self.params()),
                model_sha256=self.classifier_.model_sha256)
        return self._provenance

    def _stacker_sha256(self) -> str:
        if self.stacker_ is None:
            raise ModelError("no stacker fitted", code="stacker_missing")
        blob = json.dumps(self.stacker_.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    # ------------------------------------------------------------------ combining

    def _combine(self, rule_results: Sequence[ReportResult], clf_proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs = self.observations
        status, modifier = rule_arrays(rule_results, obs)
        proba, from_clf = gate_combine(status, modifier, clf_proba, trust=self.trust, threshold=self.threshold)
        if self.active_policy == "stack" and self.stacker_ is not None:
            sp, has = stacked_proba(self.stacker_, status, modifier, clf_proba)
            proba = np.where(has[..., None], sp, proba)
            from_clf = np.where(has, True, from_clf)
        return proba, from_clf

    def _rederived(self) -> list[Any]:
        """Derived observations (No Finding) to derive again from the combined statuses: all under
        the gate policy; under the stack policy those the stacker has no model for."""
        stacked: set[str] = set()
        if self.active_policy == "stack" and self.stacker_ is not None:
            stacked = {o for o, m in zip(self.stacker_.observations, self.stacker_.models) if m is not None}
        return [d for d in self.ruleset.aggregation.derived if d.observation not in stacked]

    def _results(self, rule_results: Sequence[ReportResult], clf_proba: np.ndarray) -> list[ReportResult]:
        proba, from_clf = self._combine(rule_results, clf_proba)
        obs = self.observations
        derived = self._rederived()
        policy_id = f"ensemble.{self.active_policy}"
        out = []
        for i, res in enumerate(rule_results):
            if res.errors:
                out.append(res.replace(provenance=self.provenance))
                continue
            by_obs = {lab.observation: lab for lab in res.labels}
            labels: dict[str, Label] = {}
            for j, o in enumerate(obs):
                p = proba[i, j]
                st = STATUS_ORDER[int(p.argmax())]
                rule_lab = by_obs.get(o)
                probs = {s.value: round(float(v), 6) for s, v in zip(STATUS_ORDER, p)}
                changed = bool(from_clf[i, j])
                labels[o] = Label(o, st, rule_lab.evidence if rule_lab else (),
                                  policy_id if changed else (rule_lab.rule_id if rule_lab else None), probs)
            statuses = {o: lab.status for o, lab in labels.items()}
            for lab in res.labels:  # helper observations the classifier does not model
                if lab.observation not in labels:
                    statuses[lab.observation] = lab.status
            for d in derived:
                if d.observation not in labels:
                    continue
                blocking = set(d.blocking_statuses)
                ignored = set(d.ignore) | {x.observation for x in self.ruleset.aggregation.derived}
                blocked = any(st.value in blocking for o, st in statuses.items() if o not in ignored)
                st = AssertionStatus(d.otherwise if blocked else d.status)
                labels[d.observation] = Label(d.observation, st, (), d.id,
                                              {s.value: float(s is st) for s in STATUS_ORDER})
            final = [labels[o] for o in obs]
            final += [lab for lab in res.labels if lab.observation not in labels]
            out.append(res.replace(labels=tuple(final), provenance=self.provenance))
        return out

    def label(self, reports: Iterable[Report], chunk_size: int = 512) -> Iterator[ReportResult]:
        """One result per report, in order, with the rules' evidence and combined probabilities."""
        for chunk in chunked(reports, chunk_size):
            yield from self._label_chunk(chunk)

    def _label_chunk(self, chunk: list[Report]) -> list[ReportResult]:
        rule_results = list(self.rules_.label(chunk))
        clf_results = list(self.classifier_.label(chunk))
        proba = np.zeros((len(chunk), len(self.observations), _S))
        failed = []
        for i, r in enumerate(clf_results):
            if r.errors:
                failed.append(i)
                continue
            for j, lab in enumerate(r.labels):
                proba[i, j] = [lab.probabilities[s.value] for s in STATUS_ORDER]  # type: ignore[index]
        results = self._results(rule_results, proba)
        for i in failed:
            results[i] = rule_results[i].replace(errors=clf_results[i].errors, labels=(), provenance=self.provenance)
        return results

    def predict_proba(self, reports: Iterable[Report]) -> np.ndarray:
        """Combined status probabilities ``(N, F, S)``; statuses in :data:`labeler.vocab.STATUS_ORDER`."""
        from .base import results_to_proba

        return results_to_proba(list(self.label(reports)), self.observations)

    # ------------------------------------------------------------------ stacking

    def fit(self, gold: GoldSet, *, classifier_proba: np.ndarray | None = None) -> EnsembleLabeler:
        """Fit the stacker on a gold set; the policy becomes ``stack`` (unless ``policy`` was given).

        Parameters
        ----------
        gold : GoldSet
            Binary (coded / not coded) or status gold with report texts. Columns are matched to
            observations by display name or id; observations the gold lacks keep the gate policy.
        classifier_proba : ndarray of shape (N, F, S), default=None
            The classifier's probabilities on the gold reports, when they must be computed another
            way (out-of-fold); ``None`` runs the classifier, which is only honest when the gold
            reports were not among its training reports.
        """
        if gold.texts is None:
            raise ValueError("the gold set carries no report texts")
        reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)]
        obs = list(self.observations)
        rs = self.ruleset
        by_name = {rs.display_name(o): o for o in obs}
        by_name.update({o: o for o in obs})
        unknown = [c for c in gold.observations if c not in by_name]
        if unknown:
            raise ValueError(f"gold column(s) {unknown} are not observations of this labeler")
        col = {by_name[c]: j for j, c in enumerate(gold.observations)}
        kind = "binary" if gold.kind == "binary" else "status"
        y = np.zeros((len(reports), len(obs)), dtype=np.int64)
        mask = np.zeros(len(obs), dtype=bool)
        for j, o in enumerate(obs):
            if o in col:
                mask[j] = True
                vals = gold.values[:, col[o]]
                y[:, j] = vals.astype(np.int64) if kind == "binary" else statuses_to_indices(vals.reshape(-1, 1), 1)[:, 0]
        status, modifier = rule_arrays(list(self.rules_.label(reports)), obs)
        if classifier_proba is None:
            classifier_proba = self.classifier_.predict_proba(reports)
        if classifier_proba.shape != (len(reports), len(obs), _S):
            raise ValueError(f"classifier_proba has shape {classifier_proba.shape}, "
                             f"expected {(len(reports), len(obs), _S)}")
        meta = {"engine_version": __version__, "gold": gold.name, "gold_kind": gold.kind, "n_reports": len(reports),
                "gold_fingerprint_sha256": _fingerprint(reports),
                "classifier_sha256": self.classifier_.model_sha256,
                "rules": {"name": rs.name, "version": rs.version, "sha256": rs.sha256},
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        self.stacker_ = fit_stacker(status, modifier, classifier_proba, y, mask, kind=kind, observations=obs,
                                    C=self.C, meta=meta)
        self._provenance = None
        return self

    def save_stacker(self, path: str | Path | None = None) -> Path:
        """Write ``stacker.json`` (default: into the classifier's model directory)."""
        if self.stacker_ is None:
            raise ModelError("no stacker to save: call fit(gold) first", code="stacker_missing")
        if path is None:
            if self.classifier_.model_dir_ is None:
                raise ModelError("save the classifier first (its directory holds the stacker)", code="not_saved")
            path = Path(self.classifier_.model_dir_) / STACKER_FILE
        from ..export import write_json

        write_json(path, self.stacker_.to_dict())
        return Path(path)

    def _read_stacker(self, path: Path) -> Stacker:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {path}: {exc}", code="model_corrupt") from None
        stacker = Stacker.from_dict(data)
        fitted_on = stacker.meta.get("classifier_sha256")
        if fitted_on != self.classifier_.model_sha256:
            raise ModelError(f"{path} was fitted on another classifier (weights sha256 {str(fitted_on)[:12]}…, "
                             f"this one {str(self.classifier_.model_sha256)[:12]}…); refit the stacker",
                             code="stacker_mismatch")
        if list(stacker.observations) != list(self.observations):
            raise ModelError(f"{path} covers other observations than the ruleset", code="label_set_mismatch")
        return stacker
