"""Image pipeline commands: ``index-dicom``, ``link``, ``split``, ``export-manifest``.

The flow: ``labeler label`` (labels keyed by study) -> ``labeler index-dicom`` (a DICOM tree ->
index) -> ``labeler link`` (labels + index or mapping -> manifest, one row per image) ->
``labeler split`` (patient-level stratified splits) -> ``labeler export-manifest`` (CheXpert CSV,
MONAI datalist, Parquet with an uncertainty policy applied).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError, ExitCode
from . import app, command_line, err_console, print_error_reasons, setup_logging, split_list

__all__ = ["index_dicom_command", "link_command", "split_command", "export_manifest_command"]


def _csv_list(values: Optional[list[str]]) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out += split_list(v) or []
    return out


@app.command("index-dicom")
def index_dicom_command(
    root: Annotated[Path, typer.Argument(help="Folder of DICOM files (walked recursively; any file name).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Index file (.parquet).")],
    n_jobs: Annotated[int, typer.Option("--n-jobs", "-j", help="Worker processes reading headers (-1: one per CPU).")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (skip files already indexed in OUTPUT.parts/).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing index.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Also read DICOM files without the Part-10 preamble.")] = False,
    pattern: Annotated[Optional[list[str]], typer.Option("--pattern", help="Only file names matching this glob (repeatable), e.g. '*.dcm'.")] = None,
    part_size: Annotated[int, typer.Option(help="Files per committed part (what an interruption can lose).")] = 2000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Index the DICOM headers under ROOT (pixels are never read): one row per file.

    Records path (relative to ROOT), StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID,
    AccessionNumber, PatientID, Modality, ViewPosition, BodyPartExamined, StudyDate ... Files that
    are not DICOM, damaged, truncated or without a study UID go to OUTPUT.errors.jsonl with a
    reason. Exit code 3 when some files went there.
    """
    from ..dicom_index import index_dicom

    setup_logging(log_level)
    kwargs = {"n_jobs": n_jobs, "part_size": part_size, "resume": resume, "overwrite": overwrite, "force": force,
              "patterns": tuple(pattern or ()), "command": command_line()}
    if quiet:
        summary = index_dicom(root, output, **kwargs)  # type: ignore[arg-type]
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err_console(), transient=True) as progress:
            task = progress.add_task("index", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = index_dicom(root, output, on_progress=on_progress, **kwargs)  # type: ignore[arg-type]
        console = err_console()
        console.print(f"files: {summary.n_files} · indexed: {summary.n_indexed} · errors: {summary.n_errors}"
                      f" · resumed: {summary.n_resumed} · {summary.seconds:.1f} s"
                      f" ({summary.files_per_second:.0f} files/s)")
        console.print(f"studies: {summary.n_studies} · series: {summary.n_series} · patients: {summary.n_patients}"
                      f" · duplicate SOP UIDs: {summary.n_duplicate_sop_uids}")
        if summary.modalities:
            console.print("modalities: " + ", ".join(f"{k or '(none)'}: {v}" for k, v in summary.modalities.items()))
        print_error_reasons(console, summary.error_reasons, summary.errors_file)
        console.print(f"wrote {summary.output} and {summary.meta_file}")
    return ExitCode.PARTIAL if summary.n_errors else ExitCode.OK


@app.command("link")
def link_command(
    labels: Annotated[Path, typer.Argument(help="Labels file from labeler label (CSV/TSV/JSONL/Parquet).")],
    images: Annotated[Path, typer.Argument(help="Index from labeler index-dicom, or a mapping CSV with --on mapping.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest (.parquet or .csv), one row per image.")],
    on: Annotated[str, typer.Option(help="study (StudyInstanceUID) | accession (AccessionNumber) | mapping (a CSV key -> image file).")] = "study",
    labels_key: Annotated[str, typer.Option(help="Labels column holding the key.")] = "study_uid",
    view: Annotated[Optional[list[str]], typer.Option("--view", help="Keep only these views: frontal, lateral, other, unknown (repeatable or comma-separated).")] = None,
    modality: Annotated[Optional[list[str]], typer.Option("--modality", help="Keep only these DICOM modalities, e.g. CR,DX.")] = None,
    carry_column: Annotated[Optional[list[str]], typer.Option("--carry-column", help="Labels column to copy into the manifest (repeatable), e.g. a topic id.")] = None,
    mapping_key: Annotated[Optional[str], typer.Option(help="Mapping: key column (default: study_uid, uid, ...).")] = None,
    mapping_path: Annotated[Optional[str], typer.Option(help="Mapping: image file column (default: path, filename, ...).")] = None,
    mapping_view: Annotated[Optional[str], typer.Option(help="Mapping: view/projection column (default: projection, view, ...).")] = None,
    mapping_patient: Annotated[Optional[str], typer.Option(help="Mapping: patient id column (default: patient_id; none: each study is its own patient).")] = None,
    image_root: Annotated[Optional[str], typer.Option(help="Folder image paths are relative to (default: the index's root).")] = None,
    keep_duplicate_sops: Annotated[bool, typer.Option("--keep-duplicate-sops", help="Keep every path of a SOPInstanceUID found twice.")] = False,
    hash_patient_ids: Annotated[bool, typer.Option("--hash-patient-ids", help="Store HMAC-SHA256 hashes of patient ids (needs --salt or $LABELER_PATIENT_ID_SALT).")] = False,
    salt: Annotated[Optional[str], typer.Option(help="Secret salt for --hash-patient-ids (prefer the environment variable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> int:
    """Join LABELS to IMAGES and write a manifest: one row per image with its report's labels.

    Reports without images and images without a report are counted and listed in
    OUTPUT.unlinked_reports.csv and OUTPUT.unlinked_images.csv. Labels files carrying report text
    or name columns are refused.
    """
    from ..link import link

    summary = link(labels, images, output, on=on, labels_key=labels_key, carry=tuple(carry_column or ()),
                   views=_csv_list(view) or None, modalities=_csv_list(modality) or None, mapping_key=mapping_key,
                   mapping_path=mapping_path, mapping_view=mapping_view, mapping_patient=mapping_patient,
                   image_root=image_root, keep_duplicate_sops=keep_duplicate_sops,
                   hash_patient_ids=hash_patient_ids, salt=salt, overwrite=overwrite, command=command_line())
    if not quiet:
        console = err_console()
        console.print(f"reports: {summary.n_reports} · linked: {summary.n_reports_linked} · without images: "
                      f"{summary.n_reports_unlinked}"
                      + (f" ({', '.join(f'{k}: {v}' for k, v in summary.report_reasons.items())})"
                         if summary.report_reasons else ""))
        console.print(f"images: {summary.n_images} · linked: {summary.n_images_linked} · not linked: "
                      f"{summary.n_images_unlinked}"
                      + (f" ({', '.join(f'{k}: {v}' for k, v in summary.image_reasons.items())})"
                         if summary.image_reasons else ""))
        console.print(f"manifest: {summary.n_images_linked} images, {summary.n_studies} studies, "
                      f"{summary.n_patients} patients · views: "
                      + ", ".join(f"{k}: {v}" for k, v in summary.views.items()))
        for f in (summary.unlinked_reports_file, summary.unlinked_images_file):
            if f:
                console.print(f"listed in {f}")
        console.print(f"wrote {summary.output} and {summary.meta_file}")
    return ExitCode.OK


@app.command("split")
def split_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest from labeler link.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest with a split column (.parquet or .csv).")],
    ratios: Annotated[str, typer.Option(help="train:validation:test proportions of patients.")] = "80:10:10",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed + same manifest = same split).")] = 0,
    patient_column: Annotated[str, typer.Option(help="Column identifying patients (no patient is in two splits).")] = "patient_id",
    stratify_on: Annotated[Optional[list[str]], typer.Option("--stratify-on", help="Extra column to stratify on (repeatable), e.g. a topic id carried by labeler link.")] = None,
    missing_patient: Annotated[str, typer.Option(help="Rows without patient id: error | study (each study its own patient).")] = "error",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> int:
    """Split MANIFEST into train / validation / test by patient, stratified on the labels.

    Iterative stratification (Sechidis et al. 2011) over patients: label prevalence stays close
    in every split, and no patient is in two splits. Writes OUTPUT and OUTPUT.split_report.json
    (patients, studies, images and label prevalence per split).
    """
    from ..splits import split_manifest

    summary = split_manifest(manifest, output, ratios=ratios, random_state=seed, patient_column=patient_column,
                             stratify_on=tuple(stratify_on or ()), missing_patient=missing_patient,
                             overwrite=overwrite, command=command_line())
    if not quiet:
        from rich.table import Table

        rep = summary.report
        table = Table(title="Split (positive prevalence per study)", title_justify="left")
        table.add_column("")
        for s in ("train", "validation", "test"):
            table.add_column(s, justify="right")
        table.add_column("overall", justify="right")
        for k in ("patients", "studies", "images"):
            table.add_row(k, *(str(rep["splits"][s][k]) for s in ("train", "validation", "test")),
                          str(rep["overall"][k]))
        for obs, overall in rep["overall"]["positive"].items():
            cells = [rep["splits"][s]["positive"][obs] for s in ("train", "validation", "test")]
            table.add_row(obs, *("-" if c is None else f"{c:.3f}" for c in cells), f"{overall:.3f}")
        console = err_console()
        console.print(table)
        console.print(f"patients in several splits: {rep['patients_in_several_splits']} · "
                      f"wrote {summary.output}, {summary.report_file}")
    return ExitCode.OK


def _per_observation(values: Optional[list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or ():
        if "=" not in item:
            raise ConfigError(f"--uncertainty-for takes OBSERVATION=POLICY, got {item!r}")
        name, policy = item.rsplit("=", 1)
        out[name.strip()] = policy.strip()
    return out


@app.command("export-manifest")
def export_manifest_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest from labeler link or labeler split.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    format: Annotated[Optional[list[str]], typer.Option("--format", "-f", help="chexpert | monai | parquet (repeatable or comma-separated; default all).")] = None,
    uncertainty: Annotated[str, typer.Option(help="Uncertain (-1) labels: ignore (U-Ignore, masked) | zeros | ones | soft (from <Obs>__conf).")] = "ignore",
    uncertainty_for: Annotated[Optional[list[str]], typer.Option("--uncertainty-for", help="Per-observation policy, e.g. 'Atelectasis=ones' (repeatable).")] = None,
    blank: Annotated[str, typer.Option(help="Blank (not mentioned) labels: zeros (negative) | ignore (masked).")] = "zeros",
    soft_uncertain: Annotated[str, typer.Option(help="soft policy: target of an uncertain label (0..1), or 'ignore' to mask it.")] = "0.5",
    image_root: Annotated[Optional[str], typer.Option(help="Prefix for relative image paths (default: the manifest's image root).")] = None,
    relative_paths: Annotated[bool, typer.Option("--relative-paths", help="Write image paths relative to the image root.")] = False,
    hash_patient_ids: Annotated[bool, typer.Option("--hash-patient-ids", help="Replace patient ids by HMAC-SHA256 hashes (needs --salt or $LABELER_PATIENT_ID_SALT).")] = False,
    salt: Annotated[Optional[str], typer.Option(help="Secret salt for --hash-patient-ids.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> int:
    """Write MANIFEST as training files per split, with an uncertainty policy applied.

    chexpert: OUTPUT/<split>.csv (Path + observations); monai: OUTPUT/datalist.json;
    parquet: OUTPUT/<split>.parquet (image, label, mask ...), loadable with
    datasets.load_dataset("parquet", data_files=...). OUTPUT/export.meta.json records the label
    order and policies.
    """
    from ..manifest import export_manifest

    soft: float | None
    if soft_uncertain.strip().lower() in ("ignore", "none", "mask"):
        soft = None
    else:
        try:
            soft = float(soft_uncertain)
        except ValueError:
            raise ConfigError(f"--soft-uncertain takes a number in [0, 1] or 'ignore', got {soft_uncertain!r}") from None
    summary = export_manifest(manifest, output, formats=_csv_list(format) or ("chexpert", "monai", "parquet"),
                              uncertainty=uncertainty, blank=blank, soft_uncertain=soft,
                              per_observation=_per_observation(uncertainty_for), image_root=image_root,
                              relative_paths=relative_paths, hash_patient_ids=hash_patient_ids, salt=salt,
                              overwrite=overwrite, command=command_line())
    if not quiet:
        console = err_console()
        console.print("rows: " + ", ".join(f"{k}: {v}" for k, v in summary.rows_per_split.items())
                      + f" · masked targets: {summary.n_masked} of {summary.n_targets}")
        console.print("wrote " + ", ".join(summary.files) + f" and {summary.meta_file}")
    return ExitCode.OK
