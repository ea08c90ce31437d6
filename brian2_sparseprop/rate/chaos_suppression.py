"""Chaos suppression in balanced rate networks by common versus independent input: experiments.

Experiments (each returns Quantities and can save a figure):

* :func:`lyapunov_vs_amplitude` -- lambda_1 against the input amplitude I1 for common and independent
  input, from the non-stationary DMFT and from network simulations (several realisations, error bars);
* :func:`critical_amplitude` -- the zero crossing I1_crit of lambda_1(I1), from the theory or from
  simulations; :func:`critical_amplitude_sweep` varies f, N, K (balance tightness) or g;
* :func:`quasi_static_critical_amplitude` -- the slow-input limit of I1_crit;
* :func:`learning_vs_amplitude` -- test error of a student network trained from a driven teacher
  (:func:`learning_point`) against I1 and against the teacher's lambda_1.

Every sweep runs its points in parallel with :class:`concurrent.futures.ProcessPoolExecutor` and writes
one JSON file per finished point into ``out_dir``; a rerun with the same ``out_dir`` loads finished points
instead of recomputing them, so an interrupted sweep resumes where it stopped. ``main`` is the command-line
entry point ``sparseprop-balanced``.

Times and frequencies are in units of tau (the membrane time constant) throughout this module; exponents
are returned as dimensionless Quantities (per tau).
"""

import argparse
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import quantities as pq
import scipy.optimize

from .balanced import BalancedRateNetwork, SinusoidalDrive
from .learning import train_student
from .meanfield import periodic_dmft, stationary_dmft

__all__ = [
    "theory_point",
    "network_point",
    "learning_point",
    "critical_amplitude_task",
    "run_sweep",
    "lyapunov_vs_amplitude",
    "critical_amplitude",
    "critical_amplitude_sweep",
    "quasi_static_critical_amplitude",
    "learning_vs_amplitude",
    "plot_lyapunov_vs_amplitude",
    "plot_critical_amplitude",
    "plot_learning",
    "main",
]

_KINDS = ("common", "independent")


def theory_point(g, I1, f, kind, N, J0=1.0, I0=1.0, dt=0.1, t_transient=40.0, t_measure=60.0, n_phases=16, K=None):
    """lambda_1 (per tau) of one (I1, f, kind) point from the non-stationary DMFT (a sweep task).

    Parameters
    ----------
    g, I1, f, kind, N, J0, I0, dt, t_transient, t_measure, n_phases
        As in :func:`brian2_sparseprop.rate.meanfield.periodic_dmft` (f in units of 1/tau).
    K : float or None
        In-degree of the sparse variant (``theory_options=dict(K=...)`` in the sweeps, to go with
        ``network_options=dict(K=...)``); None: dense.

    Returns
    -------
    dict
        ``{"lambda1": float}``.

    Examples
    --------
    >>> round(theory_point(2.0, 0.0, 0.2, "common", 1000, t_transient=10.0, t_measure=5.0)["lambda1"], 1)
    0.1
    """
    sol = periodic_dmft(
        g,
        I1,
        f,
        kind=kind,
        J0=J0,
        I0=I0,
        N=N,
        K=K,
        dt=dt,
        t_transient=t_transient,
        t_measure=t_measure,
        n_phases=n_phases,
    )
    return {"lambda1": float(sol.lyapunov_exponent.magnitude)}


def network_point(
    g, I1, f, kind, N, seed, J0=1.0, I0=1.0, K=None, duration=200.0, t_transient=50.0, dt=0.05, float32=True
):
    """lambda_1 (per tau) of one network realisation (a sweep task).

    Parameters
    ----------
    g, I1, f, kind, N, seed, J0, I0, K
        Network and input (f in units of 1/tau); see :class:`brian2_sparseprop.rate.balanced.BalancedRateNetwork`.
    duration, t_transient, dt : float
        Averaging time, transient and step (units of tau).
    float32 : bool
        Store the coupling matrix in float32 (twice less memory traffic).

    Returns
    -------
    dict
        ``{"lambda1": float, "rate": float}`` (rate: time-averaged population rate).

    Examples
    --------
    >>> out = network_point(2.0, 0.0, 0.2, "common", 100, 0, duration=5.0, t_transient=5.0)
    >>> sorted(out)
    ['lambda1', 'rate']
    """
    net = BalancedRateNetwork(N, g=g, J0=J0, I0=I0, K=K, seed=seed, dtype=np.float32 if float32 else np.float64)
    run = net.run(
        duration, drive=SinusoidalDrive(I1, f, kind), dt=dt, t_transient=t_transient, n_record=0, record_every=10
    )
    return {"lambda1": float(run.lyapunov_exponents.magnitude[0]), "rate": float(run.population_rate.magnitude.mean())}


