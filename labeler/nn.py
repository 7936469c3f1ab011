"""Neural networks behind :class:`~labeler.labelers.classifier.ClassifierLabeler` (needs torch).

This module imports torch at import time; the rest of the engine imports it lazily, through
:func:`labeler.labelers.classifier.require_torch`, so the core install works without torch.

Shapes follow the engine's glossary: ``N`` reports, ``F`` observations, ``S`` statuses (in
:data:`labeler.vocab.STATUS_ORDER`), ``B`` reports in a batch, ``T`` tokens, ``H`` hidden units.

Two encoders share one multi-head output:

* :class:`BiGRUEncoder` — word embeddings learned from scratch (own :class:`Vocabulary`) and a
  bidirectional GRU over the whole report (no length limit).
* :class:`TransformerEncoder` — a pretrained Hugging Face encoder (all-MiniLM-L6-v2 by default).
  A report longer than the encoder's window is cut **at sentence boundaries** into chunks that
  fit (:class:`ChunkFeaturizer`); the chunks are encoded separately and their token states are
  concatenated again, so the head attends over the whole report (nothing is truncated).

:class:`LabelAttentionHead` gives every observation its own attention over the report's tokens
(label-wise attention, as in CAML) and its own 4-way status layer.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "Vocabulary",
    "word_tokens",
    "WordFeaturizer",
    "ChunkFeaturizer",
    "BiGRUEncoder",
    "TransformerEncoder",
    "LabelAttentionHead",
    "MultiHeadClassifier",
    "TrainConfig",
    "EpochRecord",
    "class_weights",
    "train_model",
    "predict_proba",
    "resolve_device",
    "seeded",
]

#: a document as the featurizers take it: its sentences, the first of each section prefixed by its name
Document = Sequence[str]
ProgressFn = Callable[[str, int, int, dict[str, Any]], None]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*|[^\sa-z\d]")
_DIGIT = re.compile(r"\d")


def word_tokens(text: str) -> list[str]:
    """Lower-cased word, number and punctuation tokens; digits become ``0``.

    >>> word_tokens("No pneumothorax. ET tube 4.5 cm above the carina.")
    ['no', 'pneumothorax', '.', 'et', 'tube', '0.0', 'cm', 'above', 'the', 'carina', '.']
    """
    return [_DIGIT.sub("0", t) for t in _WORD.findall(text.lower())]


class Vocabulary:
    """Token ↔ id table of the BiGRU. Ids 0, 1, 2 are padding, unknown and start of report."""

    PAD, UNK, BOS = "<pad>", "<unk>", "<s>"
    SPECIALS = (PAD, UNK, BOS)

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:3]) != self.SPECIALS:
            raise ValueError(f"a vocabulary starts with {self.SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], *, min_freq: int = 2, max_size: int = 30_000) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times, the ``max_size`` most frequent (ties: alphabetical)."""
        counts: Counter[str] = Counter()
        for doc in documents:
            counts.update(doc)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in cls.SPECIALS),
                        key=lambda t: (-counts[t], t))
        return cls([*cls.SPECIALS, *ranked[: max(0, max_size - len(cls.SPECIALS))]])

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``, start-of-report id first (so no report is empty)."""
        unk = 1
        return [2, *(self.index.get(t, unk) for t in tokens)]

    def to_list(self) -> list[str]:
        return list(self.tokens)


class WordFeaturizer:
    """Documents → word ids → padded batches for :class:`BiGRUEncoder`."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab

    @staticmethod
    def tokens(doc: Document) -> list[str]:
        return [t for sentence in doc for t in word_tokens(sentence)]

    def encode(self, doc: Document) -> list[int]:
        return self.vocab.encode(self.tokens(doc))

    @staticmethod
    def size(example: list[int]) -> int:
        return len(example)

    @staticmethod
    def collate(examples: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(e) for e in examples], dtype=torch.long)
        ids = torch.zeros((len(examples), int(lengths.max())), dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        return {"ids": ids, "lengths": lengths}


class ChunkFeaturizer:
    """Documents → windows of at most ``max_length`` sub-word tokens, cut at sentence boundaries.

    Sentences are packed greedily into chunks of up to ``max_length - 2`` tokens (room for the
    encoder's ``[CLS]`` / ``[SEP]``). A single sentence longer than that is split into window-sized
    pieces (counted in :attr:`n_split_sentences`); nothing is dropped.
    """

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        if max_length < 8:
            raise ValueError("max_length must be at least 8 tokens")
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.cls_id = tokenizer.cls_token_id
        self.sep_id = tokenizer.sep_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.n_split_sentences = 0

    def encode(self, doc: Document) -> list[list[int]]:
        room = self.max_length - 2
        pieces: list[list[int]] = []
        for sentence in doc:
            ids = self.tokenizer.encode(sentence, add_special_tokens=False)
            if len(ids) > room:
                self.n_split_sentences += 1
                pieces.extend(ids[i: i + room] for i in range(0, len(ids), room))
            elif ids:
                pieces.append(ids)
        chunks: list[list[int]] = []
        current: list[int] = []
        for ids in pieces:
            if current and len(current) + len(ids) > room:
                chunks.append(current)
                current = []
            current = current + ids
        if current or not chunks:
            chunks.append(current)
        return [[self.cls_id, *c, self.sep_id] for c in chunks]

    @staticmethod
    def size(example: list[list[int]]) -> int:
        return sum(len(c) for c in example)

    def collate(self, examples: Sequence[list[list[int]]]) -> dict[str, Any]:
        chunks = [c for e in examples for c in e]
        owner = torch.tensor([i for i, e in enumerate(examples) for _ in e], dtype=torch.long)
        width = max(len(c) for c in chunks)
        ids = torch.full((len(chunks), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunks), width), dtype=torch.long)
        for i, c in enumerate(chunks):
            ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
            mask[i, : len(c)] = 1
        return {"input_ids": ids, "attention_mask": mask, "owner": owner, "n_reports": len(examples)}


