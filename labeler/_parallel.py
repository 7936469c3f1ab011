"""Where batch chunks are labeled: in this process, in a local process pool, or on a Dask cluster.

Every executor takes chunks of ingest items (:class:`~labeler.records.Report` /
:class:`~labeler.records.RowError`) and hands back a :class:`ChunkOutput` per chunk — the
rendered part file, the error lines and the counts — in completion order. Report results never
cross a process boundary; only bytes and counts come back.

A labeler is never pickled with compiled state: a worker receives a small payload (a
:class:`LabelerSpec`, or a labeler whose ``__getstate__`` keeps only its constructor
parameters) and builds the labeler **once per worker process** (spaCy/medspaCy/torch objects are
built there, never sent).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .errors import ConfigError, ExitCode, LabelerError, ModelError, RuleError
from .export import ExtraColumn, render_results
from .labelers.base import Labeler, make_labeler
from .records import Provenance, Report, ReportResult, RowError
from .vocab import status_to_chexpert

__all__ = ["LabelerSpec", "ChunkOutput", "WorkerContext", "WorkerError", "label_chunk", "make_executor",
           "LABEL_VALUES"]

log = logging.getLogger(__name__)

#: the label values counted per output column, in this order
LABEL_VALUES = ("1", "0", "-1", "")


@dataclass(frozen=True)
class LabelerSpec:
    """A registered labeler name and its constructor parameters: how workers rebuild a labeler.

    Examples
    --------
    >>> spec = LabelerSpec("rules", {"label_sections": ["findings", "impression"]})
    >>> spec.build().name
    'rules'
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Labeler:
        """``make_labeler(name, **params)``."""
        return make_labeler(self.name, **self.params)


@dataclass(frozen=True)
class WorkerContext:
    """What a worker needs besides the labeler to render a chunk."""

    fmt: str
    observations: tuple[str, ...]
    names: tuple[str, ...]
    extra: tuple[ExtraColumn, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChunkOutput:
    """One labeled chunk: the part file's bytes, the errors part's bytes, and counts."""

    part: bytes
    errors: bytes
    n_rows: int
    n_labeled: int
    n_errors: int
    n_skipped: int
    reasons: dict[str, int]
    #: per output column, counts of :data:`LABEL_VALUES`
    label_counts: list[list[int]]


class WorkerError(LabelerError):
    """A worker process or the cluster failed; committed chunks are kept (rerun with ``--resume``)."""

    code = "worker_failed"
    exit_code = ExitCode.INTERNAL


# --------------------------------------------------------------------------------------------
# labeling one chunk (the same function in every executor)


def _failed(labeler: Labeler, report: Report, exc: BaseException) -> ReportResult:
    prov = Provenance(__version__, getattr(labeler, "name", "?"), getattr(labeler, "version", "?"), "", "", "", "")
    return ReportResult(report.study_uid, prov, rows=report.rows, errors=(f"labeling_failed: {type(exc).__name__}",))


def _label_all(labeler: Labeler, reports: list[Report]) -> list[ReportResult]:
    try:
        results = list(labeler.label(reports))
    except (ModelError, ConfigError, RuleError):
        raise  # the labeler cannot run at all (no model, bad option): a usage error, not 51 failed rows
    except Exception as exc:  # noqa: BLE001 - fall back to one report at a time
        log.warning("labeler %s failed on a chunk of %d reports (%s); labeling them one by one",
                    getattr(labeler, "name", "?"), len(reports), type(exc).__name__)
        results = []
        for report in reports:
            try:
                (res,) = list(labeler.label([report]))
            except Exception as exc1:  # noqa: BLE001 - one bad report must not stop an archive run
                log.warning("labeling failed for study_uid=%s: %s", report.study_uid, type(exc1).__name__)
                res = _failed(labeler, report, exc1)
            results.append(res)
    if len(results) != len(reports):
        raise RuntimeError(f"labeler {getattr(labeler, 'name', '?')} returned {len(results)} results "
                           f"for {len(reports)} reports")
    for report, res in zip(reports, results):
        if res.study_uid != report.study_uid:
            raise RuntimeError(f"labeler {getattr(labeler, 'name', '?')} returned results out of order")
    return results


def label_chunk(labeler: Labeler, ctx: WorkerContext, items: Sequence[Report | RowError]) -> ChunkOutput:
    """Label the reports of a chunk and render its part file and error lines (in item order)."""
    reports = [it for it in items if isinstance(it, Report)]
    results = iter(_label_all(labeler, reports))
    errors: list[RowError] = []
    ok: list[ReportResult] = []
    counts = [[0] * len(LABEL_VALUES) for _ in ctx.names]
    slot = {v: i for i, v in enumerate(LABEL_VALUES)}
    n_rows = 0
    for item in items:
        if isinstance(item, RowError):
            errors.append(item)
            n_rows += 1 if item.row else 0  # row 0: a note about a whole file
            continue
        res = next(results)
        n_rows += len(item.rows)
        if res.errors:
            detail = "; ".join(res.errors)
            errors.extend(RowError(row, "labeling_failed", detail, item.study_uid, item.source) for row in item.rows)
            continue
        ok.append(res)
        by_obs = {lab.observation: lab.status for lab in res.labels}
        for j, obs in enumerate(ctx.observations):
            st = by_obs.get(obs)
            v = status_to_chexpert(st) if st is not None else None
            counts[j][slot["" if v is None else str(v)]] += 1
    part = render_results(ok, ctx.fmt, ctx.observations, ctx.names, extra=ctx.extra, metadata=ctx.metadata)
    lines = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in errors)
    reasons = Counter(e.reason for e in errors)
    return ChunkOutput(
        part=part,
        errors=lines.encode("utf-8"),
        n_rows=n_rows,
        n_labeled=len(ok),
        n_errors=sum(1 for e in errors if e.fatal),
        n_skipped=sum(1 for e in errors if not e.fatal),
        reasons=dict(reasons),
        label_counts=counts,
    )