def learning_point(
    I1,
    kind,
    N=500,
    g=2.0,
    f=0.2,
    seed=0,
    J0=1.0,
    I0=1.0,
    t_train_max=300.0,
    t_test=50.0,
    t_transient=50.0,
    dt=0.05,
    alpha=1.0,
    error_threshold=1e-2,
    min_periods=12,
):
    """Train a student network from a driven teacher online (full-FORCE, recursive least squares; a sweep task).

    A thin wrapper of :func:`brian2_sparseprop.rate.learning.train_student` that returns plain numbers
    for the JSON result files.

    Parameters
    ----------
    I1 : float
        Teacher input amplitude.
    kind : {'common', 'independent'}
        Phases of the teacher input.
    N, g, f, seed, J0, I0
        Network parameters (f in units of 1/tau).
    t_train_max, t_test, t_transient, dt : float
        Times in units of tau.
    alpha, error_threshold : float
        Regulariser of the recursive least squares and the stopping threshold of the test error.
    min_periods : int
        Least number of training periods.

    Returns
    -------
    dict
        ``{"test_error": float, "teacher_lambda1": float, "converged": bool, "t_trained": float}``.

    Examples
    --------
    >>> out = learning_point(10.0, "independent", N=100, t_train_max=20.0, t_test=5.0, t_transient=10.0,
    ...                      min_periods=4)
    >>> sorted(out)
    ['converged', 't_trained', 'teacher_lambda1', 'test_error']
    """
    _check_kinds([kind])
    res = train_student(
        I1,
        kind,
        N=N,
        g=g,
        J0=J0,
        I0=I0,
        f=f,
        seed=seed,
        dt=dt,
        t_transient=t_transient,
        t_train_max=t_train_max,
        t_test=t_test,
        error_threshold=error_threshold,
        alpha=alpha,
        min_periods=min_periods,
        n_record=0,
    )
    return {
        "test_error": res.test_error,
        "teacher_lambda1": float(res.teacher_lambda1.magnitude),
        "converged": bool(res.converged),
        "t_trained": float(res.t_trained.magnitude),
    }


def _point_file(out_dir, task_name, params):
    key = json.dumps(params, sort_keys=True)
    digest = hashlib.sha1(f"{task_name}:{key}".encode()).hexdigest()[:16]
    return Path(out_dir) / f"{task_name}-{digest}.json"


def run_sweep(task, points, out_dir, n_workers=None):
    """Run ``task(**point)`` for every point in parallel; one result file per finished point; resumable.

    Parameters
    ----------
    task : callable
        A module-level function (picklable) taking the point's keys as keyword arguments and returning a
        JSON-serialisable dict.
    points : list of dict
        Parameter sets (JSON-serialisable values).
    out_dir : str or Path
        Directory of the result files (created if needed). Points with an existing file are loaded, not
        recomputed.
    n_workers : int or None
        Worker processes (None: the number of CPUs).

    Returns
    -------
    list of dict
        The results in the order of ``points``.

    Raises
    ------
    TypeError
        If ``task`` is not callable or a point is not a dict.
    ValueError
        If ``n_workers`` < 1.
    RuntimeError
        If a point fails; the points finished before (and all others that finish) keep their files.

    Examples
    --------
    >>> import tempfile
    >>> pts = [dict(g=2.0, I1=0.0, f=0.2, kind="common", N=1000, t_transient=5.0, t_measure=5.0)]
    >>> res = run_sweep(theory_point, pts, tempfile.mkdtemp(), n_workers=1)
    >>> len(res)
    1
    """
    if not callable(task):
        raise TypeError(f"task must be callable, found: {task!r}")
    points = list(points)
    for p in points:
        if not isinstance(p, dict):
            raise TypeError(f"every point must be a dict, found: {p!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)):
        raise TypeError(f"n_workers must be an integer or None, found: {n_workers!r}")
    if n_workers is not None and n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, found: {n_workers}")
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
    errors = []
    workers = n_workers or os.cpu_count() or 1
    # workers fork from a fresh server process, never from this one: forking a process that runs
    # multithreaded code (BLAS, or JAX when it was imported) can deadlock
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
        futures = {pool.submit(task, **points[i]): i for i in todo}
        try:
            for fut in concurrent.futures.as_completed(futures):
                i = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # keep going: other points still get saved
                    errors.append((points[i], exc))
                    continue
                tmp = files[i].with_suffix(".tmp")
                tmp.write_text(json.dumps({"task": name, "params": points[i], "result": res}))
                tmp.replace(files[i])
                results[i] = res
        except KeyboardInterrupt:
            for fut in futures:
                fut.cancel()
            raise
    if errors:
        point, exc = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(todo)} sweep points failed; first: {point}: {exc!r}") from exc
    return results