class BiGRUEncoder(nn.Module):
    """Word embeddings + bidirectional GRU: ``(B, T)`` ids → ``(B, T, 2·hidden)`` states and mask."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, num_layers: int = 1,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                          bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = 2 * hidden_dim

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.dropout(self.embedding(ids))
        if torch.is_grad_enabled() and self.gru.num_layers == 1:
            states = self._bigru_unrolled(emb, lengths.to(emb.device))
        else:
            packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return self.dropout(states), ids != 0

    def _bigru_unrolled(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``self.gru`` (one bidirectional layer) on right-padded ``x``, with its own weights, step by step.

        The same function as the packed ``nn.GRU`` at every real token (padding positions differ and
        are masked downstream): the reverse direction reads each sequence reversed within its own
        length. Used for training: the backward pass of PyTorch's CPU GRU fills a gradient buffer of
        the whole sequence at every time step (quadratic in the length), while the input projections
        here are computed once and split with ``unbind``, whose backward is a single ``stack``
        (about 1.4x faster per step on report-length batches; inference keeps the fused kernel).
        """
        g = self.gru
        n, t_max, _ = x.shape
        steps = torch.arange(t_max, device=x.device).unsqueeze(0)
        length = lengths.unsqueeze(1)
        rev = torch.where(steps < length, length - 1 - steps, steps).unsqueeze(-1)  # an involution
        x_rev = x.gather(1, rev.expand(-1, -1, x.shape[2]))
        gates_in = torch.stack([nn.functional.linear(x, g.weight_ih_l0, g.bias_ih_l0),
                                nn.functional.linear(x_rev, g.weight_ih_l0_reverse, g.bias_ih_l0_reverse)])
        w_hh = torch.stack([g.weight_hh_l0, g.weight_hh_l0_reverse]).transpose(1, 2)  # (2, H, 3H)
        b_hh = torch.stack([g.bias_hh_l0, g.bias_hh_l0_reverse]).unsqueeze(1)  # (2, 1, 3H)
        h = x.new_zeros(2, n, g.hidden_size)
        out = []
        for gi in gates_in.unbind(2):  # (2, B, 3H) per step, both directions at once
            gh = torch.baddbmm(b_hh, h, w_hh)
            i_r, i_z, i_n = gi.chunk(3, 2)
            h_r, h_z, h_n = gh.chunk(3, 2)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            cand = torch.tanh(i_n + r * h_n)
            h = cand + z * (h - cand)
            out.append(h)
        states = torch.stack(out, 2)  # (2, B, T, H)
        backward = states[1].gather(1, rev.expand(-1, -1, g.hidden_size))
        return torch.cat([states[0], backward], 2)


