"""labeler.dicom_index: headers-only DICOM indexing, errors with reasons, parallel, resumable."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pydicom = pytest.importorskip("pydicom")

from labeler.dicom_index import INDEX_COLUMNS, index_dicom, read_dicom_header, read_index  # noqa: E402
from labeler.errors import ConfigError, DataError  # noqa: E402


def bundled_test_files():
    """pydicom's bundled test files (those ``get_testdata_files("*.dcm")`` finds locally).

    ``get_testdata_files`` also tries to download pydicom-data's extra files; the tests must not
    touch the network, so we glob the bundled folder it searches first.
    """
    from pydicom.data.data_manager import DATA_ROOT

    return sorted(Path(DATA_ROOT, "test_files").glob("*.dcm"))


def read_errors(out):
    path = out.with_name(out.name + ".errors.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dicom_index_generated_tree_rows_and_columns(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    summary = index_dicom(dicom_tree["root"], out)
    table = pq.read_table(out)
    assert table.column_names == list(INDEX_COLUMNS)
    rows = {r["path"]: r for r in table.to_pylist()}
    assert set(rows) == set(dicom_tree["images"])
    for rel, facts in dicom_tree["images"].items():
        row = rows[rel]
        assert (row["study_uid"], row["series_uid"], row["sop_uid"]) == (
            facts["study_uid"], facts["series_uid"], facts["sop_uid"])
        assert (row["patient_id"], row["modality"], row["view_position"]) == (
            facts["patient_id"], facts["modality"], facts["view_position"])
        assert row["accession"] == f"ACC{facts['study']:04d}"
        assert (row["body_part"], row["study_date"]) == ("CHEST", "20240102")
        assert row["transfer_syntax_uid"] == "1.2.840.10008.1.2.1"
    assert (summary.n_files, summary.n_indexed, summary.n_errors) == (10, 8, 2)
    assert (summary.n_studies, summary.n_series, summary.n_patients) == (6, 7, 4)
    assert summary.modalities == {"CR": 1, "CT": 1, "DX": 6}


def test_dicom_index_sorted_by_path(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    paths = pq.read_table(out).column("path").to_pylist()
    assert paths == sorted(paths)


def test_dicom_index_errors_file_has_reasons(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    summary = index_dicom(dicom_tree["root"], out)
    errors = read_errors(out)
    assert {e["path"]: e["reason"] for e in errors} == dicom_tree["bad"]
    assert all(set(e) == {"path", "reason", "detail"} for e in errors)
    assert summary.error_reasons == {"not_dicom": 1, "truncated": 1}


def test_dicom_index_meta_sidecar(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out, command="labeler index-dicom x")
    meta = json.loads((tmp_path / "index.parquet.meta.json").read_text())
    assert meta["root"] == str(dicom_tree["root"].resolve())
    assert meta["counts"]["n_indexed"] == 8
    assert meta["counts"]["error_reasons"] == {"not_dicom": 1, "truncated": 1}
    assert meta["command"] == "labeler index-dicom x"
    assert not (tmp_path / "index.parquet.parts").exists()


def test_dicom_index_never_reads_pixels(dicom_tree, tmp_path, monkeypatch):
    calls = []
    real = pydicom.dcmread

    def spy(*args, **kwargs):
        calls.append(kwargs.get("stop_before_pixels"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", spy)
    index_dicom(dicom_tree["root"], tmp_path / "index.parquet")
    assert len(calls) == 10  # every file once, the text file too
    assert set(calls) == {True}


def test_dicom_index_parallel_equals_serial(dicom_tree, tmp_path):
    one = tmp_path / "one.parquet"
    two = tmp_path / "two.parquet"
    index_dicom(dicom_tree["root"], one, n_jobs=1)
    index_dicom(dicom_tree["root"], two, n_jobs=2, part_size=3)
    assert pq.read_table(one).to_pylist() == pq.read_table(two).to_pylist()
    assert read_errors(one) == read_errors(two)


def test_dicom_index_resume_skips_committed_files(dicom_tree, tmp_path, monkeypatch):
    import labeler.dicom_index as di

    out = tmp_path / "index.parquet"
    seen = []
    real = di.read_dicom_header

    def counting(path, **kwargs):
        seen.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(di, "read_dicom_header", counting)

    def interrupt(done, total):
        if done >= 6:  # part 0 (4 files) is committed, part 1 is in flight with 2 files read
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_dicom(dicom_tree["root"], out, part_size=4, on_progress=interrupt)
    assert not out.exists()
    parts = tmp_path / "index.parquet.parts"
    assert sorted(p.name for p in parts.glob("part-*.parquet")) == ["part-000000.parquet"]
    first = list(seen)
    seen.clear()
    with pytest.raises(ConfigError, match="--resume"):
        index_dicom(dicom_tree["root"], out)
    summary = index_dicom(dicom_tree["root"], out, part_size=4, resume=True)
    assert len(first) == 6 and len(seen) == 10 - 4
    assert set(first) & set(seen) == set(first[4:])  # only the uncommitted part is read again
    assert summary.n_resumed == 4 and summary.n_indexed == 8 and summary.n_errors == 2
    assert not parts.exists()
    reference = tmp_path / "reference.parquet"
    index_dicom(dicom_tree["root"], reference)
    assert pq.read_table(out).to_pylist() == pq.read_table(reference).to_pylist()
    assert read_errors(out) == read_errors(reference)


def test_dicom_index_resume_refuses_other_options(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"

    def interrupt(done, total):
        if done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_dicom(dicom_tree["root"], out, part_size=2, on_progress=interrupt)
    with pytest.raises(ConfigError, match="other options"):
        index_dicom(dicom_tree["root"], out, part_size=2, resume=True, force=True)


def test_dicom_index_resume_of_a_complete_index_is_refused(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    with pytest.raises(ConfigError, match="nothing to resume"):
        index_dicom(dicom_tree["root"], out, resume=True)


def test_dicom_index_without_pydicom_says_how_to_install(dicom_tree, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now raises ImportError
    with pytest.raises(ConfigError, match=r"radlabeler\[images\]"):
        index_dicom(dicom_tree["root"], tmp_path / "i.parquet")


def test_dicom_index_refuses_to_overwrite(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    with pytest.raises(ConfigError, match="--overwrite"):
        index_dicom(dicom_tree["root"], out)
    assert index_dicom(dicom_tree["root"], out, overwrite=True).n_indexed == 8


def test_dicom_index_output_inside_tree_is_not_indexed(dicom_tree):
    out = dicom_tree["root"] / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    summary = index_dicom(dicom_tree["root"], out, overwrite=True)
    assert summary.n_files == 10
    assert all("index.parquet" not in e["path"] for e in read_errors(out))


def test_dicom_index_pattern_filters_file_names(dicom_tree, tmp_path):
    summary = index_dicom(dicom_tree["root"], tmp_path / "i.parquet", patterns=("*.dcm",))
    assert (summary.n_files, summary.n_indexed, summary.n_errors) == (8, 7, 1)  # IM0003 and notes.txt skipped


def test_dicom_index_missing_root_is_data_error(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        index_dicom(tmp_path / "nope", tmp_path / "i.parquet")


@pytest.mark.parametrize("cut", [100, 200, 400, -300, -41, -1])
def test_read_dicom_header_truncated_file_is_never_indexed(dicom_tree, tmp_path, cut):
    good = (dicom_tree["root"] / "P001/S1/SE1/IM0001.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(good[:cut])
    result = read_dicom_header(path)
    assert "error" in result
    assert result["error"]["reason"] in {"not_dicom", "truncated", "no_pixel_data", "missing_study_uid", "corrupt"}


@pytest.mark.parametrize("content, reason", [
    (b"", "empty_file"),
    (b"hello, this is text\n", "not_dicom"),
    (b"\x00" * 128 + b"DICM" + b"\xff" * 64, "missing_study_uid"),
])
def test_read_dicom_header_error_reasons(tmp_path, content, reason):
    path = tmp_path / "f.dcm"
    path.write_bytes(content)
    result = read_dicom_header(path)
    assert result["error"]["reason"] == reason


def test_read_dicom_header_errors_carry_no_header_values(dicom_tree, tmp_path):
    good = (dicom_tree["root"] / "P001/S1/SE1/IM0001.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(good[:-10])
    text = json.dumps(read_dicom_header(path))
    assert "P001" not in text and "Test^" not in text


def test_dicom_index_unreadable_file_is_listed(dicom_tree, tmp_path):
    (dicom_tree["root"] / "dangling.dcm").symlink_to(tmp_path / "gone.dcm")  # a file that vanished
    out = tmp_path / "index.parquet"
    summary = index_dicom(dicom_tree["root"], out)
    assert {e["path"]: e["reason"] for e in read_errors(out)}["dangling.dcm"] == "unreadable"
    assert summary.n_indexed == 8


def test_dicom_index_pydicom_bundled_files_never_crash(tmp_path):
    files = bundled_test_files()
    assert len(files) >= 50
    tree = tmp_path / "bundled"
    tree.mkdir()
    for f in files:
        (tree / f.name).symlink_to(f)
    out = tmp_path / "bundled.parquet"
    summary = index_dicom(tree, out, n_jobs=2)
    indexed = set(pq.read_table(out).column("path").to_pylist())
    errors = {e["path"]: e["reason"] for e in read_errors(out)}
    assert indexed | set(errors) == {f.name for f in files}
    assert not indexed & set(errors)
    assert summary.n_indexed == len(indexed) and summary.n_errors == len(errors)
    # pydicom's deliberately odd files get the reason they deserve
    assert errors["no_meta.dcm"] == "not_dicom"  # no Part-10 preamble
    assert errors["MR_truncated.dcm"] == "truncated"
    assert "CT_small.dcm" in indexed and "MR_small.dcm" in indexed
    assert "SC_rgb_jpeg.dcm" in indexed  # encapsulated, declares explicit VR but is implicit


def test_dicom_index_bundled_files_match_pydicom_values(tmp_path):
    files = {f.name: f for f in bundled_test_files()}
    result = read_dicom_header(files["CT_small.dcm"])
    ds = pydicom.dcmread(files["CT_small.dcm"], stop_before_pixels=True)
    row = result["row"]
    assert row["study_uid"] == ds.StudyInstanceUID
    assert row["sop_uid"] == ds.SOPInstanceUID
    assert row["patient_id"] == ds.PatientID
    assert row["modality"] == "CT"


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm"])
def test_dicom_index_force_reads_files_without_preamble(name):
    files = {f.name: f for f in bundled_test_files()}
    assert read_dicom_header(files[name])["error"]["reason"] == "not_dicom"
    forced = read_dicom_header(files[name], force=True)
    ds = pydicom.dcmread(files[name], force=True)
    assert (forced["row"]["study_uid"], forced["row"]["sop_uid"]) == (ds.StudyInstanceUID, ds.SOPInstanceUID)


def test_dicom_index_dicomdir_is_listed_not_indexed(tmp_path):
    from pydicom.data.data_manager import DATA_ROOT

    dicomdir = Path(DATA_ROOT, "test_files", "dicomdirtests", "DICOMDIR")
    assert read_dicom_header(dicomdir)["error"]["reason"] == "dicomdir"


def test_read_index_csv_round_trip(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    frame, meta = read_index(out)
    assert meta["root"] == str(dicom_tree["root"].resolve())
    csv_path = tmp_path / "index.csv"
    frame.to_csv(csv_path, index=False)
    again, _ = read_index(csv_path)
    assert again["path"].tolist() == frame["path"].tolist()
    assert again.loc[again["modality"] == "CT", "view_position"].tolist() == [None]


def test_dicom_index_unlistable_folder_is_listed(dicom_tree, tmp_path, monkeypatch):
    import os

    import labeler.dicom_index as di

    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):
        for item in real_walk(top, onerror=onerror, followlinks=followlinks):
            if item[0].endswith("P002"):
                onerror(PermissionError(13, "Permission denied", item[0]))
                item[1][:] = []
                continue
            yield item

    monkeypatch.setattr(di.os, "walk", walk)
    out = tmp_path / "index.parquet"
    summary = index_dicom(dicom_tree["root"], out)
    assert {e["path"]: e["reason"] for e in read_errors(out)}["P002/"] == "unreadable"
    assert summary.n_indexed == 6  # P002's two images could not be seen
    assert summary.error_reasons == {"not_dicom": 1, "truncated": 1, "unreadable": 1}
