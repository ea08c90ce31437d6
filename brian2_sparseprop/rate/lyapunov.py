"""Lyapunov spectra of rate networks and of discrete-time recurrent networks (RNN, LSTM, GRU).

The spectrum is computed with the standard QR (Benettin) method: an orthonormal system of ``k``
tangent vectors is carried along the trajectory by the Jacobian of the one-step map and
re-orthonormalised every ``reorth_interval`` steps; the logarithms of the diagonal of ``R`` are the
local exponents, and their time averages the Lyapunov exponents.

Models
------
- :class:`RateNetwork`: continuous time, ``tau dx/dt = -x + J phi(x) + b + input(t)``, integrated
  with the classical Runge-Kutta scheme (RK4) at a fixed step ``dt``; the tangent vectors are
  integrated by the same scheme, so the tangent map is exactly the Jacobian of the RK4 step.
  Exponents in 1/s.
- :class:`RNN`: ``x_t = J phi(x_{t-1}) + b + W_in s_t``. Exponents per step.
- :class:`LSTM`, :class:`GRU`: the standard gated state updates (state ``(h, c)`` for the LSTM).
  Exponents per step.

Only numpy and scipy are used: per step the cost is dominated by one (``N x N``) by (``N x k``)
matrix product (four for RK4) and a QR factorisation, which BLAS/LAPACK already run at full speed,
so a compiled loop would not pay.
"""

import math
import numbers
import warnings

import numpy as np
import quantities as pq
import scipy.sparse

from .._validation import check_array, check_int as _check_int, check_quantity, check_real, check_signal, is_signal
from ..connectivity import fixed_out_degree
from ..lyapunov import QRAccumulator, step
from .nonlinearities import NONLINEARITIES, resolve

_sigmoid = NONLINEARITIES["sigmoid"].phi
_tanh = NONLINEARITIES["tanh"].phi

__all__ = [
    "random_coupling",
    "RateNetwork",
    "RNN",
    "LSTM",
    "GRU",
    "lyapunov_spectrum",
    "largest_exponent_two_trajectories",
    "meanfield_largest_exponent",
]


# ----------------------------------------------------------------------------- validation helpers


def _as_matrix(name, a, allow_sparse=False):
    if allow_sparse and scipy.sparse.issparse(a):
        a = scipy.sparse.csr_array(a, dtype=float)
        if not np.all(np.isfinite(a.data)):
            raise ValueError(f"{name} must be finite, found non-finite entries")
        return a
    return check_array(name, a, ndim=2)


def _as_vector(name, a, n):
    return np.zeros(n) if a is None else check_array(name, a, shape=(n,))


# ----------------------------------------------------------------------------- coupling matrices


def random_coupling(N, g, *, K=None, self_coupling=False, rng=None):
    """Random Gaussian coupling matrix of gain ``g``.

    Dense (``K=None``): entries i.i.d. normal with variance ``g**2 / N``. Sparse: every row has
    exactly ``K`` nonzero entries at random columns, of variance ``g**2 / K``. In both cases the
    row sums of squares average ``g**2``, so ``g`` is the gain of the classical
    Sompolinsky-Crisanti-Sommers network.

    Parameters
    ----------
    N : int
        Number of units.
    g : float
        Gain (dimensionless), >= 0.
    K : int or None
        In-degree of the sparse matrix (``1 <= K <= N - 1`` without self-coupling), or None for dense.
    self_coupling : bool
        Whether the diagonal may be nonzero; without it, ``J_ii = 0``.
    rng : numpy.random.Generator, int or None
        Random generator or seed.

    Returns
    -------
    J : numpy.ndarray or scipy.sparse.csr_array, shape (N, N)
        Dense array, or a CSR sparse array when ``K`` is given.

    Raises
    ------
    TypeError
        If ``N`` or ``K`` is not an int.
    ValueError
        If ``N < 1``, ``g < 0`` or ``K`` is out of range.

    Examples
    --------
    >>> J = random_coupling(100, 2.0, rng=0)
    >>> J.shape, float(J[0, 0])
    ((100, 100), 0.0)
    """
    N = _check_int("N", N, 1)
    g = check_real("g", g, nonnegative=True)
    rng = np.random.default_rng(rng)
    if K is None:
        J = rng.normal(0.0, g / math.sqrt(N), size=(N, N))
        if not self_coupling:
            np.fill_diagonal(J, 0.0)
        return J
    K = _check_int("K", K, 1)
    kmax = N if self_coupling else N - 1
    if K > kmax:
        raise ValueError(f"K must be <= {kmax} for N = {N} (self_coupling={self_coupling}), found: {K}")
    indptr, cols = fixed_out_degree(N, K, rng, autapses=bool(self_coupling), multapses=False)
    vals = rng.normal(0.0, g / math.sqrt(K), size=N * K)
    return scipy.sparse.csr_array((vals, cols, indptr), shape=(N, N))


