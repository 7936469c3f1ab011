"""Batch runs: chunking, committed parts, resume (in-process interruptions), partitioned output, workers."""

import csv
import json
import os

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labeler.batch as batch
from labeler import Report
from labeler._parallel import WorkerContext, label_chunk
from labeler.batch import LabelerSpec, label_corpus, parts_dir
from labeler.errors import ConfigError
from labeler.ingest import IngestOptions
from labeler.records import Provenance, ReportResult
from scale_helpers import OPTS, Interrupt, errors_of, make_archive, provenance_without_time, sample_texts, stop_after


@pytest.fixture()
def archive(tmp_path, sample_csv):
    return make_archive(tmp_path / "archive.csv", sample_texts(sample_csv), 150)


def run(archive, out, lab, **kw):
    kw.setdefault("ingest", OPTS)
    kw.setdefault("chunk_size", 16)
    return label_corpus(archive, out, lab, **kw)


@pytest.fixture()
def reference(tmp_path, archive, rule_labeler):
    """The uninterrupted run's outputs, per format."""
    cache = {}

    def get(fmt):
        if fmt not in cache:
            out = tmp_path / "ref" / f"labels.{fmt}"
            run(archive, out, rule_labeler)
            cache[fmt] = (out.read_bytes(), errors_of(out))
        return cache[fmt]

    return get


def test_batch_counts_and_errors_account_for_every_row(tmp_path, archive, rule_labeler):
    out = tmp_path / "labels.csv"
    summary = run(archive, out, rule_labeler)
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))[1:]
    errors = [json.loads(line) for line in errors_of(out).splitlines()]
    assert len(rows) + len(errors) == 150 == summary.n_rows
    assert sorted([int(r[0].split(".")[-1]) + 1 for r in rows] + [e["row"] for e in errors]) == list(range(1, 151))
    assert summary.error_reasons == {"duplicate_id": 7, "empty_text": 7, "malformed_row": 6, "nul_byte": 7,
                                     "too_long": 6, "undecodable": 7}
    assert (summary.n_labeled, summary.n_errors, summary.n_chunks) == (len(rows), len(errors), 10)
    assert not parts_dir(out).exists()
    meta = json.loads(out.with_name("labels.csv.meta.json").read_text())
    assert meta["counts"]["errors"] == len(errors) and meta["run"]["chunks"] == 10
    assert "Effusion" not in errors_of(out).decode()  # ids and rows only, never text


def test_batch_logs_and_errors_carry_no_report_text(tmp_path, archive, rule_labeler, sample_csv, caplog):
    caplog.set_level("DEBUG")
    out = tmp_path / "labels.jsonl"
    run(archive, out, rule_labeler)
    written = caplog.text + errors_of(out).decode() + out.with_name("labels.jsonl.meta.json").read_text()
    fragments = {t[:24] for t in sample_texts(sample_csv)} | {"Effusion. Effusion.", "latin-1", "duplicate id"}
    assert [f for f in fragments if f in written] == []


def test_batch_progress_reaches_the_input_size_and_the_labeled_count(tmp_path, archive, rule_labeler):
    calls = []
    summary = run(archive, tmp_path / "labels.csv", rule_labeler, on_progress=lambda b, n: calls.append((b, n)))
    assert len(calls) == 1 + summary.n_chunks  # once before labeling, then per committed chunk
    assert calls[-1] == (archive.stat().st_size, summary.n_labeled)
    assert [b for b, _ in calls] == sorted(b for b, _ in calls)


def test_batch_output_does_not_depend_on_chunk_size(tmp_path, archive, rule_labeler, reference):
    out = tmp_path / "one_chunk.csv"
    run(archive, out, rule_labeler, chunk_size=10_000)
    assert (out.read_bytes(), errors_of(out)) == reference("csv")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_batch_resume_after_an_interruption_is_identical(tmp_path, archive, rule_labeler, reference, fmt):
    out = tmp_path / f"labels.{fmt}"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(4))
    assert not out.exists()
    manifest = (parts_dir(out) / "_manifest.jsonl").read_text().splitlines()
    assert len(manifest) == 1 + 4
    summary = run(archive, out, rule_labeler, resume=True)
    if fmt == "parquet":  # the provenance in the file metadata has its own run's start time
        reference(fmt)
        ref = tmp_path / "ref" / "labels.parquet"
        assert pq.read_table(out).equals(pq.read_table(ref))
        assert provenance_without_time(out) == provenance_without_time(ref)
        assert errors_of(out) == reference(fmt)[1]
    else:
        assert (out.read_bytes(), errors_of(out)) == reference(fmt)
    assert (summary.n_resumed_chunks, summary.n_chunks) == (4, 10)
    assert summary.n_rows == 150
    assert not parts_dir(out).exists()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_size=st.integers(1, 60), kills=st.lists(st.integers(0, 12), min_size=1, max_size=3))
