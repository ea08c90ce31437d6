"""Chaos suppression in balanced rate networks by common versus independent input: sweeps and figures.

The command line ``sparseprop-balanced`` (:func:`main`) runs the sweeps and saves their figures.
Sweeps (each returns Quantities):

* :func:`lyapunov_vs_amplitude` -- lambda_1 against the input amplitude I1 for common and independent
  input, from the non-stationary DMFT and from network simulations (several realisations, error bars);
* :func:`critical_amplitude_sweep` -- the critical amplitude I1_crit from the DMFT against f, N, K
  (balance tightness) or g, with its quasi-static limit;
* :func:`learning_vs_amplitude` -- test error of a student network trained from a driven teacher against
  I1 and against the teacher's lambda_1.

Their points are the computations of :mod:`brian2_sparseprop.rate.chaos_suppression`, run by
:func:`brian2_sparseprop.experiments.sweep.run_sweep`: in parallel on a local process pool or on any
:class:`concurrent.futures.Executor` passed as ``executor`` (an MPI or Dask cluster), one JSON file per
finished point in ``out_dir``; a rerun with the same ``out_dir`` loads finished points instead of
recomputing them, so an interrupted sweep resumes where it stopped. Options are checked before any point
runs. The ``plot_*`` functions take a sweep's result and return a :class:`matplotlib.figure.Figure`.

Times and frequencies are plain numbers in units of tau (the membrane time constant) throughout this
module, as in the dimensionless sweep tasks; exponents are returned as Quantities in 1/tau
(:data:`brian2_sparseprop.lyapunov.tau_unit`).
"""

import contextlib
import inspect

import numpy as np
import quantities as pq
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .._validation import check_int
from ..lyapunov import tau_unit
from ..rate.chaos_suppression import (
    _KINDS,
    _check_kinds,
    critical_amplitude,
    learning_point,
    network_point,
    quasi_static_critical_amplitude,
    theory_point,
)
from ._cli import add_quick, parser_and_mode
from .sweep import run_sweep

__all__ = [
    "lyapunov_vs_amplitude",
    "learning_vs_amplitude",
    "critical_amplitude_task",
    "critical_amplitude_sweep",
    "plot_lyapunov_vs_amplitude",
    "plot_critical_amplitude",
    "plot_learning",
    "main",
]