class TransformerEncoder(nn.Module):
    """A Hugging Face encoder over sentence-aligned chunks, regrouped into one sequence per report.

    ``freeze_layers`` freezes the embeddings and the first ``freeze_layers`` transformer layers
    (faster fine-tuning on a CPU; 0 fine-tunes everything).
    """

    def __init__(self, encoder: nn.Module, freeze_layers: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.output_dim = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.freeze_layers = int(freeze_layers)
        if self.freeze_layers > 0:
            for p in encoder.embeddings.parameters():
                p.requires_grad_(False)
            for layer in encoder.encoder.layer[: self.freeze_layers]:
                for p in layer.parameters():
                    p.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, owner: torch.Tensor,
                n_reports: int) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (C, L, H)
        valid = attention_mask.bool()
        flat = hidden[valid]  # (total tokens, H), chunk by chunk, so report by report
        tok_owner = owner.to(hidden.device).repeat_interleave(valid.sum(dim=1))
        counts = torch.bincount(tok_owner, minlength=n_reports)
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(flat.shape[0], device=hidden.device) - starts[tok_owner]
        states = hidden.new_zeros((n_reports, int(counts.max()), hidden.shape[-1]))
        states = states.index_put((tok_owner, pos), flat)
        mask = torch.zeros((n_reports, states.shape[1]), dtype=torch.bool, device=hidden.device)
        mask[tok_owner, pos] = True
        return self.dropout(states), mask


class LabelAttentionHead(nn.Module):
    """Per-observation attention over token states and a per-observation status layer.

    ``(B, T, H)`` states and ``(B, T)`` mask → ``(B, F, S)`` logits.
    """

    def __init__(self, input_dim: int, n_observations: int, n_statuses: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.key = nn.Linear(input_dim, input_dim)
        self.query = nn.Parameter(torch.empty(n_observations, input_dim))
        self.weight = nn.Parameter(torch.empty(n_observations, input_dim, n_statuses))
        self.bias = nn.Parameter(torch.zeros(n_observations, n_statuses))
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.query, std=1.0 / math.sqrt(input_dim))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(input_dim))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keys = torch.tanh(self.key(states))  # (B, T, H)
        scores = keys @ self.query.T  # (B, T, F)
        scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        attention = torch.softmax(scores, dim=1)
        context = self.dropout(torch.einsum("btf,bth->bfh", attention, states))
        return torch.einsum("bfh,fhs->bfs", context, self.weight) + self.bias


