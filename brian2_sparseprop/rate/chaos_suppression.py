"""Chaos suppression in balanced rate networks by common versus independent input: the computations.

* :func:`theory_point` -- lambda_1 of one (I1, f, kind) point from the non-stationary DMFT;
* :func:`network_point` -- lambda_1 and rate of one network realisation;
* :func:`learning_point` -- test error of a student network trained from a driven teacher;
* :func:`critical_amplitude` -- the zero crossing I1_crit of lambda_1(I1) from the DMFT;
* :func:`quasi_static_critical_amplitude` -- the slow-input limit of I1_crit.

Dimensionless sweep tasks. These functions are the tasks of the resumable parallel sweeps in
:mod:`brian2_sparseprop.experiments.balanced` (lambda_1 and learning against I1, I1_crit against f, N,
K or g, their figures and the command line ``sparseprop-balanced``): their parameters and results go to
and from JSON files, so they are plain numbers throughout, the model run in units of its time constant
(``tau=None`` in ``docs/conventions.md``): times in units of tau, frequencies in 1/tau, exponents per tau
(a Quantity in ``tau_unit`` or ``1 / tau_unit`` is accepted as its number). The sweeps turn the results
into Quantities (exponents in ``1 / tau_unit``); for a model with a physical ``tau`` use the functions
they wrap (:func:`~brian2_sparseprop.rate.meanfield.periodic_dmft`,
:class:`~brian2_sparseprop.rate.balanced.BalancedRateNetwork`,
:func:`~brian2_sparseprop.rate.learning.train_student`), which take Quantities.
"""

import numpy as np
import scipy.optimize

from .._validation import check_choice
from .balanced import BalancedRateNetwork, SinusoidalDrive
from .learning import train_student
from .meanfield import periodic_dmft, stationary_dmft

__all__ = [
    "theory_point",
    "network_point",
    "learning_point",
    "critical_amplitude",
    "quasi_static_critical_amplitude",
]

_KINDS = ("common", "independent")


def theory_point(g, I1, f, kind, N, J0=1.0, I0=1.0, dt=0.1, t_transient=40.0, t_measure=60.0, n_phases=16, K=None):
    """lambda_1 (per tau) of one (I1, f, kind) point from the non-stationary DMFT (a dimensionless sweep task).

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
    """lambda_1 (per tau) of one network realisation (a dimensionless sweep task).

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
    """Train a student network from a driven teacher online (full-FORCE, recursive least squares; a
    dimensionless sweep task).

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
    check_choice("kind", kind, _KINDS)
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


def _check_kinds(kinds):
    """The input kinds of a sweep, a tuple of names from ``_KINDS`` (the rule of `check_choice`)."""
    if isinstance(kinds, str):
        raise TypeError(f"kinds must be a sequence of names, found the string {kinds!r}")
    return tuple(check_choice("kinds", k, _KINDS) for k in kinds)


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
    check_choice("kind", kind, _KINDS)
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
    check_choice("kind", kind, _KINDS)
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
