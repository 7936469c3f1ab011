"""Labelers: interchangeable implementations of the :class:`~labeler.labelers.base.Labeler` protocol."""

from .base import REGISTRY, Labeler, LabelerInfo, make_labeler, register, results_to_proba
from .baselines import TfidfLabeler
from .rules import RuleLabeler

__all__ = ["Labeler", "LabelerInfo", "REGISTRY", "register", "make_labeler", "results_to_proba", "RuleLabeler",
           "TfidfLabeler"]
