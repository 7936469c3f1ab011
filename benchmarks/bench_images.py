"""Speed of the image pipeline: DICOM header indexing, linking and patient-level splitting.

    python benchmarks/bench_images.py                   # 2,000 files, n_jobs 1 and 2
    python benchmarks/bench_images.py --files 20000 --jobs 1 2 4 8 --rows 500000

Writes synthetic DICOM files (pydicom, 64x64 pixels) into a temporary folder, indexes them with
each ``--jobs`` value, then links and splits a synthetic manifest of ``--rows`` images. Prints
files/s and seconds; figures depend on the disk cache (the first pass reads from disk, later ones
mostly from memory) and on how busy the machine is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def write_tree(root: Path, n_files: int) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = np.zeros((64, 64), dtype=np.uint16).tobytes()
    for i in range(n_files):
        patient, study = i // 20, i // 4
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["sop", str(i)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.PatientID = f"P{patient:06d}"
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["study", str(study)])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["series", str(study)])
        ds.AccessionNumber, ds.Modality, ds.ViewPosition = f"A{study}", "DX", "PA" if i % 2 else "LL"
        ds.Rows = ds.Columns = 64
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 0
        ds.PixelData = pixels
        path = root / f"P{patient:06d}" / f"S{study}" / f"IM{i:07d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rows", type=int, default=200_000, help="images in the synthetic manifest to split")
    args = parser.parse_args()

    from labeler.dicom_index import index_dicom
    from labeler.manifest import Manifest, write_manifest
    from labeler.splits import split_manifest

    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        start = time.perf_counter()
        write_tree(tree, args.files)
        print(f"wrote {args.files} DICOM files in {time.perf_counter() - start:.1f} s")
        for jobs in args.jobs:
            s = index_dicom(tree, Path(tmp) / f"index{jobs}.parquet", n_jobs=jobs, overwrite=True)
            print(f"index-dicom n_jobs={jobs}: {s.n_indexed} files in {s.seconds:.2f} s "
                  f"({s.files_per_second:.0f} files/s)")

        rng = np.random.default_rng(0)
        n = args.rows
        patients = rng.integers(0, n // 6, size=n)
        studies = patients * 4 + rng.integers(0, 4, size=n)
        obs = ["Cardiomegaly", "Edema", "Pneumothorax", "Fracture", "Support Devices"]
        frame = pd.DataFrame({"path": [f"img{i}.dcm" for i in range(n)], "report_id": studies.astype(str),
                              "study_uid": studies.astype(str), "patient_id": patients.astype(str)})
        for o, p in zip(obs, (0.2, 0.1, 0.03, 0.02, 0.3), strict=True):
            per_study = rng.random(studies.max() + 1) < p
            frame[o] = per_study[studies].astype(int)
        manifest = Path(tmp) / "manifest.parquet"
        write_manifest(Manifest(frame, obs, {}), manifest)
        start = time.perf_counter()
        summary = split_manifest(manifest, Path(tmp) / "split.parquet", overwrite=True)
        print(f"split {n} images / {summary.report['overall']['patients']} patients in "
              f"{time.perf_counter() - start:.2f} s; largest prevalence deviation "
              f"{max(summary.report['max_abs_deviation'].values()):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