def test_batch_any_interruptions_then_resume_equal_an_uninterrupted_run(tmp_path_factory, sample_csv, rule_labeler,
                                                                         chunk_size, kills):
    tmp = tmp_path_factory.mktemp("prop")
    archive = make_archive(tmp / "a.csv", sample_texts(sample_csv), 60, seed=chunk_size)
    ref = tmp / "ref.csv"
    run(archive, ref, rule_labeler, chunk_size=chunk_size)
    out = tmp / "out.csv"
    for n in kills:
        try:
            run(archive, out, rule_labeler, chunk_size=chunk_size, resume=True, on_progress=stop_after(n))
        except Interrupt:
            continue
    run(archive, out, rule_labeler, chunk_size=chunk_size, resume=True)
    assert out.read_bytes() == ref.read_bytes()
    assert errors_of(out) == errors_of(ref)


def test_batch_resume_drops_a_torn_manifest_line(tmp_path, archive, rule_labeler, reference):
    out = tmp_path / "labels.csv"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(3))
    with open(parts_dir(out) / "_manifest.jsonl", "ab") as fh:
        fh.write(b'{"chunk": 3, "part": "part-0000')  # killed in the middle of a write
    run(archive, out, rule_labeler, resume=True)
    assert (out.read_bytes(), errors_of(out)) == reference("csv")


def test_batch_resume_relabels_a_damaged_part(tmp_path, archive, rule_labeler, reference, caplog):
    out = tmp_path / "labels.csv"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(3))
    part = parts_dir(out) / "part-000001.csv"
    part.write_bytes(part.read_bytes()[:-10])
    summary = run(archive, out, rule_labeler, resume=True)
    assert (out.read_bytes(), errors_of(out)) == reference("csv")
    assert summary.n_resumed_chunks == 2
    assert "chunk 1 of the interrupted run is missing or damaged" in caplog.text


def test_batch_resume_with_other_settings_is_refused(tmp_path, archive, rule_labeler):
    out = tmp_path / "labels.csv"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(2))
    with pytest.raises(ConfigError, match=r"ingest\.max_chars") as exc:
        run(archive, out, rule_labeler, resume=True, ingest=IngestOptions(max_chars=400))
    assert exc.value.code == "resume_mismatch"
    with pytest.raises(ConfigError, match=r"chunk_size"):
        run(archive, out, rule_labeler, resume=True, chunk_size=17)
    with pytest.raises(ConfigError, match=r"labeler\.params\.label_sections"):
        run(archive, out, LabelerSpec("rules", {"label_sections": ["impression"]}), resume=True)


def test_batch_resume_with_a_changed_input_is_refused(tmp_path, archive, rule_labeler):
    out = tmp_path / "labels.csv"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(2))
    with archive.open("ab") as fh:
        fh.write(b"9.9.9,Another report.\n")
    with pytest.raises(ConfigError, match=r"input\.bytes"):
        run(archive, out, rule_labeler, resume=True)


def test_batch_resume_checks_each_committed_chunk_against_the_input(tmp_path, archive, rule_labeler, monkeypatch):
    out = tmp_path / "labels.csv"
    blind = {"files": 1, "bytes": 0, "sha256": "-"}  # a change this fingerprint cannot see
    monkeypatch.setattr(batch, "_input_fingerprint", lambda path, fmt: blind)
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(3))
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"1.2.0.20,", b"1.2.0.2X,", 1))  # chunk 1, same size
    with pytest.raises(ConfigError, match=r"chunk 1 of the input .* differs"):
        run(archive, out, rule_labeler, resume=True)


def test_batch_leftover_parts_need_resume_or_overwrite(tmp_path, archive, rule_labeler, reference):
    out = tmp_path / "labels.csv"
    with pytest.raises(Interrupt):
        run(archive, out, rule_labeler, on_progress=stop_after(2))
    with pytest.raises(ConfigError, match="--resume"):
        run(archive, out, rule_labeler)
    with pytest.raises(ConfigError, match="contradict"):
        run(archive, out, rule_labeler, resume=True, overwrite=True)
    summary = run(archive, out, rule_labeler, overwrite=True)
    assert summary.n_resumed_chunks == 0
    assert (out.read_bytes(), errors_of(out)) == reference("csv")


def test_batch_resume_of_a_finished_run_does_nothing(tmp_path, archive, rule_labeler):
    out = tmp_path / "labels.csv"
    first = run(archive, out, rule_labeler)
    stamp = out.stat().st_mtime_ns
    again = run(archive, out, rule_labeler, resume=True)
    assert again.already_complete
    assert out.stat().st_mtime_ns == stamp
    assert (again.n_labeled, again.n_errors, again.label_counts) == (first.n_labeled, first.n_errors, first.label_counts)
    with pytest.raises(ConfigError, match="output exists"):
        run(archive, out, rule_labeler, resume=True, chunk_size=32)  # a finished run of another job


