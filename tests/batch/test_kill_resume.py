"""``kill -9`` a real ``labeler label --workers 2`` run mid-way, resume it, compare row for row."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from labeler.batch import label_corpus, parts_dir
from scale_helpers import OPTS, errors_of, make_archive, sample_texts

ROOT = Path(__file__).resolve().parents[2]
N_REPORTS = 1200
CHUNK = 20


def committed_chunks(out: Path) -> int:
    manifest = parts_dir(out) / "_manifest.jsonl"
    if not manifest.exists():
        return 0
    return sum(1 for line in manifest.read_bytes().split(b"\n") if line.startswith(b'{"chunk"'))


@pytest.fixture()
def archive(tmp_path, sample_csv):
    return make_archive(tmp_path / "archive.csv", sample_texts(sample_csv), N_REPORTS, seed=9)


def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_output(tmp_path, archive, rule_labeler):
    out = tmp_path / "labels.csv"
    cmd = [sys.executable, "-m", "labeler", "label", str(archive), "-o", str(out), "--max-chars", str(OPTS.max_chars),
           "--chunk-size", str(CHUNK), "--workers", "2", "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while committed_chunks(out) < 3:  # some parts committed, most of the run still to do
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run committed nothing in time"
            time.sleep(0.05)
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    n_before = committed_chunks(out)
    assert 3 <= n_before < N_REPORTS // CHUNK
    assert not out.exists()
    gone, alive = psutil.wait_procs(workers, timeout=15)  # worker processes notice and exit
    assert alive == []

    summary = label_corpus(archive, out, rule_labeler, ingest=OPTS, chunk_size=CHUNK, resume=True)
    reference = tmp_path / "reference.csv"
    label_corpus(archive, reference, rule_labeler, ingest=OPTS, chunk_size=CHUNK)

    assert summary.n_resumed_chunks >= n_before
    assert out.read_bytes() == reference.read_bytes()
    assert errors_of(out) == errors_of(reference)
    out_rows = out.read_bytes().count(b"\n") - 1
    err_rows = errors_of(out).count(b"\n")
    assert out_rows + err_rows == N_REPORTS
    assert not parts_dir(out).exists()
