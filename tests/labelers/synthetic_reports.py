"""Synthetic reports with known labels for the classifier and ensemble tests (no real report text).

The generator knows two things the packaged rules do not: ``Sans <finding>.`` is a negation, and
``blorb`` is a word for a pleural effusion. A classifier trained on these labels must learn both.
"""

from __future__ import annotations

import numpy as np

from labeler import Report
from labeler.vocab import AssertionStatus

OBSERVATIONS = ("no_finding", "enlarged_cardiomediastinum", "cardiomegaly", "lung_lesion", "lung_opacity", "edema",
                "consolidation", "pneumonia", "atelectasis", "pneumothorax", "pleural_effusion", "pleural_other",
                "fracture", "support_devices")
PHRASES = {
    "pleural_effusion": ["pleural effusion", "blorb"],
    "pneumothorax": ["pneumothorax"],
    "edema": ["pulmonary edema"],
    "consolidation": ["consolidation"],
    "cardiomegaly": ["cardiomegaly"],
}
PRESENT = ["There is {}.", "{} is seen.", "Small {}."]
NEGATED = ["No {}.", "Sans {}."]

P, A, N = AssertionStatus.PRESENT, AssertionStatus.ABSENT, AssertionStatus.NOT_MENTIONED


def make_reports(n: int, seed: int, *, sans_for: tuple[str, ...] | None = None,
                 blorb: bool = True) -> tuple[list[Report], np.ndarray, list[dict[str, str]]]:
    """``n`` reports, their true statuses ``(n, 14)`` and, per report, how each finding was phrased.

    ``sans_for`` limits the "Sans" negation to these observations (default: all).
    """
    rng = np.random.default_rng(seed)
    reports, labels, how = [], [], []
    for i in range(n):
        sentences, status, phrased = [], dict.fromkeys(OBSERVATIONS, N), {}
        for obs, names in PHRASES.items():
            kind = rng.choice(["nm", "pos", "neg"], p=[0.4, 0.3, 0.3])
            if kind == "nm":
                continue
            name = names[int(rng.integers(len(names)))] if blorb else names[0]
            if kind == "pos":
                template = PRESENT[int(rng.integers(len(PRESENT)))]
                status[obs] = P
                phrased[obs] = "blorb" if name == "blorb" else "present"
            else:
                cues = NEGATED if sans_for is None or obs in sans_for else NEGATED[:1]
                template = cues[int(rng.integers(len(cues)))]
                status[obs] = A
                phrased[obs] = "sans" if template.startswith("Sans") else "no"
            sentence = template.format(name)
            sentences.append(sentence[0].upper() + sentence[1:])
        rng.shuffle(sentences)
        if not any(status[o] is P for o in OBSERVATIONS if o != "support_devices"):
            status["no_finding"] = P
        reports.append(Report(f"syn-{seed}-{i}", "FINDINGS: " + " ".join(sentences or ["Normal study."])))
        labels.append([status[o] for o in OBSERVATIONS])
        how.append(phrased)
    return reports, np.array(labels, dtype=object), how


TINY = {"embedding_dim": 32, "hidden_dim": 32, "epochs": 12, "batch_size": 16, "patience": 12, "min_freq": 1,
        "learning_rate": 1e-2,
        "n_threads": 1, "seed": 0}
