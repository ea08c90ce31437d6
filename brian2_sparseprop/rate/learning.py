"""Training a balanced student network from a driven teacher: full-FORCE with recursive least squares.

Setup (Engelken et al., PLoS Comput Biol 18, e1010590 (2022), Fig 7; full-FORCE: DePasquale, Cueva, Rajan,
Escola & Abbott, PLoS ONE 13, e0191527 (2018)). Time in units of tau internally; with ``tau`` given,
times and the frequency are Quantities and the results are in seconds and 1/s.

* Teacher T (weights fixed): ``dh_T/dt = -h_T + J phi(h_T) + c0 + I1 sin(2 pi f t + theta_i)``, a
  :class:`~brian2_sparseprop.rate.balanced.BalancedRateNetwork` with ``c0 = sqrt(N) I0``; common (``theta_i = 0``)
  or independent (uniform random ``theta_i``) input.
* Student S (same size, same constant input ``c0``, no time-varying input, its own random initial weights
  drawn from the same ensemble): ``dh_S/dt = -h_S + J_S phi(h_S) + c0``, output ``z = w . phi(h_S)``.
* Training, online while the student runs its own dynamics: every ``update_every`` steps the rows of
  ``J_S`` are moved so that the student's recurrent input ``J_S phi(h_S(t))`` matches the teacher's
  recurrent plus external input ``J phi(h_T(t)) + I1 sin(2 pi f t + theta_i)``, and ``w`` so that
  ``z(t)`` matches the target output ``f_out(t) = sin(2 pi f t)``. All N + 1 rows share the regressor
  ``phi(h_S)``, hence one inverse correlation matrix ``P`` (N x N) serves them all: O(N^2) per update
  (:class:`RecursiveLeastSquares`).
* Stopping: every few periods a copy of the student runs freely (no teacher, no updates) for ``t_test``;
  training stops when the output error of that free run (mean squared error over the target's variance
  1/2) is below ``error_threshold`` (1e-2 as in the paper), or at ``t_train_max``. The error during
  training itself is no criterion: RLS keeps it small even when the student cannot run on its own.
* Test: the free run from the end of training continues for a second window ``t_test``; its output
  error is the test error.

The student succeeds when its recurrent input, by reproducing the teacher's total input, makes it follow
the teacher's trajectory; that requires the driven teacher's trajectory to be stable against small
deviations, i.e. a teacher whose chaos the input has suppressed (lambda_1 < 0).
"""

from dataclasses import dataclass

import neo
import numpy as np
import quantities as pq

from .._validation import (
    check_array,
    check_choice,
    check_int as _check_int,
    check_quantity,
    check_real as _check_real,
    in_tau,
)
from ..lyapunov import tau_unit
from .balanced import BalancedRateNetwork
from .nonlinearities import NONLINEARITIES

_relu = NONLINEARITIES["relu"].phi  # the students' and teachers' transfer function

__all__ = ["RecursiveLeastSquares", "StudentTraining", "train_student"]

_KINDS = ("common", "independent")


