"""IU/Open-i: rules labels of the reports linked to frontal images, split by patient, exported.

    python evaluation/iu_images.py                 # writes evaluation/results/images_iu.json
    python evaluation/iu_images.py --workdir out/  # also keeps the labels, manifest and exports

The same as running

    labeler label ../shared/corpora/iu/reports.csv --id-column uid -t findings -t impression -o W/iu_labels.csv
    labeler link W/iu_labels.csv ../shared/corpora/iu/projections.csv --on mapping --view frontal -o W/manifest.parquet
    labeler split W/manifest.parquet -o W/split.parquet --seed 0
    labeler export-manifest W/split.parquet -o W/export

IU has no DICOM and no patient ids: ``projections.csv`` maps each report uid to its image files
and their projection (Frontal/Lateral), and each study counts as its own patient. The results file
holds counts and prevalences only (no report text, no file lists).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from labeler import RuleLabeler, __version__  # noqa: E402
from labeler.batch import label_corpus  # noqa: E402
from labeler.ingest import IngestOptions  # noqa: E402
from labeler.link import link  # noqa: E402
from labeler.manifest import export_manifest  # noqa: E402
from labeler.splits import split_manifest  # noqa: E402


def run(corpora: Path, work: Path, seed: int) -> dict:
    iu = corpora / "iu"
    labels = work / "iu_labels.csv"
    manifest = work / "manifest.parquet"
    split = work / "split.parquet"
    export = work / "export"
    timings = {}

    start = time.perf_counter()
    lab = RuleLabeler()
    run_summary = label_corpus(iu / "reports.csv", labels, lab, overwrite=True,
                               ingest=IngestOptions(id_column="uid", text_columns=("findings", "impression")))
    timings["label"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    linked = link(labels, iu / "projections.csv", manifest, on="mapping", mapping_key="uid", mapping_path="filename",
                  mapping_view="projection", views=["frontal"], overwrite=True)
    timings["link"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    splits = split_manifest(manifest, split, random_state=seed, overwrite=True)
    timings["split"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    exported = export_manifest(split, export, overwrite=True)
    timings["export"] = round(time.perf_counter() - start, 2)

    projections = pd.read_csv(iu / "projections.csv", dtype=str, keep_default_na=False)
    frontal_per_study = projections[projections["projection"] == "Frontal"].groupby("uid").size()
    manifest_frame = pd.read_parquet(manifest)
    rep = splits.report
    return {
        "corpus": "IU/Open-i reports.csv + projections.csv",
        "engine_version": __version__,
        "labeler": lab.info().to_dict(),
        "seed": seed,
        "reports": {
            "in_corpus": run_summary.n_rows,
            "labeled": run_summary.n_labeled,
            "not_labeled": run_summary.n_errors + run_summary.n_skipped,
            "not_labeled_reasons": run_summary.error_reasons,
            "linked_to_frontal_image": linked.n_reports_linked,
            "without_frontal_image": linked.n_reports_unlinked,
            "without_frontal_image_reasons": linked.report_reasons,
        },
        "images": {
            "in_mapping": int(len(projections)),
            "by_projection": {k: int(v) for k, v in projections["projection"].value_counts().sort_index().items()},
            "in_manifest": linked.n_images_linked,
            "not_linked": linked.n_images_unlinked,
            "not_linked_reasons": linked.image_reasons,
            "studies_with_several_frontal_images": int((frontal_per_study > 1).sum()),
        },
        "manifest": {
            "images": int(len(manifest_frame)),
            "studies": linked.n_studies,
            "patients": linked.n_patients,
            "patient_id_source": "study (IU has no patient ids)",
        },
        "splits": {
            s: {k: rep["splits"][s][k] for k in ("patients", "studies", "images", "patient_fraction", "positive")}
            for s in ("train", "validation", "test")
        },
        "overall_positive": rep["overall"]["positive"],
        "max_abs_deviation": rep["max_abs_deviation"],
        "patients_in_several_splits": rep["patients_in_several_splits"],
        "export": {"rows_per_split": exported.rows_per_split, "files": [Path(f).name for f in exported.files],
                   "policy": {"uncertainty": "ignore", "blank": "zeros"}, "masked_targets": exported.n_masked,
                   "targets": exported.n_targets},
        "seconds": timings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation" / "results")
    parser.add_argument("--workdir", type=Path, default=None, help="keep labels, manifest and exports here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(args.corpora, args.workdir, args.seed)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args.corpora, Path(tmp), args.seed)
    (args.out / "images_iu.json").write_text(json.dumps(result, indent=2) + "\n")
    r, i = result["reports"], result["images"]
    print(f"reports: {r['in_corpus']} in corpus, {r['labeled']} labeled, {r['linked_to_frontal_image']} linked to a "
          f"frontal image, {r['without_frontal_image']} without one")
    print(f"images: {i['in_mapping']} in projections.csv ({i['by_projection']}), {i['in_manifest']} in the manifest, "
          f"{i['not_linked']} not linked {i['not_linked_reasons']}")
    for s, v in result["splits"].items():
        print(f"  {s:10s} patients={v['patients']:5d} studies={v['studies']:5d} images={v['images']:5d}")
    worst = max(result["max_abs_deviation"].values())
    print(f"largest prevalence deviation of a split from overall: {worst:.4f}; "
          f"patients in several splits: {result['patients_in_several_splits']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