# --------------------------------------------------------------------------------------------
# payloads and per-process state


def dumps_payload(labeler: Labeler | LabelerSpec, ctx: WorkerContext) -> bytes:
    """Pickle what workers need (cloudpickle when extra columns are lambdas or closures)."""
    obj = (__version__, labeler, ctx)
    try:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        if len(payload) > 50 * 2**20:
            log.warning("the labeler pickles to %d MB and is sent to every worker; pass a LabelerSpec(name, params) "
                        "so that workers build it themselves", len(payload) >> 20)
        return payload
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        try:
            import cloudpickle
        except ImportError:
            raise ConfigError(f"the labeler or extra columns cannot be sent to worker processes ({exc}); "
                              "use --workers 1 or install cloudpickle") from None
        try:
            return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc2:  # noqa: BLE001 - any pickling failure is a configuration problem
            raise ConfigError(f"the labeler or extra columns cannot be sent to worker processes "
                              f"({type(exc2).__name__}: {exc2}); use --workers 1") from None


_STATE: dict[str, tuple[Labeler, WorkerContext]] = {}
_STATE_LOCK = threading.Lock()
_LABEL_LOCK = threading.Lock()


def _warm(labeler: Labeler) -> None:
    """Build compiled state now (first-chunk latency, and errors at start-up rather than mid-run)."""
    list(labeler.label([]))


def _load(key: str, payload: bytes) -> tuple[Labeler, WorkerContext]:
    with _STATE_LOCK:
        if key not in _STATE:
            version, obj, ctx = pickle.loads(payload)
            if version != __version__:
                raise RuntimeError(f"this worker has radlabeler {__version__}, the client {version}; "
                                   "install the same version everywhere")
            labeler = obj.build() if isinstance(obj, LabelerSpec) else obj
            _warm(labeler)
            while len(_STATE) >= 2:  # a long-lived Dask worker serving several runs
                _STATE.pop(next(iter(_STATE)))
            _STATE[key] = (labeler, ctx)
        return _STATE[key]


def payload_key(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# executors


class InlineExecutor:
    """Label chunks in this process, one at a time."""

    def __init__(self, labeler: Labeler, ctx: WorkerContext) -> None:
        self._labeler = labeler
        self._ctx = ctx
        self._done: list[tuple[int, ChunkOutput]] = []
        self.capacity = 1

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, k: int, items: list[Report | RowError]) -> None:
        self._done.append((k, label_chunk(self._labeler, self._ctx, items)))

    def collect(self, block: bool) -> list[tuple[int, ChunkOutput]]:
        done, self._done = self._done, []
        return done

    def close(self, cancel: bool = False) -> None:
        self._done = []