def test_batch_resume_with_nothing_to_resume_starts_a_run(tmp_path, archive, rule_labeler, reference):
    out = tmp_path / "labels.csv"
    summary = run(archive, out, rule_labeler, resume=True)
    assert summary.n_resumed_chunks == 0
    assert (out.read_bytes(), errors_of(out)) == reference("csv")


def test_batch_partitioned_parquet_output_reads_as_the_single_file(tmp_path, archive, rule_labeler):
    single = tmp_path / "labels.parquet"
    run(archive, single, rule_labeler)
    folder = tmp_path / "labels"
    with pytest.raises(ConfigError, match="--format"):
        run(archive, str(folder) + "/", rule_labeler)
    summary = run(archive, str(folder) + "/", rule_labeler, output_format="parquet")
    assert sorted(p.name for p in folder.glob("part-*.parquet")) == [f"part-{k:06d}.parquet" for k in range(10)]
    assert pq.read_table(folder).equals(pq.read_table(single))
    assert summary.errors_file == str(tmp_path / "labels.errors.jsonl")
    meta = json.loads((tmp_path / "labels.meta.json").read_text())
    assert meta["output"]["parts"][0] == "part-000000.parquet"
    assert run(archive, str(folder) + "/", rule_labeler, output_format="parquet", resume=True).already_complete


def test_batch_partitioned_output_refuses_a_folder_with_other_files(tmp_path, archive, rule_labeler):
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="other files"):
        run(archive, folder, rule_labeler, output_format="csv", overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"


def test_batch_empty_input_writes_the_header(tmp_path, rule_labeler):
    src = tmp_path / "empty.csv"
    src.write_bytes(b"")
    out = tmp_path / "labels.csv"
    summary = run(src, out, rule_labeler)
    assert out.read_text().splitlines()[0].startswith("study_uid,No Finding,")
    assert len(out.read_text().splitlines()) == 1
    assert (summary.n_rows, summary.n_skipped, summary.error_reasons) == (0, 1, {"empty_file": 1})


def test_batch_workers_give_the_inline_result_with_lambda_extra_columns(tmp_path, archive, rule_labeler):
    extra = [("n_evidence", lambda res, obs: float(sum(len(lab.evidence) for lab in res.labels if lab.observation == obs)))]
    inline = tmp_path / "inline.csv"
    run(archive, inline, rule_labeler, extra_columns=extra)
    pooled = tmp_path / "pooled.csv"
    summary = run(archive, pooled, LabelerSpec("rules"), extra_columns=extra, workers=2)
    assert summary.workers == 2
    assert pooled.read_bytes() == inline.read_bytes()
    assert errors_of(pooled) == errors_of(inline)
    assert "Pleural Effusion__n_evidence" in inline.read_text().splitlines()[0]


# ---- one chunk, failure isolation ----------------------------------------------------------


class Flaky:
    """Fails on a whole chunk that holds a report with BOOM, and on that report alone."""

    name, version, observations = "flaky", "1", ("x",)

    def info(self):
        return None

    def label(self, reports):
        reports = list(reports)
        if any("BOOM" in r.text for r in reports):
            raise RuntimeError("boom")
        prov = Provenance("0", "flaky", "1", "", "", "", "")
        return iter([ReportResult(r.study_uid, prov, rows=r.rows) for r in reports])


def test_label_chunk_isolates_a_report_that_breaks_the_labeler(caplog):
    ctx = WorkerContext("csv", ("x",), ("X",))
    items = [Report("a", "fine", "in.csv", (1,)), Report("b", "BOOM text", "in.csv", (2,)), Report("c", "ok", "in.csv", (3,))]
    out = label_chunk(Flaky(), ctx, items)
    assert out.part.decode().splitlines() == ["study_uid,X", "a,", "c,"]
    assert [json.loads(line)["row"] for line in out.errors.decode().splitlines()] == [2]
    assert (out.n_labeled, out.n_errors, out.reasons) == (2, 1, {"labeling_failed": 1})
    assert "study_uid=b" in caplog.text and "BOOM" not in caplog.text


def test_label_corpus_rejects_bad_engine_options(tmp_path, archive, rule_labeler):
    with pytest.raises(ConfigError, match="--engine dask"):
        run(archive, tmp_path / "o.csv", rule_labeler, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="unknown engine"):
        run(archive, tmp_path / "o.csv", rule_labeler, engine="spark")
    assert not os.path.exists(tmp_path / "o.csv")