def _check_kinds(kinds):
    kinds = tuple(kinds)
    for k in kinds:
        if k not in _KINDS:
            raise ValueError(f"kinds must be drawn from {_KINDS}, found: {k!r}")
    return kinds


def lyapunov_vs_amplitude(
    I1_values,
    *,
    f=0.2,
    g=2.0,
    N=5000,
    J0=1.0,
    I0=1.0,
    kinds=_KINDS,
    theory=True,
    n_networks=0,
    out_dir="balanced_results",
    n_workers=None,
    theory_options=None,
    network_options=None,
):
    """lambda_1 against I1 for common and independent input, from theory and/or simulations.

    Parameters
    ----------
    I1_values : array_like
        Input amplitudes (>= 0).
    f : float
        Input frequency (units of 1/tau, > 0).
    g, N, J0, I0 : float
        Network parameters (N also enters the theory's mean equation).
    kinds : sequence of {'common', 'independent'}
    theory : bool
        Compute the DMFT curve.
    n_networks : int
        Network realisations per point (0: none).
    out_dir : str or Path
        Directory of the per-point result files (resumable).
    n_workers : int or None
        Worker processes.
    theory_options, network_options : dict or None
        Extra keyword arguments of :func:`theory_point` / :func:`network_point`.

    Returns
    -------
    dict
        ``{"I1": ndarray, "theory": {kind: Quantity}, "network": {kind: Quantity (n_I1, n_networks)},
        "parameters": dict}``; exponents are dimensionless (per tau).

    Raises
    ------
    ValueError
        For negative amplitudes, unknown kinds or a non-positive frequency.

    Examples
    --------
    >>> import tempfile
    >>> out = lyapunov_vs_amplitude([0.0], N=1000, kinds=["common"], out_dir=tempfile.mkdtemp(), n_workers=1,
    ...                             theory_options=dict(t_transient=5.0, t_measure=5.0))
    >>> out["theory"]["common"].shape
    (1,)
    """
    I1_values = np.asarray(I1_values, dtype=float)
    if I1_values.ndim != 1 or np.any(I1_values < 0) or not np.all(np.isfinite(I1_values)):
        raise ValueError(f"I1_values must be a 1D array of finite values >= 0, found: {I1_values}")
    if not f > 0:
        raise ValueError(f"f must be > 0, found: {f}")
    kinds = _check_kinds(kinds)
    theory_options = dict(theory_options or {})
    network_options = dict(network_options or {})
    points, tags = [], []
    for kind in kinds:
        for i, I1 in enumerate(I1_values):
            if theory:
                points.append(("theory", dict(g=g, I1=float(I1), f=f, kind=kind, N=N, J0=J0, I0=I0, **theory_options)))
                tags.append(("theory", kind, i, 0))
            for s in range(n_networks):
                points.append(
                    ("network", dict(g=g, I1=float(I1), f=f, kind=kind, N=N, J0=J0, I0=I0, seed=s, **network_options))
                )
                tags.append(("network", kind, i, s))
    th_pts = [p for t, p in points if t == "theory"]
    nw_pts = [p for t, p in points if t == "network"]
    th_res = iter(run_sweep(theory_point, th_pts, out_dir, n_workers) if th_pts else [])
    nw_res = iter(run_sweep(network_point, nw_pts, out_dir, n_workers) if nw_pts else [])
    out_th = {k: np.full(len(I1_values), np.nan) for k in kinds} if theory else {}
    out_nw = {k: np.full((len(I1_values), n_networks), np.nan) for k in kinds} if n_networks else {}
    for src, kind, i, s in tags:
        if src == "theory":
            out_th[kind][i] = next(th_res)["lambda1"]
        else:
            out_nw[kind][i, s] = next(nw_res)["lambda1"]
    return {
        "I1": I1_values,
        "theory": {k: pq.Quantity(v, pq.dimensionless) for k, v in out_th.items()},
        "network": {k: pq.Quantity(v, pq.dimensionless) for k, v in out_nw.items()},
        "parameters": dict(f=f, g=g, N=N, J0=J0, I0=I0, n_networks=n_networks, time_unit="tau"),
    }