# ----------------------------------------------------------------------------- models


class _Model:
    """Common interface of the models: state dimension, step map and tangent map."""

    #: True for flows (exponents in 1/s), False for maps (exponents per step).
    continuous = False

    @property
    def dim(self):
        """Dimension of the state (``N``, or ``2 N`` for the LSTM)."""
        raise NotImplementedError

    @property
    def n_inputs(self):
        """Number of input channels per step (0 if the model takes none)."""
        raise NotImplementedError

    @property
    def time_step(self):
        """Duration of one step: a time Quantity for flows, ``1 * step`` for maps."""
        return 1.0 * step

    def _dt_seconds(self):
        return 1.0

    def step(self, x, s=None):
        """Advance the state by one step.

        Parameters
        ----------
        x : numpy.ndarray, shape (dim,)
            State.
        s : numpy.ndarray, shape (n_inputs,) or None
            Input during this step (None: zero input).

        Returns
        -------
        numpy.ndarray, shape (dim,)
            The next state.
        """
        return self._tangent(x, s, None)[0]

    def jacobian(self, x, s=None):
        """Jacobian of the one-step map at state ``x`` with input ``s``.

        Parameters
        ----------
        x : numpy.ndarray, shape (dim,)
            State.
        s : numpy.ndarray, shape (n_inputs,) or None
            Input during this step (None: zero input).

        Returns
        -------
        numpy.ndarray, shape (dim, dim)
            ``d step(x, s) / dx``; for :class:`RateNetwork` the Jacobian of one RK4 step.
        """
        return self._tangent(np.asarray(x, dtype=float), s, np.eye(self.dim))[1]

    def _tangent(self, x, s, Q):
        """Return ``(step(x, s), jacobian(x, s) @ Q)``; ``Q`` may be None (state only)."""
        raise NotImplementedError

    def _params(self):
        raise NotImplementedError


