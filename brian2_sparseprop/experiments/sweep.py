"""A resumable parameter sweep over any :class:`concurrent.futures.Executor`.

:func:`run_sweep` runs ``task(**point)`` for every point and writes one JSON file per finished point; a
rerun with the same ``out_dir`` reads finished points back instead of recomputing them, so an interrupted
sweep resumes where it stopped, and a point that fails does not lose the others. The points run on a
local process pool by default, or on any executor the caller passes: ``mpi4py.futures.MPIPoolExecutor()``
for an MPI cluster, ``dask.distributed.Client(...).get_executor()`` for a Dask cluster (optional extra
``distributed``: ``pip install 'brian2_sparseprop[distributed]'``).
"""

import concurrent.futures
import functools
import hashlib
import inspect
import json
import multiprocessing
import os
from pathlib import Path

from tqdm.auto import tqdm

from .._validation import check_int

__all__ = ["run_sweep"]


def _point_file(out_dir, task_name, params):
    key = json.dumps(params, sort_keys=True)
    digest = hashlib.sha1(f"{task_name}:{key}".encode()).hexdigest()[:16]
    return Path(out_dir) / f"{task_name}-{digest}.json"


class _CallingProcessExecutor(concurrent.futures.Executor):
    """Runs each task in the calling process at submission; the returned future is already done."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the sweep collects failures from the futures, as from a pool
            future.set_exception(exc)
        return future


def _check_point(task, signature, point):
    if not isinstance(point, dict):
        raise TypeError(f"every point must be a dict, found: {point!r}")
    try:
        signature.bind(**point)
    except TypeError as exc:
        raise TypeError(f"{task.__name__}{signature} does not accept the point {point}: {exc}") from None


def run_sweep(task, points, out_dir, n_workers=None, *, executor=None, progress=True):
    """Run ``task(**point)`` for every point in parallel; one result file per finished point; resumable.

    Every point is checked against the signature of ``task`` before any point runs, so a misspelt or
    missing argument fails at once. Points whose file exists in ``out_dir`` are read back, not recomputed.
    The others are submitted to ``executor``; each result is written (atomically) as soon as its point
    finishes, and a failing point is reported after all others have finished and been written.

    Parameters
    ----------
    task : callable
        A module-level function (picklable) taking the point's keys as keyword arguments and returning a
        JSON-serialisable dict. Its ``__name__`` and the point's parameters name the result file.
    points : list of dict
        Parameter sets (JSON-serialisable values).
    out_dir : str or Path
        Directory of the result files (created if needed).
    n_workers : int or None
        Worker processes of the default executor (None: the number of CPUs). When only one worker would
        run, the points run in the calling process.
    executor : concurrent.futures.Executor or None
        Where the points run, e.g. ``mpi4py.futures.MPIPoolExecutor()`` or a Dask client's
        ``client.get_executor()``; it is left running (the caller owns it). None: a local process pool of
        ``n_workers`` processes, started from a fresh server process, shut down at the end.
    progress : bool
        Show a progress bar of the finished points (tqdm, on stderr), counting the points read back.

    Returns
    -------
    list of dict
        The results in the order of ``points``.

    Raises
    ------
    TypeError
        If ``task`` is not callable, a point is not a dict or does not fit the signature of ``task``, or
        ``executor`` is not a :class:`concurrent.futures.Executor`.
    ValueError
        If ``n_workers`` < 1, or both ``n_workers`` and ``executor`` are given.
    RuntimeError
        If a point fails; the points finished before (and all others that finish) keep their files.

    Examples
    --------
    >>> import tempfile
    >>> from brian2_sparseprop.rate.chaos_suppression import theory_point
    >>> pts = [dict(g=2.0, I1=0.0, f=0.2, kind="common", N=1000, t_transient=5.0, t_measure=5.0)]
    >>> res = run_sweep(theory_point, pts, tempfile.mkdtemp(), n_workers=1, progress=False)
    >>> len(res)
    1

    A Dask cluster instead of the local pool (with the optional extra ``distributed``)::

        from dask.distributed import Client
        with Client("scheduler-address:8786") as client:
            res = run_sweep(theory_point, pts, "results", executor=client.get_executor())
    """
    if not callable(task):
        raise TypeError(f"task must be callable, found: {task!r}")
    if n_workers is not None:
        check_int("n_workers", n_workers, 1)
    if executor is not None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(f"executor must be a concurrent.futures.Executor or None, found: {executor!r}")
        if n_workers is not None:
            raise ValueError(f"give n_workers or executor, not both (found n_workers={n_workers})")
    points = list(points)
    signature = inspect.signature(task)
    for p in points:
        _check_point(task, signature, p)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = task.__name__
    files = [_point_file(out_dir, name, p) for p in points]
    results = [None] * len(points)
    todo = []
    for i, path in enumerate(files):
        if path.exists():
            results[i] = json.loads(path.read_text())["result"]
        else:
            todo.append(i)
    if not todo:
        return results
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=name, unit="point", disable=not progress)
    with bar:
        if executor is not None:
            return _run(task, points, files, results, todo, executor, bar)
        workers = min(n_workers or os.cpu_count() or 1, len(todo))
        if workers == 1:
            return _run(task, points, files, results, todo, _CallingProcessExecutor(), bar)
        # workers fork from a fresh server process, never from this one: forking a process that runs
        # multithreaded code (BLAS, or JAX when it was imported) can deadlock
        context = multiprocessing.get_context("forkserver")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return _run(task, points, files, results, todo, pool, bar)


def _run(task, points, files, results, todo, executor, bar):
    """Submit the points ``todo`` to ``executor``, write each result as it finishes, fill ``results``."""
    name = task.__name__
    errors = []

    def collect(future, i):
        try:
            res = future.result()
        except Exception as exc:  # keep going: other points still get saved
            errors.append((points[i], exc))
            return
        tmp = files[i].with_suffix(".tmp")
        tmp.write_text(json.dumps({"task": name, "params": points[i], "result": res}))
        tmp.replace(files[i])
        results[i] = res
        bar.update()

    pending = {}
    try:
        for i in todo:
            # the point is bound here, not passed as keywords of submit, which some executors (Dask's) read
            future = executor.submit(functools.partial(task, **points[i]))
            if future.done():  # finished already (the calling process ran it): written before the next starts
                collect(future, i)
            else:
                pending[future] = i
        for future in concurrent.futures.as_completed(pending):
            collect(future, pending[future])
    except KeyboardInterrupt:
        for future in pending:
            future.cancel()
        raise
    if errors:
        point, exc = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(todo)} sweep points failed; first: {point}: {exc!r}") from exc
    return results