def learning_vs_amplitude(
    I1_values, *, kinds=_KINDS, n_networks=3, out_dir="balanced_results", n_workers=None, **learning_options
):
    """Test error of the student and lambda_1 of the teacher against I1 (see :func:`learning_point`).

    Parameters
    ----------
    I1_values : array_like
        Teacher input amplitudes (>= 0).
    kinds : sequence of {'common', 'independent'}
    n_networks : int
        Realisations (seeds 0 .. n_networks - 1) per point.
    out_dir, n_workers
        As in :func:`run_sweep`.
    **learning_options
        Passed to :func:`learning_point` (N, g, f, t_train_max, ...).

    Returns
    -------
    dict
        ``{"I1": ndarray, "test_error": {kind: ndarray (n_I1, n_networks)}, "converged": {kind: bool ndarray},
        "teacher_lambda1": {kind: Quantity (n_I1, n_networks)}, "parameters": dict}``.

    Raises
    ------
    ValueError
        For negative amplitudes or unknown kinds.

    Examples
    --------
    >>> import tempfile
    >>> res = learning_vs_amplitude([10.0], kinds=["independent"], n_networks=1, out_dir=tempfile.mkdtemp(),
    ...                             n_workers=1, N=100, t_train_max=20.0, t_test=5.0, t_transient=10.0,
    ...                             min_periods=4)
    >>> res["test_error"]["independent"].shape
    (1, 1)
    """
    I1_values = np.asarray(I1_values, dtype=float)
    if I1_values.ndim != 1 or np.any(I1_values < 0) or not np.all(np.isfinite(I1_values)):
        raise ValueError(f"I1_values must be a 1D array of finite values >= 0, found: {I1_values}")
    kinds = _check_kinds(kinds)
    points = [
        dict(I1=float(I1), kind=kind, seed=s, **learning_options)
        for kind in kinds
        for I1 in I1_values
        for s in range(n_networks)
    ]
    res = run_sweep(learning_point, points, out_dir, n_workers)
    shape = (len(I1_values), n_networks)
    err, lam, conv = {}, {}, {}
    for j, kind in enumerate(kinds):
        block = res[j * len(I1_values) * n_networks : (j + 1) * len(I1_values) * n_networks]
        err[kind] = np.array([r["test_error"] for r in block]).reshape(shape)
        lam[kind] = pq.Quantity(np.array([r["teacher_lambda1"] for r in block]).reshape(shape), pq.dimensionless)
        conv[kind] = np.array([r["converged"] for r in block]).reshape(shape)
    return {
        "I1": I1_values,
        "test_error": err,
        "teacher_lambda1": lam,
        "converged": conv,
        "parameters": dict(learning_options, n_networks=n_networks, time_unit="tau"),
    }


