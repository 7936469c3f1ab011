"""Labelers: interchangeable implementations of the :class:`~labeler.labelers.base.Labeler` protocol.

``rules`` (:class:`RuleLabeler`), ``classifier`` (:class:`ClassifierLabeler`, needs the
``[classifier]`` extra to train or run) and ``ensemble`` (:class:`EnsembleLabeler`).
"""

from .base import REGISTRY, Labeler, LabelerInfo, make_labeler, register, results_to_proba
from .baselines import TfidfLabeler
from .classifier import ClassifierLabeler
from .ensemble import EnsembleLabeler
from .rules import RuleLabeler

__all__ = ["Labeler", "LabelerInfo", "REGISTRY", "register", "make_labeler", "results_to_proba", "RuleLabeler",
           "TfidfLabeler", "ClassifierLabeler", "EnsembleLabeler"]
