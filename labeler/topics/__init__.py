"""Topic modelling of report corpora (LDA with gensim): what is in an archive, what does not belong.

* :class:`TopicModel` — estimator: ``fit(texts)``, ``transform(texts) -> (N, K)``,
  ``top_terms(n)``, ``assign(texts)`` (topic mixture + off-domain score and flag), ``save`` /
  ``load``; k is chosen over a grid by topic coherence.
* :class:`ReportPreprocessor` — the adapter from report text to tokens (sections, spaCy
  tokenizer, placeholders and stop words dropped).
* Pure numpy functions over topic proportions: :func:`dominant_topic` (a stratification key),
  :func:`label_topic_lift` (which topics carry which labels, bootstrap CIs),
  :func:`topic_drift` and :func:`jensen_shannon` (how two corpora differ).
* File-level functions under ``labeler topics ...``: :func:`fit_topics`, :func:`assign_topics`,
  :func:`show_topics`, :func:`drift_topics`.

gensim is needed to fit or load a model (``pip install 'radlabeler[topics]'``); it is imported
only when used.
"""

from .corpus import (
    AssignSummary,
    FitSummary,
    TopicsOverview,
    assign_topics,
    read_corpus,
    drift_topics,
    fit_topics,
    read_label_table,
    show_topics,
)
from .model import DEFAULT_GRID, InvalidParameterError, TopicAssignment, TopicModel
from .preprocess import DEFAULT_SECTIONS, RADIOLOGY_STOP_WORDS, ReportPreprocessor
from .stats import DriftResult, LiftTable, TopicShift, dominant_topic, jensen_shannon, label_topic_lift, topic_drift

__all__ = [
    "TopicModel",
    "TopicAssignment",
    "InvalidParameterError",
    "DEFAULT_GRID",
    "ReportPreprocessor",
    "DEFAULT_SECTIONS",
    "RADIOLOGY_STOP_WORDS",
    "dominant_topic",
    "jensen_shannon",
    "label_topic_lift",
    "LiftTable",
    "topic_drift",
    "DriftResult",
    "TopicShift",
    "fit_topics",
    "assign_topics",
    "show_topics",
    "drift_topics",
    "read_label_table",
    "read_corpus",
    "FitSummary",
    "AssignSummary",
    "TopicsOverview",
]