def _check_options(name, options, tasks, fixed):
    """``options`` as a dict, after checking that one of ``tasks`` takes each key by name and none is in
    ``fixed`` (set by the sweep itself)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict or None, found: {options!r}")
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = {
        key for task in tasks for key, par in inspect.signature(task).parameters.items() if par.kind in named
    } - set(fixed)
    unknown = sorted(set(options) - accepted)
    if unknown:
        names = " / ".join(task.__name__ for task in tasks)
        raise TypeError(f"{name} has keys {unknown} that {names} does not take; valid keys: {sorted(accepted)}")
    return dict(options)


def _floats(text):
    """'a:b:n' (linspace) or 'a,b,c' -> array."""
    if ":" in text:
        a, b, n = text.split(":")
        return np.linspace(float(a), float(b), int(n))
    return np.array([float(v) for v in text.split(",")])


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
    executor=None,
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
        Worker processes of the default local pool.
    executor : concurrent.futures.Executor or None
        Where the points run instead (an MPI or Dask cluster); see
        :func:`brian2_sparseprop.experiments.sweep.run_sweep`.
    theory_options, network_options : dict or None
        Extra keyword arguments of :func:`~brian2_sparseprop.rate.chaos_suppression.theory_point` /
        :func:`~brian2_sparseprop.rate.chaos_suppression.network_point`.

    Returns
    -------
    dict
        ``{"I1": ndarray, "theory": {kind: Quantity}, "network": {kind: Quantity (n_I1, n_networks)},
        "parameters": dict}``; exponents in 1/tau (``tau_unit``).

    Raises
    ------
    ValueError
        For negative amplitudes, unknown kinds, a non-positive frequency or a negative ``n_networks``.
    TypeError
        For an option that the point functions do not take (before any point runs).

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
    check_int("n_networks", n_networks, 0)
    given = ("g", "I1", "f", "kind", "N", "J0", "I0")
    theory_options = _check_options("theory_options", theory_options, [theory_point], given)
    network_options = _check_options("network_options", network_options, [network_point], (*given, "seed"))
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
    th_res = iter(run_sweep(theory_point, th_pts, out_dir, n_workers, executor=executor) if th_pts else [])
    nw_res = iter(run_sweep(network_point, nw_pts, out_dir, n_workers, executor=executor) if nw_pts else [])
    out_th = {k: np.full(len(I1_values), np.nan) for k in kinds} if theory else {}
    out_nw = {k: np.full((len(I1_values), n_networks), np.nan) for k in kinds} if n_networks else {}
    for src, kind, i, s in tags:
        if src == "theory":
            out_th[kind][i] = next(th_res)["lambda1"]
        else:
            out_nw[kind][i, s] = next(nw_res)["lambda1"]
    return {
        "I1": I1_values,
        "theory": {k: pq.Quantity(v, 1 / tau_unit) for k, v in out_th.items()},
        "network": {k: pq.Quantity(v, 1 / tau_unit) for k, v in out_nw.items()},
        "parameters": dict(f=f, g=g, N=N, J0=J0, I0=I0, n_networks=n_networks, time_unit="tau"),
    }


def learning_vs_amplitude(
    I1_values,
    *,
    kinds=_KINDS,
    n_networks=3,
    out_dir="balanced_results",
    n_workers=None,
    executor=None,
    **learning_options,
):
    """Test error of the student and lambda_1 of the teacher against I1 (see :func:`learning_point`).

    Parameters
    ----------
    I1_values : array_like
        Teacher input amplitudes (>= 0).
    kinds : sequence of {'common', 'independent'}
    n_networks : int
        Realisations (seeds 0 .. n_networks - 1) per point.
    out_dir, n_workers, executor
        As in :func:`brian2_sparseprop.experiments.sweep.run_sweep`.
    **learning_options
        Passed to :func:`~brian2_sparseprop.rate.chaos_suppression.learning_point` (N, g, f,
        t_train_max, ...).

    Returns
    -------
    dict
        ``{"I1": ndarray, "test_error": {kind: ndarray (n_I1, n_networks)}, "converged": {kind: bool ndarray},
        "teacher_lambda1": {kind: Quantity (n_I1, n_networks)}, "parameters": dict}``.

    Raises
    ------
    ValueError
        For negative amplitudes, unknown kinds or a negative ``n_networks``.
    TypeError
        For an option that ``learning_point`` does not take (before any point runs).

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
    check_int("n_networks", n_networks, 0)
    learning_options = _check_options("learning_options", learning_options, [learning_point], ("I1", "kind", "seed"))
    points = [
        dict(I1=float(I1), kind=kind, seed=s, **learning_options)
        for kind in kinds
        for I1 in I1_values
        for s in range(n_networks)
    ]
    res = run_sweep(learning_point, points, out_dir, n_workers, executor=executor)
    shape = (len(I1_values), n_networks)
    err, lam, conv = {}, {}, {}
    for j, kind in enumerate(kinds):
        block = res[j * len(I1_values) * n_networks : (j + 1) * len(I1_values) * n_networks]
        err[kind] = np.array([r["test_error"] for r in block]).reshape(shape)
        lam[kind] = pq.Quantity(np.array([r["teacher_lambda1"] for r in block]).reshape(shape), 1 / tau_unit)
        conv[kind] = np.array([r["converged"] for r in block]).reshape(shape)
    return {
        "I1": I1_values,
        "test_error": err,
        "teacher_lambda1": lam,
        "converged": conv,
        "parameters": dict(learning_options, n_networks=n_networks, time_unit="tau"),
    }