class MultiHeadClassifier(nn.Module):
    """An encoder and a :class:`LabelAttentionHead`: a batch → ``(B, F, S)`` logits."""

    def __init__(self, encoder: nn.Module, n_observations: int, n_statuses: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = LabelAttentionHead(encoder.output_dim, n_observations, n_statuses, dropout)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        states, mask = self.encoder(**batch)
        return self.head(states, mask)


# ----------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run (see :class:`ClassifierLabeler` for meanings)."""

    epochs: int
    batch_size: int
    learning_rate: float
    encoder_learning_rate: float | None = None
    weight_decay: float = 0.01
    patience: int = 2
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class EpochRecord:
    """Losses and validation scores after one epoch."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    seconds: float

    def to_dict(self) -> dict[str, float]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def resolve_device(device: str | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU; otherwise the named device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with torch's RNGs seeded from ``seed``; the global RNG state is restored after.

    Deterministic algorithms are requested inside the block (warn-only where an op has none).
    """
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def class_weights(targets: np.ndarray, n_statuses: int, *, scheme: str = "sqrt", max_weight: float = 20.0) -> np.ndarray:
    """Per-observation, per-status loss weights ``(F, S)`` from integer targets ``(N, F)``.

    ``"balanced"`` weighs a status by ``N / (k · count)`` (``k`` statuses seen for that
    observation); ``"sqrt"`` takes the square root of that (gentler); ``"none"`` gives 1.
    Weights are clipped to ``max_weight`` and rescaled so that the mean weight of the training
    targets of each observation is 1.

    >>> class_weights(np.array([[0], [0], [0], [1]]), 2, scheme="balanced").round(3).tolist()
    [[0.667, 2.0]]
    """
    n, f = targets.shape
    out = np.ones((f, n_statuses), dtype=np.float64)
    if scheme == "none" or n == 0:
        return out
    if scheme not in ("balanced", "sqrt"):
        raise ValueError(f"unknown class weighting {scheme!r} (balanced, sqrt, none)")
    for j in range(f):
        counts = np.bincount(targets[:, j], minlength=n_statuses).astype(np.float64)
        seen = counts > 0
        w = np.ones(n_statuses)
        w[seen] = n / (seen.sum() * counts[seen])
        if scheme == "sqrt":
            w = np.sqrt(w)
        w = np.minimum(w, max_weight)
        w /= (w[targets[:, j]]).mean()
        out[j] = w
    return out


def _batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches of similar length: shuffled buckets when ``rng`` is given, else sorted."""
    n = len(sizes)
    if rng is None:
        order = np.argsort(sizes, kind="stable")
        return [order[i: i + batch_size] for i in range(0, n, batch_size)]
    perm = rng.permutation(n)
    bucket = batch_size * 50
    batches: list[np.ndarray] = []
    for i in range(0, n, bucket):
        part = perm[i: i + bucket]
        part = part[np.argsort(sizes[part], kind="stable")]
        batches.extend(part[k: k + batch_size] for k in range(0, len(part), batch_size))
    return [batches[k] for k in rng.permutation(len(batches))]


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) and k != "lengths" else v) for k, v in batch.items()}


def _loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor,
          kind: str) -> torch.Tensor:
    """Mean weighted loss over the (report, observation) pairs where ``mask`` is set.

    ``kind="status"``: cross-entropy over the S statuses, targets are status indices.
    ``kind="coded"``: binary cross-entropy of p(present) + p(uncertain) against 0/1 targets
    (for gold that only says whether an observation was coded, e.g. IU MeSH).
    """
    logp = torch.log_softmax(logits, dim=-1)  # (B, F, S)
    f_idx = torch.arange(logits.shape[1], device=logits.device).expand_as(targets)
    if kind == "status":
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        w = weights[f_idx, targets]
    elif kind == "coded":
        # STATUS_ORDER: not_mentioned, present, absent, uncertain
        log_pos = torch.logsumexp(logp[..., [1, 3]], dim=-1)
        log_neg = torch.logsumexp(logp[..., [0, 2]], dim=-1)
        nll = -torch.where(targets == 1, log_pos, log_neg)
        w = weights[f_idx, targets]
    else:
        raise ValueError(f"unknown loss kind {kind!r}")
    m = mask.to(nll.dtype)
    return (nll * w * m).sum() / m.sum().clamp(min=1.0)


def _scores(proba: np.ndarray, targets: np.ndarray, mask: np.ndarray, kind: str) -> tuple[float, float]:
    """Accuracy and macro F1 (over observations × non-trivial classes) of predictions against targets."""
    from sklearn.metrics import f1_score

    pred = proba.argmax(-1)
    if kind == "coded":
        pred = np.isin(pred, (1, 3)).astype(np.int64)
    ok = mask.astype(bool)
    if not ok.any():
        return float("nan"), float("nan")
    acc = float((pred[ok] == targets[ok]).mean())
    f1s = []
    for j in range(targets.shape[1]):
        m = ok[:, j]
        if m.sum() == 0 or len(np.unique(targets[m, j])) < 2:
            continue
        f1s.append(f1_score(targets[m, j], pred[m, j], average="macro", zero_division=0))
    return acc, float(np.mean(f1s)) if f1s else float("nan")


def _optimizer(model: MultiHeadClassifier, cfg: TrainConfig) -> torch.optim.Optimizer:
    head = [p for p in model.head.parameters() if p.requires_grad]
    enc = [p for p in model.encoder.parameters() if p.requires_grad]
    enc_lr = cfg.encoder_learning_rate if cfg.encoder_learning_rate is not None else cfg.learning_rate
    groups = [{"params": head, "lr": cfg.learning_rate}]
    if enc:
        groups.append({"params": enc, "lr": enc_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def train_model(
    model: MultiHeadClassifier,
    featurizer: Any,
    examples: Sequence[Any],
    targets: np.ndarray,
    mask: np.ndarray,
    val_examples: Sequence[Any],
    val_targets: np.ndarray,
    val_mask: np.ndarray,
    weights: np.ndarray,
    cfg: TrainConfig,
    *,
    kind: str = "status",
    device: torch.device,
    on_progress: ProgressFn | None = None,
    stage: str = "train",
) -> tuple[list[EpochRecord], int]:
    """Train ``model`` in place with early stopping on the validation loss; keeps the best epoch.

    Parameters
    ----------
    examples, val_examples : sequence
        Encoded documents (``featurizer.encode`` output).
    targets, val_targets : ndarray of int, shape (N, F)
        Status indices (``kind="status"``) or 0/1 coded flags (``kind="coded"``).
    mask, val_mask : ndarray of bool, shape (N, F)
        Which (report, observation) pairs carry a target.
    weights : ndarray of shape (F, S) or (F, 2)
        Per-observation class weights (see :func:`class_weights`).
    cfg : TrainConfig
    kind : {"status", "coded"}
    device : torch.device
    on_progress : callable(stage, done, total, info), default=None
        Called after every step (``info``: epoch, loss) and epoch (``info``: the epoch record).

    Returns
    -------
    history : list of EpochRecord
    best_epoch : int
        1-based epoch whose weights the model holds on return (0: no epoch improved on the start).
    """
    rng = np.random.default_rng(cfg.seed)
    sizes = np.array([featurizer.size(e) for e in examples])
    t_all = torch.as_tensor(np.asarray(targets, dtype=np.int64))
    m_all = torch.as_tensor(np.asarray(mask, dtype=bool))
    w = torch.as_tensor(weights, dtype=torch.float32, device=device)
    model.to(device)
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total_steps = max(1, steps_per_epoch * cfg.epochs)
    warmup = max(1, int(cfg.warmup_fraction * steps_per_epoch))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.05, 1.0 - s / total_steps))
    has_val = len(val_examples) > 0 and bool(np.asarray(val_mask).any())

    def evaluate() -> tuple[float, float, float]:
        if not has_val:
            return float("nan"), float("nan"), float("nan")
        proba, loss = _predict(model, featurizer, val_examples, cfg.batch_size * 2, device,
                               targets=val_targets, mask=val_mask, weights=w, kind=kind)
        acc, f1 = _scores(proba, np.asarray(val_targets), np.asarray(val_mask), kind)
        return loss, acc, f1

    history: list[EpochRecord] = []
    best_loss = math.inf
    best_state = None
    best_epoch = 0
    bad = 0
    done = 0
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        total = 0.0
        count = 0
        for idx in _batches(sizes, cfg.batch_size, rng):
            batch = _to_device(featurizer.collate([examples[i] for i in idx]), device)
            logits = model(batch)
            loss = _loss(logits, t_all[idx].to(device), m_all[idx].to(device), w, kind)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            done += 1
            if on_progress is not None:
                on_progress(stage, done, total_steps, {"epoch": epoch, "loss": total / count})
        val_loss, acc, f1 = evaluate()
        rec = EpochRecord(epoch, total / max(count, 1), val_loss, acc, f1, time.perf_counter() - start)
        history.append(rec)
        if on_progress is not None:
            on_progress(stage, done, total_steps, {"epoch": epoch, "record": rec.to_dict()})
        if not has_val:
            best_epoch = epoch
            continue
        if val_loss < best_loss - 1e-4:
            best_loss, best_epoch, bad = val_loss, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch


def _predict(model: MultiHeadClassifier, featurizer: Any, examples: Sequence[Any], batch_size: int,
             device: torch.device, *, targets: np.ndarray | None = None, mask: np.ndarray | None = None,
             weights: torch.Tensor | None = None, kind: str = "status") -> tuple[np.ndarray, float]:
    model.eval()
    sizes = np.array([featurizer.size(e) for e in examples])
    n_obs = model.head.query.shape[0]
    n_status = model.head.bias.shape[1]
    out = np.zeros((len(examples), n_obs, n_status), dtype=np.float32)
    loss_sum = 0.0
    n_pairs = 0.0
    with torch.inference_mode():
        for idx in _batches(sizes, batch_size, None):
            batch = _to_device(featurizer.collate([examples[i] for i in idx]), device)
            logits = model(batch)
            out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if targets is not None and mask is not None and weights is not None:
                t = torch.as_tensor(np.asarray(targets)[idx], dtype=torch.long, device=device)
                m = torch.as_tensor(np.asarray(mask)[idx], dtype=torch.bool, device=device)
                k = float(m.sum())
                loss_sum += float(_loss(logits, t, m, weights, kind)) * k
                n_pairs += k
    return out, (loss_sum / n_pairs if n_pairs else float("nan"))


def predict_proba(model: MultiHeadClassifier, featurizer: Any, examples: Sequence[Any], *,
                  batch_size: int = 64, device: torch.device) -> np.ndarray:
    """Status probabilities ``(N, F, S)`` (float32), in input order; batches are length-sorted."""
    model.to(device)
    if len(examples) == 0:
        return np.zeros((0, model.head.query.shape[0], model.head.bias.shape[1]), dtype=np.float32)
    proba, _ = _predict(model, featurizer, examples, batch_size, device)
    return proba
