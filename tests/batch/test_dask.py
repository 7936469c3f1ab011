"""The Dask engine gives the local engine's output: on a LocalCluster and on a real scheduler + worker pair."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labeler.batch import LabelerSpec, label_corpus, parts_dir

from scale_helpers import OPTS, Interrupt, errors_of, make_archive, sample_texts, stop_after

distributed = pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def archive(tmp_path, sample_csv):
    return make_archive(tmp_path / "archive.csv", sample_texts(sample_csv), 120, seed=4)


@pytest.fixture()
def local_result(tmp_path, archive, rule_labeler):
    out = tmp_path / "local" / "labels.csv"
    label_corpus(archive, out, rule_labeler, ingest=OPTS, chunk_size=16)
    return out.read_bytes(), errors_of(out)


def test_dask_local_cluster_equals_the_local_engine(tmp_path, archive, local_result):
    out = tmp_path / "dask" / "labels.csv"
    summary = label_corpus(archive, out, LabelerSpec("rules"), ingest=OPTS, chunk_size=16, engine="dask", workers=1)
    assert (out.read_bytes(), errors_of(out)) == local_result
    assert (summary.engine, summary.n_chunks) == ("dask", 8)


@pytest.fixture()
def dask_cluster(tmp_path):
    """``dask scheduler`` and ``dask worker`` processes on loopback, on free ports; always torn down."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "dask"]
    procs = []
    log = (tmp_path / "dask.log").open("wb")
    try:
        procs.append(subprocess.Popen([*cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                      env=env, stdout=log, stderr=log, start_new_session=True))
        procs.append(subprocess.Popen([*cli, "worker", address, "--nthreads", "1", "--nworkers", "1", "--host",
                                       "127.0.0.1", "--no-dashboard", "--death-timeout", "60"],
                                      env=env, stdout=log, stderr=log, start_new_session=True))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        log.close()


def test_dask_scheduler_and_worker_equal_the_local_engine_and_resume_a_local_run(
        tmp_path, archive, local_result, dask_cluster, rule_labeler):
    out = tmp_path / "cluster" / "labels.csv"
    summary = label_corpus(archive, out, LabelerSpec("rules"), ingest=OPTS, chunk_size=16, engine="dask",
                           scheduler=dask_cluster)
    assert (out.read_bytes(), errors_of(out)) == local_result
    assert summary.n_labeled + summary.n_errors == 120
    # a run interrupted on the local engine continues on the cluster
    again = tmp_path / "switch" / "labels.csv"
    with pytest.raises(Interrupt):
        label_corpus(archive, again, rule_labeler, ingest=OPTS, chunk_size=16, on_progress=stop_after(3))
    assert parts_dir(again).is_dir()
    resumed = label_corpus(archive, again, LabelerSpec("rules"), ingest=OPTS, chunk_size=16, engine="dask",
                           scheduler=dask_cluster, resume=True)
    assert (again.read_bytes(), errors_of(again)) == local_result
    assert resumed.n_resumed_chunks == 3


def test_dask_unreachable_scheduler_is_a_clear_config_error(tmp_path, archive):
    import dask

    from labeler.errors import ConfigError

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        label_corpus(archive, tmp_path / "o.csv", LabelerSpec("rules"), ingest=OPTS, engine="dask",
                     scheduler=f"tcp://127.0.0.1:{free_port()}")
