"""The labeler protocol, a registry of labelers by name, and array adapters.

Any object with ``name``, ``version``, ``observations``, ``info()`` and ``label(reports)`` is a
labeler; the evaluator, noise estimator and exporters take any of them. Optional methods follow
scikit-learn's terms: ``predict_proba(reports) -> (N, F, S)``, ``fit(reports, ...) -> self``,
``save(dir)`` / ``load(dir)``; and ``prepare() -> self`` builds compiled state (or loads weights)
now instead of on the first ``label`` call, so batch runs can time setup apart from labeling.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, ModelError
from ..records import Report, ReportResult
from ..vocab import STATUS_ORDER

__all__ = ["Labeler", "LabelerInfo", "REGISTRY", "register", "make_labeler", "results_to_proba", "config_hash",
           "check_fitted"]


@dataclass(frozen=True)
class LabelerInfo:
    """Identity and hyper-parameters of a labeler (what provenance records)."""

    name: str
    version: str
    observations: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    ruleset: dict[str, Any] | None = None
    model_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Labeler(Protocol):
    """What every labeler provides."""

    name: str
    version: str

    @property
    def observations(self) -> tuple[str, ...]:
        """Observation ids this labeler labels, in output order."""
        ...

    def info(self) -> LabelerInfo:
        """Identity, hyper-parameters and hashes."""
        ...

    def label(self, reports: Iterable[Report]) -> Iterator[ReportResult]:
        """One result per report, in input order (streaming)."""
        ...


REGISTRY: dict[str, Callable[..., Labeler]] = {}


def register(name: str) -> Callable[[Callable[..., Labeler]], Callable[..., Labeler]]:
    """Class decorator: make a labeler constructible by name (``make_labeler("rules")``)."""

    def deco(factory: Callable[..., Labeler]) -> Callable[..., Labeler]:
        REGISTRY[name] = factory
        return factory

    return deco


def make_labeler(name: str, **params: Any) -> Labeler:
    """Build a registered labeler by name with its constructor parameters."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise ConfigError(f"unknown labeler {name!r} (known: {known})", code="unknown_labeler")
    factory = REGISTRY[name]
    try:
        inspect.signature(factory).bind(**params)
    except TypeError as exc:  # an option this labeler does not take (e.g. --param of another labeler)
        raise ConfigError(f"labeler {name!r}: {exc}", code="bad_param") from None
    except ValueError:  # pragma: no cover - a factory without an introspectable signature
        pass
    return factory(**params)


def config_hash(params: dict[str, Any]) -> str:
    """Short stable hash of a parameter dict (for provenance)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def results_to_proba(results: Sequence[ReportResult], observations: Sequence[str]) -> np.ndarray:
    """One-hot (or labeler-given) probabilities of shape ``(N, F, S)``, statuses in ``STATUS_ORDER``."""
    out = np.zeros((len(results), len(observations), len(STATUS_ORDER)), dtype=np.float64)
    index = {s: k for k, s in enumerate(STATUS_ORDER)}
    for i, res in enumerate(results):
        by_obs = {lab.observation: lab for lab in res.labels}
        for j, obs in enumerate(observations):
            lab = by_obs.get(obs)
            if lab is None:
                continue
            if lab.probabilities:
                for status, k in index.items():
                    out[i, j, k] = lab.probabilities.get(status.value, 0.0)
            else:
                out[i, j, index[lab.status]] = 1.0
    return out


def check_fitted(labeler: Any) -> None:
    """Raise :class:`ModelError` when a trainable labeler has no model (``is_fitted`` is False).

    Called before a run writes anything: a labeler that cannot label is a usage error, not one
    failed row per report. Labelers without an ``is_fitted`` attribute (rules) always pass.

    >>> check_fitted(object())
    """
    if getattr(labeler, "is_fitted", True) is False:
        name = getattr(labeler, "name", type(labeler).__name__)
        raise ModelError(f"labeler {name!r} has no trained model: pass --model <model dir> (model=... in Python; "
                         "train one with 'labeler train') or call fit() first", code="not_fitted")