class RecursiveLeastSquares:
    """Online ridge regression ``y ~ W x`` for several outputs sharing one regressor ``x``.

    After the samples ``x_1 .. x_n`` (rows of X) and targets ``y_1 .. y_n`` (rows of Y), starting from
    ``W0`` and ``P0 = I / alpha``, the weights are exactly the ridge solution
    ``W_n = (alpha W0 + Y^T X) (alpha I + X^T X)^-1`` and ``P_n = (alpha I + X^T X)^-1``; each update
    costs O(n_inputs^2 + n_outputs n_inputs) (Sherman-Morrison), as in FORCE learning.

    Parameters
    ----------
    n_inputs : int
        Dimension of ``x`` (>= 1).
    n_outputs : int
        Number of outputs, rows of ``W`` (>= 1).
    alpha : float
        Regulariser (> 0): ``P`` starts as ``I / alpha``; larger values learn more slowly.
    W0 : ndarray or None
        Initial weights, shape (n_outputs, n_inputs); zeros when None.

    Raises
    ------
    TypeError
        For non-integer sizes or a non-real ``alpha``.
    ValueError
        For sizes < 1, ``alpha <= 0`` or a ``W0`` of the wrong shape or with non-finite entries.

    Examples
    --------
    >>> rls = RecursiveLeastSquares(2, 1, alpha=1e-6)
    >>> for x in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]):
    ...     _ = rls.update(np.array(x), np.array([3 * x[0] - x[1]]))
    >>> np.round(rls.weights, 4)
    array([[ 3., -1.]])
    """

    def __init__(self, n_inputs, n_outputs, alpha=1.0, W0=None):
        n_inputs = _check_int("n_inputs", n_inputs, 1)
        n_outputs = _check_int("n_outputs", n_outputs, 1)
        alpha = _check_real("alpha", alpha, positive=True)
        if W0 is None:
            W = np.zeros((n_outputs, n_inputs))
        else:
            W = check_array("W0", W0, shape=(n_outputs, n_inputs)).copy()
        self.alpha = alpha
        self.weights = W
        self.P = np.eye(n_inputs) / alpha

    def update(self, x, y):
        """One recursive least-squares step with the sample ``(x, y)``.

        Parameters
        ----------
        x : ndarray, shape (n_inputs,)
            Regressor.
        y : ndarray, shape (n_outputs,)
            Target of ``W x``.

        Returns
        -------
        ndarray, shape (n_outputs,)
            The error ``W x - y`` before the update.

        Raises
        ------
        TypeError
            If ``x`` or ``y`` is not an array of numbers.
        ValueError
            If ``x`` or ``y`` has the wrong shape or a non-finite entry (NaN or inf): refused before the
            weights change, since one NaN would spread to every weight and to ``P``.

        Examples
        --------
        >>> rls = RecursiveLeastSquares(1, 1, alpha=1.0)
        >>> rls.update(np.array([1.0]), np.array([2.0]))
        array([-2.])
        >>> rls.weights
        array([[1.]])
        """
        n_out, n_in = self.weights.shape
        x = check_array("x", x, shape=(n_in,))
        y = check_array("y", y, shape=(n_out,))
        k = self.P @ x
        c = 1.0 / (1.0 + x @ k)
        self.P -= c * np.outer(k, k)
        error = self.weights @ x - y
        self.weights -= c * np.outer(error, k)
        return error


@dataclass(frozen=True)
class StudentTraining:
    """Result of :func:`train_student`.

    Time axes and durations are in seconds and the exponent in 1/s when ``tau`` was given, otherwise in
    the unit ``tau`` and 1/tau (:data:`~brian2_sparseprop.lyapunov.tau_unit`; annotation ``time_unit``).

    Attributes
    ----------
    test_error : float
        Mean squared output error of the free-running student, over the target's variance, in the window
        ``t_test`` that follows the window of the last stopping check (so the stopping decision does not
        select the reported error).
    converged : bool
        Whether a stopping check found an error below the threshold before ``t_train_max``.
    t_trained : Quantity (time or tau)
        Training time used.
    training_error : neo.AnalogSignal
        Output error over each period of training (before the updates), over the target's variance.
    recurrent_error : neo.AnalogSignal
        Relative error of the student's recurrent input against the teacher's total input, per period:
        ``sum (J_S r_S - J r_T - drive)^2 / sum (J r_T + drive - mean over time)^2``.
    validation_error : Quantity (dimensionless)
        Output error of the free-running student over ``t_test`` at each stopping check.
    teacher_lambda1 : Quantity (1/s or 1/tau)
        Largest Lyapunov exponent of the driven teacher (over its whole run after 10 tau).
    output : neo.AnalogSignal
        Free run after training (2 t_test: the last stopping check's window, then the test window):
        columns ``z(t)`` and the target ``sin(2 pi f t)``.
    rates : neo.AnalogSignal
        The same free run: rates of the first ``n_record`` neurons, teacher's then student's
        (shape (n_samples, 2 n_record)).
    recurrent_weights : ndarray, shape (N, N)
        Trained ``J_S``.
    readout : ndarray, shape (N,)
        Trained ``w``.
    """

    test_error: float
    converged: bool
    t_trained: pq.Quantity
    training_error: neo.AnalogSignal
    recurrent_error: neo.AnalogSignal
    validation_error: pq.Quantity
    teacher_lambda1: pq.Quantity
    output: neo.AnalogSignal
    rates: neo.AnalogSignal
    recurrent_weights: np.ndarray
    readout: np.ndarray