def _watch_parent(parent: int) -> None:
    """Exit when the process that started this worker is gone (``kill -9`` leaves no orphans)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_pool_worker(payload: bytes, threads: str) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, threads)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _load("pool", payload)


def _pool_label_chunk(items: list[Report | RowError]) -> ChunkOutput:
    labeler, ctx = _STATE["pool"]
    return label_chunk(labeler, ctx, items)


class PoolExecutor:
    """A local pool of ``n`` spawned worker processes, each with its own labeler."""

    def __init__(self, payload: bytes, n: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_init_pool_worker,
                                         initargs=(payload, "1"))
        self._pending: dict[Any, int] = {}
        self.capacity = 2 * n

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, k: int, items: list[Report | RowError]) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            self._pending[self._pool.submit(_pool_label_chunk, items)] = k
        except BrokenProcessPool:
            raise WorkerError("a worker process died (out of memory?); committed chunks are kept: "
                              "rerun the same command with --resume") from None

    def collect(self, block: bool) -> list[tuple[int, ChunkOutput]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if not self._pending:
            return []
        done, _ = wait(list(self._pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            k = self._pending.pop(fut)
            try:
                out.append((k, fut.result()))
            except BrokenProcessPool:
                raise WorkerError("a worker process died (out of memory, or it could not build the labeler); "
                                  "committed chunks are kept: rerun the same command with --resume") from None
        return out

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def dask_label_chunk(key: str, payload: bytes, items: list[Report | RowError]) -> ChunkOutput:
    """The Dask task: label a chunk with this worker's labeler (built on its first task)."""
    labeler, ctx = _load(key, payload)
    with _LABEL_LOCK:  # one model per worker process, shared by its threads
        return label_chunk(labeler, ctx, items)


class DaskExecutor:
    """Chunks as tasks on a Dask cluster (``scheduler``: address or scheduler file) or a new ``LocalCluster``.

    The client reads the input and commits the parts; workers only label (they need the labeler's
    files — ruleset or model folder — but not the input or output).
    """

    def __init__(self, payload: bytes, scheduler: str | None, n_workers: int, run_id: str) -> None:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ConfigError("--engine dask needs dask.distributed: pip install 'radlabeler[dask]'") from None
        self._cluster = None
        try:
            if scheduler in (None, "", "local"):
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
            elif os.path.isfile(scheduler):  # a scheduler file (dask scheduler --scheduler-file, SLURM jobs)
                self._client = Client(scheduler_file=scheduler)
            else:
                self._client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect (30 s)
        except (OSError, TimeoutError) as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}", code="no_scheduler") from None
        self._key = payload_key(payload)
        self._payload = self._client.scatter(payload, broadcast=True, hash=False)
        self._ac = as_completed()
        self._pending: dict[str, int] = {}
        self._run_id = f"{run_id}-{os.urandom(3).hex()}"  # a resumed run never reuses a killed client's keys
        self._capacity_at = 0.0
        self._capacity = 2

    @property
    def capacity(self) -> int:
        now = time.monotonic()
        if now - self._capacity_at > 5:  # workers may join or leave
            self._capacity = max(2, 2 * sum(self._client.nthreads().values()))
            self._capacity_at = now
        return self._capacity

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, k: int, items: list[Report | RowError]) -> None:
        fut = self._client.submit(dask_label_chunk, self._key, self._payload, items,
                                  key=f"radlabeler-{self._run_id}-{k:06d}", pure=False, retries=2)
        self._pending[fut.key] = k
        self._ac.add(fut)

    def collect(self, block: bool) -> list[tuple[int, ChunkOutput]]:
        if not self._pending:
            return []
        out = []
        for fut in self._ac.next_batch(block=block):
            k = self._pending.pop(fut.key)
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - surface any worker failure with a resume hint
                raise WorkerError(f"chunk {k} failed on the Dask cluster ({type(exc).__name__}: {exc}); "
                                  "committed chunks are kept: rerun with --resume") from None
            out.append((k, result))
            fut.release()
        return out

    def close(self, cancel: bool = False) -> None:
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def make_executor(engine: str, workers: int, labeler: Labeler, spec: Labeler | LabelerSpec, ctx: WorkerContext,
                  scheduler: str | None, run_id: str) -> InlineExecutor | PoolExecutor | DaskExecutor:
    """The executor for ``engine`` ("local" or "dask") and ``workers``."""
    if engine == "dask":
        return DaskExecutor(dumps_payload(spec, ctx), scheduler, workers, run_id)
    if workers <= 1:
        return InlineExecutor(labeler, ctx)
    return PoolExecutor(dumps_payload(spec, ctx), workers)