def critical_amplitude_task(kind, f, g, N, J0=1.0, I0=1.0, rtol=1e-2, theory_options=None):
    """I1_crit of one point (a sweep task); see :func:`~brian2_sparseprop.rate.chaos_suppression.critical_amplitude`.

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
    executor=None,
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
    kinds, f, g, N, J0, I0, rtol, out_dir, n_workers, executor, theory_options
        As in :func:`lyapunov_vs_amplitude` and
        :func:`~brian2_sparseprop.rate.chaos_suppression.critical_amplitude` (``theory_options`` may also
        hold its ``I1_start`` and ``I1_max``).

    Returns
    -------
    dict
        ``{"values": ndarray, "I1_crit": {kind: ndarray}, "quasi_static": {kind: ndarray},
        "parameters": dict}``.

    Raises
    ------
    ValueError
        For an unknown ``vary`` or kind.
    TypeError
        For a key of ``theory_options`` that the theory does not take (before any point runs).

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
    theory_options = _check_options(
        "theory_options",
        theory_options,
        [critical_amplitude, theory_point],
        ("kind", "f", "g", "N", "J0", "I0", "I1", "rtol"),
    )
    values = np.asarray(values, dtype=float)
    base = dict(f=f, g=g, N=N, J0=J0, I0=I0)
    points = []
    for kind in kinds:
        for v in values:
            p = dict(base, kind=kind, rtol=rtol, theory_options=theory_options)
            p["N" if vary == "K" else vary] = float(v)
            points.append(p)
    res = run_sweep(critical_amplitude_task, points, out_dir, n_workers, executor=executor)
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


def plot_lyapunov_vs_amplitude(result, xscale="linear"):
    """lambda_1 against I1: theory lines, network medians with interquartile bars.

    Parameters
    ----------
    result : dict
        Output of :func:`lyapunov_vs_amplitude`.
    xscale : {'linear', 'symlog'}
        Scale of the I1 axis ('symlog' shows the small independent and the large common I1_crit together).

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``.

    Examples
    --------
    >>> res = {"I1": np.array([0.0, 1.0]), "theory": {"common": pq.Quantity([0.1, 0.05])}, "network": {},
    ...        "parameters": dict(f=0.2, g=2.0, N=100)}
    >>> fig = plot_lyapunov_vs_amplitude(res)
    >>> fig.axes[0].get_xlabel()
    'input amplitude $I_1$'
    """
    colors = {"common": "tab:green", "independent": "tab:purple"}
    fig = Figure(figsize=(5, 3.6), layout="tight")
    ax = fig.subplots()
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
    return fig


def plot_critical_amplitude(result):
    """I1_crit against the varied parameter: DMFT points, quasi-static lines.

    Parameters
    ----------
    result : dict
        Output of :func:`critical_amplitude_sweep`.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``.

    Examples
    --------
    >>> res = {"values": np.array([1e3, 4e3]), "I1_crit": {"common": np.array([5.0, 10.0])},
    ...        "quasi_static": {"common": np.array([40.0, 80.0])}, "parameters": {"vary": "N"}}
    >>> fig = plot_critical_amplitude(res)
    >>> fig.axes[0].get_xscale(), len(fig.axes[0].get_lines())
    ('log', 2)
    """
    colors = {"common": "tab:green", "independent": "tab:purple"}
    vary = result["parameters"]["vary"]
    fig = Figure(figsize=(5, 3.6), layout="tight")
    ax = fig.subplots()
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
        ax.xaxis.set_minor_formatter(NullFormatter())
    p = result["parameters"]
    keys = [k for k in ("N", "g", "f") if k in p and k != vary and not (vary == "K" and k == "N")]
    fixed = ", ".join(f"{k}={p[k]:g}" for k in keys)
    ax.set_title(f"{fixed} (quasi-static: f -> 0)", fontsize=9)
    ax.set_xlabel({"f": r"f ($1/\tau$)", "N": "N", "K": "K", "g": "g"}[vary])
    ax.set_ylabel(r"$I_1^{crit}$")
    ax.legend(fontsize=7)
    return fig


def plot_learning(result, I1_crit=None, threshold=1e-2):
    """The learning figure: the teacher's lambda_1 and the student's test error against I1, and the test
    error against the teacher's lambda_1 (three panels; medians with interquartile ranges).

    Parameters
    ----------
    result : dict
        Output of :func:`learning_vs_amplitude`.
    I1_crit : dict or None
        Critical amplitudes ``{kind: float}`` drawn as dashed vertical lines (e.g. from the DMFT).
    threshold : float
        Training threshold, drawn as a dotted horizontal line.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``.

    Examples
    --------
    >>> res = {"I1": np.array([0.0, 5.0]), "test_error": {"common": np.array([[1.0], [0.5]])},
    ...        "teacher_lambda1": {"common": pq.Quantity([[0.1], [0.05]])}, "parameters": {}}
    >>> fig = plot_learning(res, I1_crit={"common": 3.0})
    >>> len(fig.axes)
    3
    """
    colors = {"common": "tab:green", "independent": "tab:purple"}
    fig = Figure(figsize=(11, 3.4), layout="tight")
    ax0, ax1, ax2 = fig.subplots(1, 3)

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
    return fig


def main(argv=None):
    """Command-line entry point ``sparseprop-balanced``.

    Sub-commands: ``lyapunov`` (lambda_1 vs I1, theory and networks), ``critical`` (I1_crit vs f, N, K
    or g) and ``learning`` (student test error vs the teacher's input amplitude). Results go to ``--out``
    (one JSON file per point, resumable); the figure to ``--figure``. The points run on ``--workers``
    local processes, or on a Dask cluster with ``--scheduler ADDRESS``.

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
    parser, quick = parser_and_mode(argv, prog="sparseprop-balanced", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("lyapunov", "critical", "learning"):
        p = sub.add_parser(name, formatter_class=parser.formatter_class, help=f"{name} sweep")
        add_quick(p)
        p.add_argument("--g", type=float, default=2.0, help="coupling gain")
        p.add_argument("--N", type=float, default=500 if quick else 5000, help="network size")
        p.add_argument("--f", type=float, default=0.2, help="input frequency in units of 1/tau")
        p.add_argument("--J0", type=float, default=1.0, help="mean coupling")
        p.add_argument("--I0", type=float, default=1.0, help="constant input")
        p.add_argument("--kinds", nargs="+", default=list(_KINDS), choices=_KINDS, help="input kinds")
        p.add_argument("--out", default="balanced_results", help="directory of per-point result files")
        p.add_argument("--workers", type=int, default=None, help="local worker processes (None: one per CPU)")
        p.add_argument(
            "--scheduler",
            default=None,
            help="address of a Dask scheduler to run the points on instead (extra 'distributed')",
        )
        p.add_argument("--figure", default=None, help="image file for the figure (None: no figure)")
        p.add_argument("--t-transient", type=float, default=5.0 if quick else 40.0, help="DMFT transient (tau)")
        p.add_argument("--t-measure", type=float, default=5.0 if quick else 60.0, help="DMFT measurement time (tau)")
        p.add_argument("--dt", type=float, default=0.1, help="DMFT grid step (units of tau)")
    lp = sub.choices["lyapunov"]
    lp.add_argument("--I1", default="0,5" if quick else "0:20:20", help="'start:stop:n' or comma-separated values")
    lp.add_argument("--networks", type=int, default=0, help="network realisations per point")
    lp.add_argument("--duration", type=float, default=20.0 if quick else 200.0, help="network averaging time (tau)")
    lrn = sub.choices["learning"]
    lrn.add_argument("--I1", default="0,5" if quick else "0,2,5,10,20", help="'start:stop:n' or comma-separated values")
    lrn.add_argument("--networks", type=int, default=1 if quick else 3, help="teacher/student realisations per point")
    lrn.add_argument("--t-train", type=float, default=60.0 if quick else 300.0, help="longest training time (tau)")
    cp = sub.choices["critical"]
    cp.add_argument("--vary", choices=("f", "N", "K", "g"), required=True, help="the parameter varied")
    cp.add_argument("--values", required=True, help="'start:stop:n' or comma-separated values")
    args = parser.parse_args(argv)
    if args.scheduler is not None and args.workers is not None:
        parser.error("--workers (local processes) and --scheduler (a Dask cluster) exclude each other")
    theory_options = dict(dt=args.dt, t_transient=args.t_transient, t_measure=args.t_measure)
    N = int(args.N) if float(args.N).is_integer() else args.N
    with _dask_executor(args.scheduler) as executor:
        _run_command(args, N, theory_options, executor)
    return 0


@contextlib.contextmanager
def _dask_executor(address):
    """The executor of a Dask client connected to ``address`` while the context lasts (None: no executor)."""
    if address is None:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise SystemExit("--scheduler needs dask.distributed: pip install 'brian2_sparseprop[distributed]'") from exc
    with Client(address) as client:
        yield client.get_executor()


def _run_command(args, N, theory_options, executor):
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
            executor=executor,
            theory_options=theory_options,
            network_options=dict(duration=args.duration),
        )
        for kind, lam in res["theory"].items():
            print(kind, "theory", np.round(lam.magnitude, 4).tolist())
        for kind, lam in res["network"].items():
            print(kind, "network median", np.round(np.median(lam.magnitude, axis=1), 4).tolist())
        if args.figure:
            plot_lyapunov_vs_amplitude(res).savefig(args.figure, dpi=120)
    elif args.command == "learning":
        res = learning_vs_amplitude(
            _floats(args.I1),
            kinds=args.kinds,
            n_networks=args.networks,
            out_dir=args.out,
            n_workers=args.workers,
            executor=executor,
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
            plot_learning(res).savefig(args.figure, dpi=120)
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
            executor=executor,
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
            plot_critical_amplitude(res).savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