def _seconds(value):
    """A plain real number as a time Quantity in seconds (the SI convention); anything else unchanged."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return value * pq.s
    return value


class RateNetwork(_Model):
    """Continuous-time rate network ``tau dx/dt = -x + J phi(x) + b + input(t)``.

    Integrated with the classical fourth-order Runge-Kutta scheme at a fixed step ``dt``; an input
    given per step is held constant during the step. Exponents come back in 1/s.

    Parameters
    ----------
    J : array_like or scipy.sparse array, shape (N, N)
        Coupling matrix (dimensionless), e.g. from :func:`random_coupling`.
    tau : Quantity (time) or float
        Time constant, > 0 (a plain number is in seconds).
    dt : Quantity (time) or float
        Integration step (a plain number is in seconds), ``0 < dt <= tau / 2`` (RK4 accuracy and
        stability need ``dt`` well below ``tau / (1 + g)``; ``tau / 20`` is a good default for gains up
        to about 5).
    phi : {'tanh', 'erf', 'sigmoid', 'relu'} or tuple of two callables
        Nonlinearity, or a pair ``(phi, dphi)`` of vectorised callables.
    b : float or array_like, shape (N,)
        Constant bias (dimensionless).

    Raises
    ------
    TypeError
        If ``tau`` or ``dt`` is neither a time Quantity nor a real number, or ``phi`` is neither a name
        nor a pair of callables.
    ValueError
        If ``J`` is not square and finite, ``tau`` or ``dt`` is not a positive time, ``dt > tau / 2``,
        or ``b`` has the wrong shape.

    Examples
    --------
    >>> import quantities as pq
    >>> net = RateNetwork(random_coupling(50, 2.0, rng=1), tau=10 * pq.ms, dt=0.5 * pq.ms)
    >>> net.dim, net.time_step
    (50, array(0.5) * ms)
    """

    continuous = True

    def __init__(self, J, tau, dt, *, phi="tanh", b=0.0):
        self.J = _as_matrix("J", J, allow_sparse=True)
        N = self.J.shape[0]
        if self.J.shape != (N, N):
            raise ValueError(f"J must be square, found shape {self.J.shape}")
        self.tau = check_quantity("tau", _seconds(tau), "time", positive=True)
        self.dt = check_quantity("dt", _seconds(dt), "time", positive=True)
        self._tau = float(self.tau.rescale(pq.s).magnitude)
        self._dt = float(self.dt.rescale(pq.s).magnitude)
        if self._dt > 0.5 * self._tau:
            raise ValueError(f"dt must be <= tau / 2 for an accurate RK4 step, found: dt = {dt}, tau = {tau}")
        f = resolve(phi, callables=True)
        self.phi, self.dphi, self._phi_name = f.phi, f.dphi, f.name
        self.b = _as_vector("b", b, N)

    @property
    def dim(self):
        return self.J.shape[0]

    @property
    def n_inputs(self):
        return self.J.shape[0]

    @property
    def time_step(self):
        return self.dt

    def _dt_seconds(self):
        return self._dt

    def _rhs(self, x, drive, Q):
        f = (-x + self.J @ self.phi(x) + drive) / self._tau
        if Q is None:
            return f, None
        return f, (-Q + self.J @ (self.dphi(x)[:, None] * Q)) / self._tau

    def _tangent(self, x, s, Q):
        h = self._dt
        drive = self.b if s is None else self.b + s
        k1, q1 = self._rhs(x, drive, Q)
        x2 = x + 0.5 * h * k1
        k2, q2 = self._rhs(x2, drive, None if Q is None else Q + 0.5 * h * q1)
        x3 = x + 0.5 * h * k2
        k3, q3 = self._rhs(x3, drive, None if Q is None else Q + 0.5 * h * q2)
        x4 = x + h * k3
        k4, q4 = self._rhs(x4, drive, None if Q is None else Q + h * q3)
        x_new = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        if Q is None:
            return x_new, None
        return x_new, Q + (h / 6.0) * (q1 + 2 * q2 + 2 * q3 + q4)

    def _params(self):
        return {"model": "RateNetwork", "N": self.dim, "tau": self.tau, "dt": self.dt, "phi": self._phi_name}


class RNN(_Model):
    """Discrete-time recurrent network ``x_t = J phi(x_{t-1}) + b + W_in s_t``.

    Parameters
    ----------
    J : array_like or scipy.sparse array, shape (N, N)
        Recurrent weights.
    phi : {'tanh', 'erf', 'sigmoid', 'relu'} or tuple of two callables
        Nonlinearity, or a pair ``(phi, dphi)`` of vectorised callables.
    b : float or array_like, shape (N,)
        Bias.
    W_in : array_like, shape (N, n_inputs), or None
        Input weights (None: the network takes no input).

    Raises
    ------
    TypeError
        If ``phi`` is neither a name nor a pair of callables, or an array is not numeric.
    ValueError
        If the shapes disagree or entries are not finite.

    Examples
    --------
    >>> net = RNN(random_coupling(20, 1.5, rng=0))
    >>> net.step(np.ones(20)).shape
    (20,)
    """

    def __init__(self, J, *, phi="tanh", b=0.0, W_in=None):
        self.J = _as_matrix("J", J, allow_sparse=True)
        N = self.J.shape[0]
        if self.J.shape != (N, N):
            raise ValueError(f"J must be square, found shape {self.J.shape}")
        f = resolve(phi, callables=True)
        self.phi, self.dphi, self._phi_name = f.phi, f.dphi, f.name
        self.b = _as_vector("b", b, N)
        self.W_in = None if W_in is None else _as_matrix("W_in", W_in)
        if self.W_in is not None and self.W_in.shape[0] != N:
            raise ValueError(f"W_in must have {N} rows, found shape {self.W_in.shape}")

    @property
    def dim(self):
        return self.J.shape[0]

    @property
    def n_inputs(self):
        return 0 if self.W_in is None else self.W_in.shape[1]

    def _tangent(self, x, s, Q):
        x_new = self.J @ self.phi(x) + self.b
        if s is not None:
            x_new = x_new + self.W_in @ s
        if Q is None:
            return x_new, None
        return x_new, self.J @ (self.dphi(x)[:, None] * Q)

    def _params(self):
        return {"model": "RNN", "N": self.dim, "phi": self._phi_name}


class _GatedModel(_Model):
    """Shared validation of the LSTM and GRU weights (``n_gates`` blocks of ``N`` rows)."""

    _n_gates = 0

    def __init__(self, U, W=None, b=0.0):
        U = _as_matrix("U", U)
        G = self._n_gates
        if U.shape[0] % G or U.shape[1] * G != U.shape[0]:
            raise ValueError(f"U must have shape ({G} N, N), found: {U.shape}")
        N = U.shape[1]
        self.U = U
        self.W = None if W is None else _as_matrix("W", W)
        if self.W is not None and self.W.shape[0] != G * N:
            raise ValueError(f"W must have {G * N} rows ({G} N), found shape {self.W.shape}")
        self.b = _as_vector("b", b, G * N)
        self.N = N

    @property
    def n_inputs(self):
        return 0 if self.W is None else self.W.shape[1]

    def _pre(self, h, s):
        a = self.U @ h + self.b
        if s is not None:
            a = a + self.W @ s
        return a


class LSTM(_GatedModel):
    """LSTM state update; the state is ``x = (h, c)`` of dimension ``2 N``.

    With pre-activations ``a = U h + W s + b`` split into gates ``(i, f, g, o)`` (PyTorch order):
    ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``.

    Parameters
    ----------
    U : array_like, shape (4 N, N)
        Recurrent weights of the four gates, stacked.
    W : array_like, shape (4 N, n_inputs), or None
        Input weights (None: no input).
    b : float or array_like, shape (4 N,)
        Biases.

    Raises
    ------
    ValueError
        If the shapes disagree or entries are not finite.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lstm = LSTM(rng.normal(0, 1, (40, 10)))
    >>> lstm.dim
    20
    """

    _n_gates = 4

    @property
    def dim(self):
        return 2 * self.N

    def _tangent(self, x, s, Q):
        N = self.N
        h, c = x[:N], x[N:]
        a = self._pre(h, s)
        ai, af, ag, ao = a[:N], a[N : 2 * N], a[2 * N : 3 * N], a[3 * N :]
        i, f, g, o = _sigmoid(ai), _sigmoid(af), _tanh(ag), _sigmoid(ao)
        c_new = f * c + i * g
        tc = _tanh(c_new)
        x_new = np.concatenate([o * tc, c_new])
        if Q is None:
            return x_new, None
        Qh, Qc = Q[:N], Q[N:]
        da = self.U @ Qh
        di = (i * (1 - i))[:, None] * da[:N]
        df = (f * (1 - f))[:, None] * da[N : 2 * N]
        dg = (1 - g**2)[:, None] * da[2 * N : 3 * N]
        do = (o * (1 - o))[:, None] * da[3 * N :]
        dc = f[:, None] * Qc + c[:, None] * df + g[:, None] * di + i[:, None] * dg
        dh = tc[:, None] * do + (o * (1 - tc**2))[:, None] * dc
        return x_new, np.concatenate([dh, dc])

    def _params(self):
        return {"model": "LSTM", "N": self.N}


class GRU(_GatedModel):
    """GRU state update (PyTorch convention, without the hidden bias inside the reset product).

    With pre-activations ``a = U h + W s + b`` split into ``(r, z, n)`` blocks:
    ``r = sigmoid(a_r)``, ``z = sigmoid(a_z)``, ``n = tanh(W_n s + b_n + r * (U_n h))``,
    ``h' = (1 - z) * n + z * h``.

    Parameters
    ----------
    U : array_like, shape (3 N, N)
        Recurrent weights of the reset, update and candidate blocks, stacked.
    W : array_like, shape (3 N, n_inputs), or None
        Input weights (None: no input).
    b : float or array_like, shape (3 N,)
        Biases.

    Raises
    ------
    ValueError
        If the shapes disagree or entries are not finite.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> GRU(rng.normal(0, 1, (30, 10))).dim
    10
    """

    _n_gates = 3

    @property
    def dim(self):
        return self.N

    def _tangent(self, h, s, Q):
        N = self.N
        a_in = self.b.copy() if s is None else self.b + self.W @ s
        m_all = self.U @ h
        r = _sigmoid(a_in[:N] + m_all[:N])
        z = _sigmoid(a_in[N : 2 * N] + m_all[N : 2 * N])
        m = m_all[2 * N :]
        n = _tanh(a_in[2 * N :] + r * m)
        h_new = (1 - z) * n + z * h
        if Q is None:
            return h_new, None
        dm_all = self.U @ Q
        dr = (r * (1 - r))[:, None] * dm_all[:N]
        dz = (z * (1 - z))[:, None] * dm_all[N : 2 * N]
        dn = (1 - n**2)[:, None] * (m[:, None] * dr + r[:, None] * dm_all[2 * N :])
        dh = (1 - z)[:, None] * dn + (h - n)[:, None] * dz + z[:, None] * Q
        return h_new, dh

    def _params(self):
        return {"model": "GRU", "N": self.N}


# ----------------------------------------------------------------------------- algorithms


def _check_model(model):
    if not isinstance(model, _Model):
        raise TypeError(f"model must be a RateNetwork, RNN, LSTM or GRU, found: {type(model).__name__}")


def _prepare(model, n_total, x0, inputs, rng):
    if x0 is None:
        x = 0.5 * rng.standard_normal(model.dim)
    else:
        x = check_array("x0", x0, shape=(model.dim,)).copy()
    if inputs is None:
        return x, None
    if is_signal(inputs):
        inputs = check_signal("inputs", inputs, model.time_step)
    inputs = check_array("inputs", inputs)
    if inputs.ndim == 1:
        inputs = inputs[:, None]
    if model.n_inputs == 0:
        raise ValueError("inputs were given but the model takes none (no input weights)")
    if inputs.shape != (n_total, model.n_inputs):
        raise ValueError(
            f"inputs must have shape (n_transient + n_transient_ons + n_steps, n_inputs) "
            f"= ({n_total}, {model.n_inputs}), found: {inputs.shape}"
        )
    return x, inputs


def lyapunov_spectrum(
    model,
    n_steps,
    *,
    k=None,
    x0=None,
    inputs=None,
    reorth_interval=1,
    n_transient=0,
    n_transient_ons=0,
    n_batches=20,
    rng=None,
):
    """Lyapunov spectrum (all exponents or the first ``k``) by the QR (Benettin) method.

    The state is first run for ``n_transient`` steps alone; then ``k`` random orthonormal tangent
    vectors are evolved with it for ``n_transient_ons`` steps (re-orthonormalised but not
    counted) so that they align with the Lyapunov vectors; then ``n_steps`` steps are measured,
    with a QR re-orthonormalisation every ``reorth_interval`` steps.

    Parameters
    ----------
    model : RateNetwork, RNN, LSTM or GRU
        The dynamical system.
    n_steps : int
        Measured steps (a multiple of ``reorth_interval``); for a :class:`RateNetwork` the measured
        duration is ``n_steps * dt``.
    k : int or None
        Number of exponents, ``1 <= k <= model.dim`` (None: all).
    x0 : array_like, shape (dim,), or None
        Initial state (None: normal with standard deviation 0.5, from ``rng``).
    inputs : array_like, shape (n_transient + n_transient_ons + n_steps, n_inputs), or None
        Input per step (held constant during a step of a :class:`RateNetwork`, where it is added to
        every unit directly, ``n_inputs = N``). None: autonomous. A dimensionless `neo.AnalogSignal`
        works too: it starts at 0 and is sampled at the model's ``time_step`` (``dt``, or ``1 * step``
        for maps).
    reorth_interval : int
        Steps between re-orthonormalisations, >= 1 (larger is cheaper but overflows when the
        exponents are large: the growth ``exp(lambda * interval)`` must stay representable).
    n_transient : int
        Steps of the state alone before the tangent vectors start.
    n_transient_ons : int
        Steps of the orthonormal system that are not counted.
    n_batches : int
        Batches for the batch-means error estimate ``stderr``, >= 2 and at most the number of
        measured intervals ``n_steps // reorth_interval`` (each batch averages at least one interval;
        a short run is refused rather than given an error bar from fewer batches than asked for).
    rng : numpy.random.Generator, int or None
        Random generator or seed (initial state and initial tangent vectors).

    Returns
    -------
    LyapunovSpectrum
        Exponents (1/s for a :class:`RateNetwork`, 1/step for maps), errors, local exponents.
        If interrupted (KeyboardInterrupt) after at least one measured interval, the partial result
        is returned with a ``RuntimeWarning`` and ``params['completed_steps']`` says how far it got.

    Raises
    ------
    TypeError
        If ``model`` is not one of the models, or a count is not an int.
    ValueError
        If a count is out of range, ``n_steps`` is not a multiple of ``reorth_interval``, the
        measured intervals are fewer than ``n_batches``, or ``x0``/``inputs`` have the wrong shape or
        non-finite entries.
    FloatingPointError
        If the state or the tangent vectors become non-finite.

    Examples
    --------
    >>> net = RNN(random_coupling(50, 2.0, rng=0))
    >>> res = lyapunov_spectrum(net, 500, k=5, n_transient=100, n_transient_ons=100, rng=0)
    >>> res.exponents.shape, str(res.exponents.dimensionality)
    ((5,), '1/step')
    """
    _check_model(model)
    n_steps = _check_int("n_steps", n_steps, 1)
    reorth_interval = _check_int("reorth_interval", reorth_interval, 1)
    n_transient = _check_int("n_transient", n_transient, 0)
    n_transient_ons = _check_int("n_transient_ons", n_transient_ons, 0)
    n_batches = _check_int("n_batches", n_batches, 2)
    dim = model.dim
    k = dim if k is None else _check_int("k", k, 1)
    if k > dim:
        raise ValueError(f"k must be <= the state dimension {dim}, found: {k}")
    if n_steps % reorth_interval:
        raise ValueError(f"n_steps must be a multiple of reorth_interval = {reorth_interval}, found: {n_steps}")
    rng = np.random.default_rng(rng)
    n_total = n_transient + n_transient_ons + n_steps
    x, inputs = _prepare(model, n_total, x0, inputs, rng)
    if n_steps // reorth_interval < n_batches:
        raise ValueError(
            f"n_batches = {n_batches} batch means need at least {n_batches} measured intervals, found "
            f"n_steps // reorth_interval = {n_steps // reorth_interval}: measure longer or pass a smaller n_batches"
        )

    def s_at(t):
        return None if inputs is None else inputs[t]

    with np.errstate(over="ignore", invalid="ignore"):
        # overflow is detected below, with the step at which it happened
        return _qr_loop(
            model, x, s_at, rng, k, n_steps, reorth_interval, n_transient, n_transient_ons, n_batches, inputs is None
        )


def _qr_loop(model, x, s_at, rng, k, n_steps, reorth_interval, n_transient, n_transient_ons, n_batches, autonomous):
    dim = model.dim
    for t in range(n_transient):
        x = model._tangent(x, s_at(t), None)[0]
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(f"the state became non-finite during the transient of {n_transient} steps")
    Q = np.linalg.qr(rng.standard_normal((dim, k)))[0]
    t = n_transient
    for j in range(n_transient_ons):
        x, Q = model._tangent(x, s_at(t), Q)
        t += 1
        if (j + 1) % reorth_interval == 0 or j + 1 == n_transient_ons:
            Q = np.linalg.qr(Q)[0]
    n_int = n_steps // reorth_interval
    unit = pq.s if model.continuous else step
    interval = float((reorth_interval * model.time_step).rescale(unit).magnitude)
    acc = QRAccumulator(k, capacity=n_int)
    try:
        for _ in range(n_int):
            for _ in range(reorth_interval):
                x, Q = model._tangent(x, s_at(t), Q)
                t += 1
            Q = acc.orthonormalize(Q, interval)
            if not (np.all(np.isfinite(acc.log_growth[-1])) and np.all(np.isfinite(x))):
                raise FloatingPointError(
                    f"non-finite state or tangent growth at step {t}; the state diverged or "
                    f"reorth_interval = {reorth_interval} is too long for these exponents"
                )
    except KeyboardInterrupt:
        if acc.n_intervals == 0:
            raise
        warnings.warn(
            f"interrupted: returning the estimate from {acc.n_intervals * reorth_interval} of {n_steps} measured steps",
            RuntimeWarning,
            stacklevel=4,
        )
    done = acc.n_intervals
    params = model._params()
    params.update(
        dim=dim,
        k=k,
        n_steps=n_steps,
        reorth_interval=reorth_interval,
        n_transient=n_transient,
        n_transient_ons=n_transient_ons,
        completed_steps=done * reorth_interval,
        duration=done * reorth_interval * model.time_step,
        autonomous=autonomous,
    )
    t_start = float(((n_transient + n_transient_ons) * model.time_step).rescale(unit).magnitude)
    return acc.spectrum(time_unit=unit, t_start=t_start, dim=dim, params=params, n_batches=n_batches)


def largest_exponent_two_trajectories(
    model, n_steps, *, x0=None, inputs=None, d0=1e-8, renorm_interval=1, n_transient=0, n_batches=20, rng=None
):
    """Largest Lyapunov exponent from two nearby trajectories (no Jacobian involved).

    A copy of the trajectory displaced by ``d0`` is evolved with the full nonlinear step; every
    ``renorm_interval`` steps the separation is measured, its log-growth accumulated, and the copy
    pulled back to distance ``d0`` along the current separation. This is an estimate independent
    of the tangent map, for checking :func:`lyapunov_spectrum`.

    Parameters
    ----------
    model : RateNetwork, RNN, LSTM or GRU
        The dynamical system.
    n_steps : int
        Measured steps (a multiple of ``renorm_interval``).
    x0 : array_like, shape (dim,), or None
        Initial state (None: normal with standard deviation 0.5, from ``rng``).
    inputs : array_like, shape (n_transient + n_steps, n_inputs), or None
        Input per step, shared by both trajectories.
    d0 : float
        Separation (Euclidean norm), ``0 < d0 < 1``; small enough to stay linear over
        ``renorm_interval`` steps, large enough to be above rounding (1e-8 for states of order 1).
    renorm_interval : int
        Steps between renormalisations.
    n_transient : int
        Steps of the reference trajectory before the copy starts.
    n_batches : int
        Batches for the batch-means error ``stderr``, >= 2 and at most ``n_steps // renorm_interval``.
    rng : numpy.random.Generator, int or None
        Random generator or seed.

    Returns
    -------
    LyapunovSpectrum
        One exponent (1/s or 1/step), with its batch-means error and running estimates; the log-growth
        of the separation over each renormalisation interval is its ``log_growth``.

    Raises
    ------
    TypeError
        If ``model`` is not one of the models, or a count is not an int.
    ValueError
        If a count or ``d0`` is out of range, the measured intervals are fewer than ``n_batches``, or
        ``x0``/``inputs`` have the wrong shape.

    Examples
    --------
    >>> net = RNN(random_coupling(50, 2.0, rng=0))
    >>> res = largest_exponent_two_trajectories(net, 500, n_transient=100, rng=0)
    >>> res.exponents.shape, str(res.exponents.dimensionality), res.stderr.shape
    ((1,), '1/step', (1,))
    """
    _check_model(model)
    n_steps = _check_int("n_steps", n_steps, 1)
    renorm_interval = _check_int("renorm_interval", renorm_interval, 1)
    n_transient = _check_int("n_transient", n_transient, 0)
    if not (0 < d0 < 1):
        raise ValueError(f"d0 must be in (0, 1), found: {d0}")
    if n_steps % renorm_interval:
        raise ValueError(f"n_steps must be a multiple of renorm_interval = {renorm_interval}, found: {n_steps}")
    n_batches = _check_int("n_batches", n_batches, 2)
    n_int = n_steps // renorm_interval
    if n_int < n_batches:
        raise ValueError(
            f"n_batches = {n_batches} batch means need at least {n_batches} measured intervals, found "
            f"n_steps // renorm_interval = {n_int}: measure longer or pass a smaller n_batches"
        )
    rng = np.random.default_rng(rng)
    x, inputs = _prepare(model, n_transient + n_steps, x0, inputs, rng)

    def s_at(t):
        return None if inputs is None else inputs[t]

    for t in range(n_transient):
        x = model._tangent(x, s_at(t), None)[0]
    u = rng.standard_normal(model.dim)
    y = x + d0 * u / np.linalg.norm(u)
    unit = pq.s if model.continuous else step
    interval = float((renorm_interval * model.time_step).rescale(unit).magnitude)
    acc = QRAccumulator(1, capacity=n_int)
    t = n_transient
    for _ in range(n_int):
        for _ in range(renorm_interval):
            s = s_at(t)
            x = model._tangent(x, s, None)[0]
            y = model._tangent(y, s, None)[0]
            t += 1
        d = np.linalg.norm(y - x)
        if not (np.isfinite(d) and d > 0):
            raise FloatingPointError(f"the separation became {d} at step {t}")
        acc.add([math.log(d / d0)], interval)
        y = x + (y - x) * (d0 / d)
    params = model._params()
    params.update(
        method="two trajectories", d0=d0, n_steps=n_steps, renorm_interval=renorm_interval, n_transient=n_transient
    )
    t_start = float((n_transient * model.time_step).rescale(unit).magnitude)
    return acc.spectrum(time_unit=unit, t_start=t_start, dim=model.dim, params=params, n_batches=n_batches)


def meanfield_largest_exponent(g):
    """Mean-field largest exponent of the random tanh map ``x_t = J tanh(x_{t-1})``, N -> infinity.

    ``lambda_1 = 1/2 ln(g**2 E[sech**4(sqrt(q) z)])`` with ``z`` standard normal and ``q`` the
    nonzero solution of ``q = g**2 E[tanh**2(sqrt(q) z)]`` (``q = 0`` and ``lambda_1 = ln g`` for
    ``g <= 1``). Gaussian expectations by adaptive quadrature (``scipy.integrate.quad``; Gauss-Hermite
    rules converge slowly here because ``sech`` has poles near the real axis), ``q`` by Brent's method.

    Parameters
    ----------
    g : float
        Gain (> 0) of the coupling matrix (variance ``g**2 / N``).

    Returns
    -------
    Quantity (1/step)
        ``lambda_1``.

    Raises
    ------
    ValueError
        If ``g <= 0``.

    Examples
    --------
    >>> round(float(meanfield_largest_exponent(3.0).magnitude), 4)
    0.3102
    """
    from scipy import integrate, optimize

    g = check_real("g", g, positive=True)
    if g <= 1:
        return pq.Quantity(math.log(g), 1 / step)

    def gauss(f):
        # even integrands: twice the integral over z >= 0
        val = integrate.quad(
            lambda z: f(z) * math.exp(-0.5 * z * z), 0.0, np.inf, epsabs=1e-14, epsrel=1e-12, limit=200
        )[0]
        return 2.0 * val / math.sqrt(2.0 * math.pi)

    def residual(q):
        r = math.sqrt(q)
        return q - g**2 * gauss(lambda z: math.tanh(r * z) ** 2)

    q = optimize.brentq(residual, 1e-12 * g**2, g**2, xtol=1e-14, rtol=1e-13)
    r = math.sqrt(q)
    sech4 = gauss(lambda z: math.cosh(r * z) ** -4 if r * z < 300 else 0.0)
    return pq.Quantity(0.5 * math.log(g**2 * sech4), 1 / step)