def plot_learning(result, path, I1_crit=None, threshold=1e-2):
    """Save the learning figure to ``path``: the teacher's lambda_1 and the student's test error against I1,
    and the test error against the teacher's lambda_1 (three panels; medians with interquartile ranges).

    Parameters
    ----------
    result : dict
        Output of :func:`learning_vs_amplitude`.
    path : str or Path
    I1_crit : dict or None
        Critical amplitudes ``{kind: float}`` drawn as dashed vertical lines (e.g. from the DMFT).
    threshold : float
        Training threshold, drawn as a dotted horizontal line.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> res = {"I1": np.array([0.0, 5.0]), "test_error": {"common": np.array([[1.0], [0.5]])},
    ...        "teacher_lambda1": {"common": pq.Quantity([[0.1], [0.05]])}, "parameters": {}}
    >>> os.path.exists(plot_learning(res, os.path.join(tempfile.mkdtemp(), "c.png"), I1_crit={"common": 3.0}))
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"common": "tab:green", "independent": "tab:purple"}
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(11, 3.4))

    def median_iqr(ax, values, kind):
        med = np.median(values, axis=1)
        q1, q3 = np.percentile(values, 25, axis=1), np.percentile(values, 75, axis=1)
        ax.errorbar(
            result["I1"], med, yerr=[med - q1, q3 - med], fmt="o-", ms=4, color=colors[kind], capsize=2, label=kind
        )

    for kind, err in result["test_error"].items():
        median_iqr(ax0, result["teacher_lambda1"][kind].magnitude, kind)
        median_iqr(ax1, err, kind)
        ax2.scatter(
            result["teacher_lambda1"][kind].magnitude.ravel(),
            err.ravel(),
            s=12,
            color=colors[kind],
            label=kind,
            alpha=0.7,
        )
        if I1_crit is not None and kind in I1_crit:
            for ax in (ax0, ax1):
                ax.axvline(I1_crit[kind], color=colors[kind], ls="--", lw=0.8)
    ax0.axhline(0, color="k", lw=0.5)
    ax0.set_ylabel(r"teacher $\lambda_1$ (1/$\tau$)")
    for ax in (ax1, ax2):
        ax.set_yscale("log")
        ax.set_ylabel("test error (MSE / target variance)")
        ax.axhline(threshold, color="k", ls=":", lw=0.8)
    for ax in (ax0, ax1):
        ax.set_xlabel("teacher input amplitude $I_1$")
    for ax in (ax0, ax1, ax2):
        ax.legend(fontsize=7)
    ax2.set_xlabel(r"teacher $\lambda_1$ (1/$\tau$)")
    ax2.axvline(0, color="k", lw=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def critical_amplitude(
    kind, *, f=0.2, g=2.0, N=5000, J0=1.0, I0=1.0, I1_start=1.0, rtol=1e-3, I1_max=1e4, **theory_options
):
    """The critical amplitude I1_crit where lambda_1(I1) from the DMFT crosses zero.

    The bracket is grown geometrically from ``I1_start`` until lambda_1 < 0, then refined by Brent's
    method to relative tolerance ``rtol``.

    Parameters
    ----------
    kind : {'common', 'independent'}
    f, g, N, J0, I0 : float
        As in :func:`brian2_sparseprop.rate.meanfield.periodic_dmft`.
    I1_start : float
        First trial amplitude (> 0).
    rtol : float
        Relative tolerance of the root.
    I1_max : float
        Give up above this amplitude.
    **theory_options
        Passed to :func:`theory_point`.

    Returns
    -------
    float
        I1_crit (nan if lambda_1 < 0 already at I1 = 0, i.e. no chaos to suppress).

    Raises
    ------
    ValueError
        For an unknown kind, or if chaos persists up to ``I1_max``.

    Examples
    --------
    >>> I1c = critical_amplitude("independent", N=1000, I1_start=2.0, rtol=0.05, t_transient=20.0,
    ...                          t_measure=10.0, n_phases=8)
    >>> 1.0 < I1c < 10.0
    True
    """
    _check_kinds([kind])
    lam = lambda I1: theory_point(g, I1, f, kind, N, J0, I0, **theory_options)["lambda1"]
    if lam(0.0) < 0:
        return float("nan")
    lo, hi = 0.0, float(I1_start)
    while lam(hi) > 0:
        lo, hi = hi, 2 * hi
        if hi > I1_max:
            raise ValueError(f"lambda_1 stays positive up to I1_max = {I1_max} ({kind} input, f = {f}, N = {N})")
    return scipy.optimize.brentq(lam, lo, hi, rtol=rtol, xtol=1e-6)


def quasi_static_critical_amplitude(kind, *, g=2.0, N=5000, J0=1.0, I0=1.0, n_phases=32):
    """Slow-input (f -> 0) limit of I1_crit.

    Common input: at each instant the network is in the stationary state for the constant input
    ``sqrt(N) I0 + I1 sin(psi)``; for relu the stationary exponent lambda_c does not depend on the input
    size (scale invariance), and the network is silent (lambda = -1) while the input is negative. The
    cycle average vanishes when the silent fraction is ``p = lambda_c / (1 + lambda_c)``, i.e.
    ``I1_crit = sqrt(N) I0 / cos(pi p)``: it grows like sqrt(N).
    Independent input: each neuron sees a frozen offset ``I1 sin(theta_i)`` with uniform theta_i; the
    stationary DMFT with these quenched offsets gives lambda_1(I1); its zero is I1_crit, independent of N
    in the balance limit.

    Parameters
    ----------
    kind : {'common', 'independent'}
    g, N, J0, I0 : float
        Network parameters.
    n_phases : int
        Trapezoidal points of the phase average (independent input).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For an unknown kind.

    Examples
    --------
    >>> round(quasi_static_critical_amplitude("common", N=10000) / quasi_static_critical_amplitude("common", N=2500), 6)
    2.0
    """
    _check_kinds([kind])
    lam_c = float(stationary_dmft(g, J0=J0, I0=I0).lyapunov_exponent())
    if kind == "common":
        if lam_c <= 0:
            return float("nan")
        p = lam_c / (1 + lam_c)
        return float(np.sqrt(N) * I0 / np.cos(np.pi * p))
    lam = lambda I1: float(
        stationary_dmft(
            g,
            J0=J0,
            I0=I0,
            quenched_amplitude=I1,
            n_phases=n_phases,
        ).lyapunov_exponent()
    )
    if lam(0.0) <= 0:
        return float("nan")
    lo, hi = 0.0, 1.0
    while lam(hi) > 0:
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            raise ValueError("lambda_1 stays positive up to I1 = 1e4 in the quasi-static limit")
    return scipy.optimize.brentq(lam, lo, hi, rtol=1e-4)


def critical_amplitude_task(kind, f, g, N, J0=1.0, I0=1.0, rtol=1e-2, theory_options=None):
    """I1_crit of one point (a sweep task); see :func:`critical_amplitude`.

    Returns
    -------
    dict
        ``{"I1_crit": float}``.

    Examples
    --------
    >>> critical_amplitude_task("common", 0.2, 1.2, 1000, theory_options=dict(t_measure=5.0))  # no chaos
    {'I1_crit': nan}
    """
    return {"I1_crit": critical_amplitude(kind, f=f, g=g, N=N, J0=J0, I0=I0, rtol=rtol, **(theory_options or {}))}


def critical_amplitude_sweep(
    vary,
    values,
    *,
    kinds=_KINDS,
    f=0.2,
    g=2.0,
    N=5000,
    J0=1.0,
    I0=1.0,
    rtol=1e-2,
    out_dir="balanced_results",
    n_workers=None,
    theory_options=None,
):
    """I1_crit from the DMFT against one parameter: 'f', 'N', 'K' (balance tightness) or 'g'.

    'K' replaces sqrt(N) by sqrt(K) in the mean equation, i.e. the input sqrt(K) I0 and the mean coupling
    J0 sqrt(K) / sqrt(N) of a network whose balance tightness is sqrt(K) (the fluctuation statistics do not
    change).

    Parameters
    ----------
    vary : {'f', 'N', 'K', 'g'}
    values : array_like
    kinds, f, g, N, J0, I0, rtol, out_dir, n_workers, theory_options
        As in :func:`lyapunov_vs_amplitude` and :func:`critical_amplitude`.

    Returns
    -------
    dict
        ``{"values": ndarray, "I1_crit": {kind: ndarray}, "quasi_static": {kind: ndarray},
        "parameters": dict}``.

    Raises
    ------
    ValueError
        For an unknown ``vary``.

    Examples
    --------
    >>> import tempfile
    >>> res = critical_amplitude_sweep("N", [1000], g=1.2, out_dir=tempfile.mkdtemp(), n_workers=1,
    ...                                theory_options=dict(t_measure=5.0))  # g < sqrt(2): nothing to suppress
    >>> res["I1_crit"]["common"]
    array([nan])
    """
    if vary not in ("f", "N", "K", "g"):
        raise ValueError(f"vary must be one of 'f', 'N', 'K', 'g', found: {vary!r}")
    kinds = _check_kinds(kinds)
    values = np.asarray(values, dtype=float)
    base = dict(f=f, g=g, N=N, J0=J0, I0=I0)
    points = []
    for kind in kinds:
        for v in values:
            p = dict(base, kind=kind, rtol=rtol, theory_options=dict(theory_options or {}))
            p["N" if vary == "K" else vary] = float(v)
            points.append(p)
    res = run_sweep(critical_amplitude_task, points, out_dir, n_workers)
    crit, qs = {}, {}
    for j, kind in enumerate(kinds):
        crit[kind] = np.array([r["I1_crit"] for r in res[j * len(values) : (j + 1) * len(values)]])
        qs[kind] = np.array(
            [
                quasi_static_critical_amplitude(kind, **{k: p[k] for k in ("g", "N", "J0", "I0")})
                for p in points[j * len(values) : (j + 1) * len(values)]
            ]
        )
    return {"values": values, "I1_crit": crit, "quasi_static": qs, "parameters": dict(base, vary=vary)}


def plot_lyapunov_vs_amplitude(result, path, xscale="linear"):
    """Save lambda_1 against I1 (theory lines, network medians with interquartile bars) to ``path``.

    Parameters
    ----------
    result : dict
        Output of :func:`lyapunov_vs_amplitude`.
    path : str or Path
        Image file.
    xscale : {'linear', 'symlog'}
        Scale of the I1 axis ('symlog' shows the small independent and the large common I1_crit together).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> res = {"I1": np.array([0.0, 1.0]), "theory": {"common": pq.Quantity([0.1, 0.05])}, "network": {},
    ...        "parameters": dict(f=0.2, g=2.0, N=100)}
    >>> os.path.exists(plot_lyapunov_vs_amplitude(res, os.path.join(tempfile.mkdtemp(), "a.png")))
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"common": "tab:green", "independent": "tab:purple"}
    fig, ax = plt.subplots(figsize=(5, 3.6))
    I1 = result["I1"]
    for kind, lam in result["theory"].items():
        ax.plot(I1, lam.magnitude, "--", color=colors[kind], label=f"{kind}, DMFT")
    for kind, lam in result["network"].items():
        x = lam.magnitude
        med = np.nanmedian(x, axis=1)
        q1, q3 = np.nanpercentile(x, 25, axis=1), np.nanpercentile(x, 75, axis=1)
        ax.errorbar(
            I1,
            med,
            yerr=[med - q1, q3 - med],
            fmt="o",
            ms=4,
            color=colors[kind],
            capsize=2,
            label=f"{kind}, network (n={x.shape[1]})",
        )
    ax.axhline(0, color="k", lw=0.5)
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0.0)
    p = result["parameters"]
    ax.set_xlabel("input amplitude $I_1$")
    ax.set_ylabel(r"$\lambda_1$ (1/$\tau$)")
    ax.set_title(f"N={p['N']}, g={p['g']}, f={p['f']}/tau", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_critical_amplitude(result, path):
    """Save I1_crit against the varied parameter (DMFT points, quasi-static lines) to ``path``.

    Parameters
    ----------
    result : dict
        Output of :func:`critical_amplitude_sweep`.
    path : str or Path

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> res = {"values": np.array([1e3, 4e3]), "I1_crit": {"common": np.array([5.0, 10.0])},
    ...        "quasi_static": {"common": np.array([40.0, 80.0])}, "parameters": {"vary": "N"}}
    >>> os.path.exists(plot_critical_amplitude(res, os.path.join(tempfile.mkdtemp(), "b.png")))
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = {"common": "tab:green", "independent": "tab:purple"}
    vary = result["parameters"]["vary"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    x = result["values"]
    for kind, y in result["I1_crit"].items():
        ax.plot(x, y, "o--", color=colors[kind], label=f"{kind}, DMFT")
        qs = result["quasi_static"].get(kind)
        if qs is not None and np.any(np.isfinite(qs)):
            ax.plot(x, qs, ":", color=colors[kind], label=f"{kind}, quasi-static")
    finite = [y[np.isfinite(y)] for y in result["I1_crit"].values()]
    if vary in ("f", "N", "K") and any(len(y) and np.all(y > 0) for y in finite):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    p = result["parameters"]
    keys = [k for k in ("N", "g", "f") if k in p and k != vary and not (vary == "K" and k == "N")]
    fixed = ", ".join(f"{k}={p[k]:g}" for k in keys)
    ax.set_title(f"{fixed} (quasi-static: f -> 0)", fontsize=9)
    ax.set_xlabel({"f": r"f ($1/\tau$)", "N": "N", "K": "K", "g": "g"}[vary])
    ax.set_ylabel(r"$I_1^{crit}$")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _floats(text):
    """'a:b:n' (linspace) or 'a,b,c' -> array."""
    if ":" in text:
        a, b, n = text.split(":")
        return np.linspace(float(a), float(b), int(n))
    return np.array([float(v) for v in text.split(",")])


def main(argv=None):
    """Command-line entry point ``sparseprop-balanced``.

    Sub-commands: ``lyapunov`` (lambda_1 vs I1, theory and networks), ``critical`` (I1_crit vs f, N, K
    or g) and ``learning`` (student test error vs the teacher's input amplitude). Results go to ``--out``
    (one JSON file per point, resumable); the figure to ``--figure``.

    Parameters
    ----------
    argv : list of str or None
        Arguments (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status 0.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> main(["lyapunov", "--I1", "0", "--N", "1000", "--kinds", "common", "--out", d, "--workers", "1",
    ...       "--t-transient", "5", "--t-measure", "5", "--figure", os.path.join(d, "l.png")])
    common theory [...]
    0
    """
    parser = argparse.ArgumentParser(prog="sparseprop-balanced", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("lyapunov", "critical", "learning"):
        p = sub.add_parser(name)
        p.add_argument("--g", type=float, default=2.0)
        p.add_argument("--N", type=float, default=5000)
        p.add_argument("--f", type=float, default=0.2, help="input frequency in units of 1/tau")
        p.add_argument("--J0", type=float, default=1.0)
        p.add_argument("--I0", type=float, default=1.0)
        p.add_argument("--kinds", nargs="+", default=list(_KINDS), choices=_KINDS)
        p.add_argument("--out", default="balanced_results", help="directory of per-point result files")
        p.add_argument("--workers", type=int, default=None)
        p.add_argument("--figure", default=None, help="image file for the figure")
        p.add_argument("--t-transient", type=float, default=40.0)
        p.add_argument("--t-measure", type=float, default=60.0)
        p.add_argument("--dt", type=float, default=0.1, help="DMFT grid step (units of tau)")
    lp = sub.choices["lyapunov"]
    lp.add_argument("--I1", default="0:20:20", help="'start:stop:n' or comma-separated values")
    lp.add_argument("--networks", type=int, default=0, help="network realisations per point")
    lp.add_argument("--duration", type=float, default=200.0, help="network averaging time (tau)")
    lrn = sub.choices["learning"]
    lrn.add_argument("--I1", default="0,2,5,10,20", help="'start:stop:n' or comma-separated values")
    lrn.add_argument("--networks", type=int, default=3, help="teacher/student realisations per point")
    lrn.add_argument("--t-train", type=float, default=300.0, help="longest training time (tau)")
    cp = sub.choices["critical"]
    cp.add_argument("--vary", choices=("f", "N", "K", "g"), required=True)
    cp.add_argument("--values", required=True, help="'start:stop:n' or comma-separated values")
    args = parser.parse_args(argv)
    theory_options = dict(dt=args.dt, t_transient=args.t_transient, t_measure=args.t_measure)
    N = int(args.N) if float(args.N).is_integer() else args.N
    if args.command == "lyapunov":
        res = lyapunov_vs_amplitude(
            _floats(args.I1),
            f=args.f,
            g=args.g,
            N=N,
            J0=args.J0,
            I0=args.I0,
            kinds=args.kinds,
            n_networks=args.networks,
            out_dir=args.out,
            n_workers=args.workers,
            theory_options=theory_options,
            network_options=dict(duration=args.duration),
        )
        for kind, lam in res["theory"].items():
            print(kind, "theory", np.round(lam.magnitude, 4).tolist())
        for kind, lam in res["network"].items():
            print(kind, "network median", np.round(np.median(lam.magnitude, axis=1), 4).tolist())
        if args.figure:
            plot_lyapunov_vs_amplitude(res, args.figure)
    elif args.command == "learning":
        res = learning_vs_amplitude(
            _floats(args.I1),
            kinds=args.kinds,
            n_networks=args.networks,
            out_dir=args.out,
            n_workers=args.workers,
            N=int(N),
            g=args.g,
            f=args.f,
            J0=args.J0,
            I0=args.I0,
            t_train_max=args.t_train,
        )
        for kind, err in res["test_error"].items():
            print(kind, "median test error", np.round(np.median(err, axis=1), 5).tolist())
        if args.figure:
            plot_learning(res, args.figure)
    else:
        res = critical_amplitude_sweep(
            args.vary,
            _floats(args.values),
            kinds=args.kinds,
            f=args.f,
            g=args.g,
            N=N,
            J0=args.J0,
            I0=args.I0,
            out_dir=args.out,
            n_workers=args.workers,
            theory_options=theory_options,
        )
        for kind in res["I1_crit"]:
            print(
                kind,
                "I1_crit",
                np.round(res["I1_crit"][kind], 4).tolist(),
                "quasi-static",
                np.round(res["quasi_static"][kind], 4).tolist(),
            )
        if args.figure:
            plot_critical_amplitude(res, args.figure)
    return 0