def train_student(
    I1,
    kind,
    *,
    N=500,
    g=2.0,
    J0=1.0,
    I0=1.0,
    f=None,
    seed=None,
    dt=None,
    t_transient=None,
    t_train_max=None,
    t_test=None,
    tau=None,
    error_threshold=1e-2,
    min_periods=12,
    check_every=4,
    update_every=2,
    alpha=1.0,
    n_record=4,
):
    """Train a student balanced network from a driven teacher online by recursive least squares.

    See the module docstring for the equations. The teacher first runs for ``t_transient`` (the
    student's state is then set to the teacher's), then teacher and student run side by side while the
    student's recurrent weights and readout are trained, one period at a time. Every ``check_every``
    periods (after ``min_periods``) a copy of the student runs freely for ``t_test``; training stops when
    its output error is below ``error_threshold`` or at ``t_train_max``. The test error is measured on
    the free run's next window of ``t_test``.

    Parameters
    ----------
    I1 : float
        Amplitude of the teacher's input (>= 0).
    kind : {'common', 'independent'}
        Phases of the teacher's input.
    N : int
        Network size (>= 2).
    g, J0, I0 : float
        Coupling gain, mean coupling and constant input of both networks.
    f : Quantity (frequency), float or None
        Frequency of the input and of the target output (> 0; None: 0.2/tau). Like every time below, a
        Quantity when ``tau`` is given, else a plain number in units of tau (1/tau).
    seed : int or None
        Seed of the teacher (couplings, phases, initial state); the student's initial weights use
        ``seed + 1`` (an independent realisation).
    dt : Quantity (time), float or None
        Step (> 0; None: 0.05 tau); the student uses exponential Euler with its coupling explicit.
    t_transient, t_train_max, t_test : Quantity (time), float or None
        Teacher transient, longest training and test duration (None: 50, 300 and 50 tau).
    tau : Quantity (time) or None
        Time constant of both networks, as in
        :class:`~brian2_sparseprop.rate.balanced.BalancedRateNetwork`: given, the results are in
        seconds and 1/s; None, in the unit ``tau`` and 1/tau.
    error_threshold : float
        Training stops once the free-running output error of a stopping check is below this (> 0).
    min_periods : int
        Least number of training periods (>= 1). Stopping at the first check that passes leaves the
        free-running oscillator's frequency slightly off; 12 periods (60 tau at f = 0.2) gave test errors
        of 1e-3 where 4 periods gave 0.04 (independent input, I1 = 20, N = 500).
    check_every : int
        Training periods between two stopping checks (>= 1); a check runs a copy of the student freely
        for ``t_test`` and stops training when its output error is below ``error_threshold``.
    update_every : int
        Steps between two recursive least-squares updates (>= 1).
    alpha : float
        Regulariser of the recursive least squares (``P(0) = I / alpha``, > 0).
    n_record : int
        Neurons whose teacher and student rates are returned for the test phase (0 <= n_record <= N).

    Returns
    -------
    StudentTraining

    Raises
    ------
    TypeError
        For arguments of the wrong kind.
    ValueError
        For values outside the stated ranges (before any simulation).

    Examples
    --------
    >>> res = train_student(10.0, "independent", N=100, seed=0, t_transient=10.0, t_train_max=60.0,
    ...                     t_test=10.0)
    >>> res.output.shape, res.output.sampling_period
    ((400, 2), array(0.05) * tau)
    >>> import quantities as pq
    >>> res = train_student(10.0, "independent", N=100, seed=0, f=20 * pq.Hz, dt=0.5 * pq.ms,
    ...                     t_transient=100 * pq.ms, t_train_max=600 * pq.ms, t_test=100 * pq.ms, tau=10 * pq.ms)
    >>> res.output.sampling_period.rescale(pq.ms), res.teacher_lambda1.units
    (array(0.5) * ms, array(1.) * 1/s)
    """
    I1 = _check_real("I1", I1, nonnegative=True)
    kind = check_choice("kind", kind, _KINDS)
    N = _check_int("N", N, 2)
    tau = check_quantity("tau", tau, "time", positive=True, none=True)
    f = 0.2 if f is None else in_tau("f", f, tau, "frequency", positive=True)
    dt = 0.05 if dt is None else in_tau("dt", dt, tau, "time", positive=True)
    t_transient = 50.0 if t_transient is None else in_tau("t_transient", t_transient, tau, "time", nonnegative=True)
    t_train_max = 300.0 if t_train_max is None else in_tau("t_train_max", t_train_max, tau, "time", positive=True)
    t_test = 50.0 if t_test is None else in_tau("t_test", t_test, tau, "time", positive=True)
    error_threshold = _check_real("error_threshold", error_threshold, positive=True)
    min_periods = _check_int("min_periods", min_periods, 1)
    check_every = _check_int("check_every", check_every, 1)
    update_every = _check_int("update_every", update_every, 1)
    alpha = _check_real("alpha", alpha, positive=True)
    n_record = _check_int("n_record", n_record, 0)
    if n_record > N:
        raise ValueError(f"n_record must be <= N = {N}, found: {n_record}")
    steps_per_period = int(round(1.0 / (f * dt)))
    if steps_per_period < 2 * update_every:
        raise ValueError(
            f"dt must resolve the input: 1/(f dt) = {1.0 / (f * dt):.3g} steps per period must be "
            f">= 2 update_every = {2 * update_every}"
        )
    n_periods_max = int(np.ceil(t_train_max * f))
    if n_periods_max < min_periods:
        raise ValueError(
            f"t_train_max must hold min_periods = {min_periods} periods of 1/f = {1.0 / f:.3g}, found: {t_train_max}"
        )
    teacher = BalancedRateNetwork(N, g=g, J0=J0, I0=I0, seed=seed)
    student = BalancedRateNetwork(N, g=g, J0=J0, I0=I0, seed=None if seed is None else seed + 1)
    phase_rng = np.random.default_rng(None if seed is None else seed + 7919)
    theta = np.zeros(N) if kind == "common" else phase_rng.uniform(0.0, 2 * np.pi, N)
    omega = 2 * np.pi * f
    dt_true = 1.0 / (f * steps_per_period)  # an integer number of steps per period

    warm = teacher.run(
        dt_true,
        drive=lambda t: I1 * np.sin(omega * t + theta),
        dt=dt_true,
        t_transient=t_transient,
        n_exponents=0,
        n_record=0,
    )
    t0 = dt_true * (int(round(t_transient / dt_true)) + 1)  # time of warm.state
    n_train_max = n_periods_max * steps_per_period
    n_test = int(round(t_test / dt_true))
    run = teacher.run(
        dt_true * (n_train_max + 2 * n_test),
        drive=lambda t: I1 * np.sin(omega * (t0 + t) + theta),
        dt=dt_true,
        t_transient=0.0,
        n_exponents=1,
        n_record=N,
        h0=warm.state,
    )
    R_T = run.rates.magnitude  # phi(h_T) at t0 + j dt, j = 0 .. n_train_max + 2 n_test - 1
    t = t0 + dt_true * np.arange(len(R_T))
    J = teacher.coupling_matrix()
    local = run.local_exponents.magnitude[:, 0]

    rls = RecursiveLeastSquares(N, N + 1, alpha=alpha, W0=np.vstack([student.coupling_matrix(), np.zeros((1, N))]))
    a, b = np.exp(-dt_true), -np.expm1(-dt_true)
    c0 = teacher.constant_input

    def autonomous(h, n, J_S, w):
        """Free run of the student: outputs and states' rates, without updates."""
        z = np.empty(n)
        rates = np.empty((n, N))
        for i in range(n):
            r = _relu(h)
            z[i] = w @ r
            rates[i] = r
            h = a * h + b * (J_S @ r + c0)
            if not np.all(np.isfinite(h)):
                raise FloatingPointError("the free-running student diverged; reduce dt or increase alpha")
        return z, rates

    h = warm.state.copy()
    train_err, rec_err, val_err = [], [], []
    converged = False
    j = 0
    for n_done in range(1, n_periods_max + 1):
        sq_out = sq_rec = var_rec = 0.0
        block = slice(j, j + steps_per_period)
        targets = R_T[block] @ J.T + I1 * np.sin(omega * t[block, None] + theta[None, :])
        target_mean = targets.mean(axis=0)
        for step in range(steps_per_period):
            r = _relu(h)
            y = np.append(targets[step], np.sin(omega * t[j]))
            if step % update_every == 0:
                e = rls.update(r, y)
            else:
                e = rls.weights @ r - y
            sq_out += e[-1] ** 2
            sq_rec += e[:-1] @ e[:-1]
            var_rec += np.sum((targets[step] - target_mean) ** 2)
            h = a * h + b * (rls.weights[:-1] @ r + c0)
            if not np.all(np.isfinite(h)):
                raise FloatingPointError(f"student diverged at t = {t[j]:.4g} tau; reduce dt or increase alpha")
            j += 1
        train_err.append(sq_out / steps_per_period / 0.5)
        rec_err.append(sq_rec / var_rec if var_rec > 0 else np.inf)
        if n_done >= min_periods and (n_done % check_every == 0 or n_done == n_periods_max):
            z, _ = autonomous(h.copy(), n_test, rls.weights[:-1], rls.weights[-1])
            val_err.append(float(np.mean((z - np.sin(omega * t[j : j + n_test])) ** 2) / 0.5))
            if val_err[-1] < error_threshold:
                converged = True
                break
    n_trained = j
    J_S, w = rls.weights[:-1], rls.weights[-1]
    z, rates_S = autonomous(h.copy(), 2 * n_test, J_S, w)
    t_out = t[n_trained : n_trained + 2 * n_test]
    target_out = np.sin(omega * t_out)
    test_error = float(np.mean((z[n_test:] - target_out[n_test:]) ** 2) / 0.5)
    # lambda_1 of the teacher over its whole run (training window and test), after 10 tau of alignment
    lam = float(np.mean(local[min(10, len(local) // 2) :]))

    annotations = dict(
        I1=I1,
        kind=kind,
        N=N,
        g=g,
        J0=J0,
        I0=I0,
        f=f,
        seed=seed,
        dt_tau=dt_true,
        alpha=alpha,
        update_every=update_every,
        error_threshold=error_threshold,
        time_unit="tau" if tau is None else "s",
    )
    # times are in units of tau here: with a tau, in seconds on the outputs
    scale, tunit = (1.0, tau_unit) if tau is None else (float(tau.rescale(pq.s).magnitude), pq.s)

    def signal(values, period, start, name):
        return neo.AnalogSignal(
            np.asarray(values, dtype=float),
            units=pq.dimensionless,
            sampling_period=period * scale * tunit,
            t_start=start * scale * tunit,
            name=name,
            **annotations,
        )

    period = dt_true * steps_per_period
    return StudentTraining(
        test_error=test_error,
        converged=converged,
        t_trained=pq.Quantity(n_trained * dt_true * scale, tunit),
        training_error=signal(np.array(train_err)[:, None], period, t0, "training error"),
        recurrent_error=signal(np.array(rec_err)[:, None], period, t0, "recurrent input error"),
        teacher_lambda1=pq.Quantity(lam / scale, 1 / tunit),
        output=signal(np.column_stack([z, target_out]), dt_true, t_out[0], "output and target"),
        validation_error=pq.Quantity(val_err, pq.dimensionless),
        rates=signal(
            np.column_stack([R_T[n_trained : n_trained + 2 * n_test, :n_record], rates_S[:, :n_record]]),
            dt_true,
            t_out[0],
            "teacher and student rates",
        ),
        recurrent_weights=J_S,
        readout=w,
    )
