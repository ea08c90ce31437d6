"""Balanced firing-rate networks: model, simulation and Lyapunov exponents.

The network is

    tau dh_i/dt = -h_i + sum_j J_ij phi(h_j) + I_i(t),

with ``J_ij = (-J0 + g x_ij) / sqrt(N)`` (dense, ``x_ij`` standard normal) or, in the sparse variant,
``J_ij = (-J0 + g x_ij) / sqrt(K)`` on ``K`` random presynaptic partners per neuron (fixed in-degree, no
autapses). The input is ``I_i(t) = sqrt(N) I0 + drive_i(t)`` (``sqrt(K) I0`` in the sparse variant), where
the drive is a sinusoid ``I1 sin(2 pi f t + theta_i)`` with common (``theta_i = 0``) or independent (uniformly
random) phases, or any waveform given as a callable or an array.

Integration scheme. The mean coupling ``-J0 sqrt(N) nu(t)`` makes the population-mean mode stiff (its
relaxation rate is ``1 + J0 sqrt(N) <phi'>`` in units of ``1/tau``). Each step therefore treats the leak
exactly (exponential Euler), the fluctuating coupling explicitly, and the rank-one mean feedback
linearly implicitly (one Sherman-Morrison solve, O(N)). Tangent vectors are propagated by the same scheme
applied to the variational equation, and re-orthonormalised by QR at a fixed interval; the logarithms of
the diagonal of R give local exponents and their time averages the Lyapunov exponents. The error of the
exponents is O(dt).

Times are in units of ``tau`` internally. When ``tau`` is a Quantity, every time and frequency is a
Quantity too, converted at the boundary, and exponents come back in 1/s, time axes in tau's unit; when
``tau`` is None, times are plain numbers in units of tau, exponents are in ``1/tau`` and Neo time axes in
the unit ``tau`` (:data:`brian2_sparseprop.lyapunov.tau_unit`). The signals' annotation ``time_unit``
says which (``'tau'`` or ``'s'``).
"""

from dataclasses import dataclass

import neo
import numpy as np
import quantities as pq
import scipy.sparse

from .._validation import (
    as_quantity,
    check_array,
    check_choice,
    check_int as _check_int,
    check_quantity,
    check_real as _check_real,
    check_signal,
    in_tau as _in_tau,
    is_signal,
)
from ..connectivity import fixed_out_degree
from ..lyapunov import LyapunovSpectrum, QRAccumulator, tau_unit
from .nonlinearities import resolve

__all__ = ["SinusoidalDrive", "BalancedRateNetwork", "BalancedRun"]

_TRANSFER_FUNCTIONS = ("relu", "tanh")


class SinusoidalDrive:
    """Sinusoidal input ``I1 sin(2 pi f t + theta_i)``, common or independent across neurons.

    Parameters
    ----------
    amplitude : float
        Modulation amplitude ``I1`` (dimensionless input units), >= 0.
    frequency : Quantity (frequency) or float
        Frequency ``f``; a Quantity when the network's ``tau`` is a Quantity, otherwise a plain number in
        units of ``1/tau`` (or a Quantity in ``1 / tau_unit``). Must be >= 0.
    kind : {'common', 'independent'}
        ``'common'``: every neuron gets ``theta_i = 0``. ``'independent'``: phases drawn uniformly in
        ``[0, 2 pi)`` from the network's random generator when the run starts.

    Raises
    ------
    TypeError
        If ``amplitude`` is not a real number or ``kind`` is not a string.
    ValueError
        If ``amplitude`` or ``frequency`` is negative, or ``kind`` is unknown.

    Examples
    --------
    >>> drive = SinusoidalDrive(1.5, 0.2, kind="independent")
    >>> drive.kind
    'independent'
    """

    def __init__(self, amplitude, frequency, kind="common"):
        self.amplitude = _check_real("amplitude", amplitude, nonnegative=True)
        quantity = as_quantity(frequency)
        if isinstance(quantity, pq.Quantity) and quantity.simplified.dimensionality != pq.dimensionless.dimensionality:
            self.frequency = check_quantity("frequency", frequency, "frequency", nonnegative=True)
        else:
            self.frequency = _check_real("frequency", frequency, nonnegative=True)
        self.kind = check_choice("kind", kind, ("common", "independent"))

    def __repr__(self):
        return f"SinusoidalDrive({self.amplitude!r}, {self.frequency!r}, kind={self.kind!r})"


@dataclass(frozen=True)
class BalancedRun:
    """Result of :meth:`BalancedRateNetwork.run`.

    Attributes
    ----------
    rates : neo.AnalogSignal
        ``phi(h_i(t))`` of the recorded neurons (dimensionless), shape (n_samples, n_record).
    mean_input : neo.AnalogSignal
        Population mean of ``h`` (the mean input ``m(t)``), shape (n_samples, 1).
    population_rate : neo.AnalogSignal
        Population mean rate ``nu(t)``, shape (n_samples, 1).
    spectrum : LyapunovSpectrum
        The first k Lyapunov exponents (1/s, or 1/tau when ``tau`` is None) with their
        errors, local exponents and running estimates, the result type of every Lyapunov computation of
        the package.
    state : ndarray
        Final state ``h`` (for continuing a run).
    """

    rates: neo.AnalogSignal
    mean_input: neo.AnalogSignal
    population_rate: neo.AnalogSignal
    spectrum: LyapunovSpectrum
    state: np.ndarray

    @property
    def lyapunov_exponents(self):
        """``spectrum.exponents``: the first k exponents in QR order (descending once converged; nearly
        equal exponents may still be out of order after a short run)."""
        return self.spectrum.exponents

    @property
    def local_exponents(self):
        """``spectrum.local_exponents``: local exponents of each re-orthonormalisation interval, shape
        (n_intervals, k), stamped at the interval's end."""
        return self.spectrum.local_exponents


class BalancedRateNetwork:
    """A balanced rate network ``tau dh/dt = -h + J phi(h) + sqrt(N) I0 + drive(t)``.

    Parameters
    ----------
    N : int
        Number of neurons, >= 2.
    g : float
        Gain of the random coupling (standard deviation ``g / sqrt(N)``), >= 0.
    J0 : float
        Mean inhibitory coupling; the mean of ``J_ij`` is ``-J0 / sqrt(N)``. >= 0.
    I0 : float
        Constant input; each neuron receives ``sqrt(N) I0`` (``sqrt(K) I0`` when sparse).
    K : int or None
        In-degree of the sparse variant (``1 <= K <= N - 1``); None for the dense network.
    phi : {'relu', 'tanh'}
        Transfer function.
    tau : Quantity (time) or None
        Time constant; None measures time in units of tau (plain numbers, outputs in the unit
        :data:`~brian2_sparseprop.lyapunov.tau_unit`). Given, every time and frequency of :meth:`run`
        and :class:`SinusoidalDrive` must be a Quantity (a plain number would be ambiguous).
    seed : int or None
        Seed of the generator for couplings, initial state, tangent vectors and random phases.
    dtype : {numpy.float64, numpy.float32}
        Storage type of the coupling matrix; float32 halves the memory traffic of the matrix products
        (the state is always integrated in float64).

    Raises
    ------
    TypeError
        For arguments of the wrong kind.
    ValueError
        For values outside the stated ranges.

    Examples
    --------
    >>> net = BalancedRateNetwork(200, g=2.0, seed=1)
    >>> run = net.run(20.0, t_transient=10.0)
    >>> run.lyapunov_exponents.shape
    (1,)
    """

    def __init__(self, N, g=2.0, J0=1.0, I0=1.0, K=None, phi="relu", tau=None, seed=None, dtype=np.float64):
        self.N = _check_int("N", N, 2)
        self.g = _check_real("g", g, nonnegative=True)
        self.J0 = _check_real("J0", J0, nonnegative=True)
        self.I0 = _check_real("I0", I0)
        if K is not None:
            K = _check_int("K", K, 1)
            if K > self.N - 1:
                raise ValueError(f"K must be <= N - 1 = {self.N - 1}, found: {K}")
        self.K = K
        self.phi = resolve(phi, allowed=_TRANSFER_FUNCTIONS).name
        self.tau = check_quantity("tau", tau, "time", positive=True, none=True)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an integer or None, found: {seed!r}")
        self.seed = seed
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be numpy.float64 or numpy.float32, found: {dtype!r}")
        self.dtype = dtype
        self._rng = np.random.default_rng(seed)
        scale = np.sqrt(self.N if K is None else K)
        # Mean-feedback strength of the stiff rank-one mode, k = J0 sqrt(N) (or sqrt(K)).
        self.mean_feedback = self.J0 * scale
        self.constant_input = scale * self.I0
        if K is None:
            # Only the fluctuating part is stored; the mean part is applied as -J0 sqrt(N) nu.
            self.coupling = (self.g / scale * self._rng.standard_normal((self.N, self.N))).astype(dtype)
        else:
            indptr, cols = fixed_out_degree(self.N, K, self._rng, multapses=False)  # no autapses
            vals = ((-self.J0 + self.g * self._rng.standard_normal(self.N * K)) / scale).astype(dtype)
            self.coupling = scipy.sparse.csr_array((vals, cols, indptr), shape=(self.N, self.N))

    def coupling_matrix(self):
        """The full coupling matrix ``J`` as a dense array (for analysis of small networks).

        Returns
        -------
        ndarray, shape (N, N)

        Examples
        --------
        >>> BalancedRateNetwork(4, g=0.0, J0=2.0, seed=0).coupling_matrix()[0, 0]
        np.float64(-1.0)
        """
        if self.K is None:
            return self.coupling.astype(float) - self.J0 / np.sqrt(self.N)
        return self.coupling.toarray().astype(float)

    def _explicit(self, X, mean_X):
        """Coupling term minus the mean feedback that is treated implicitly: J X + k mean(X)."""
        X = X.astype(self.dtype, copy=False)
        if self.K is None:
            return (self.coupling @ X).astype(float, copy=False)
        return (self.coupling @ X).astype(float, copy=False) + self.mean_feedback * mean_X

    def _drive_function(self, drive, n_steps, dt):
        """Return f(step) -> input vector or scalar (without the constant part)."""
        N = self.N
        if drive is None:
            return lambda step: 0.0
        if isinstance(drive, SinusoidalDrive):
            omega = 2 * np.pi * _in_tau("frequency", drive.frequency, self.tau, "frequency")
            if drive.kind == "common":
                theta = np.zeros(1)
            else:
                theta = self._rng.uniform(0.0, 2 * np.pi, size=N)
            amp = drive.amplitude
            return lambda step: amp * np.sin(omega * step * dt + theta)
        if callable(drive):
            tau = self.tau

            def call(step):
                t = step * dt if tau is None else step * dt * tau
                value = np.asarray(drive(t), dtype=float)
                if value.shape not in ((), (1,), (N,)):
                    raise ValueError(
                        f"drive(t) must return a scalar or an array of shape ({N},), found shape: {value.shape}"
                    )
                return value

            return call
        if is_signal(drive):  # its time axis in tau's units, or in the unit tau without one
            samples = check_signal("drive", drive, dt * (tau_unit if self.tau is None else self.tau))
            drive = samples[:, 0] if samples.shape[1] == 1 else samples
        if isinstance(drive, np.ndarray):
            if drive.ndim not in (1, 2) or drive.shape[0] < n_steps or (drive.ndim == 2 and drive.shape[1] != N):
                raise ValueError(
                    f"drive array must have shape (n_steps >= {n_steps},) or "
                    f"(n_steps >= {n_steps}, {N}), found: {drive.shape}"
                )
            if not np.all(np.isfinite(drive)):
                raise ValueError("drive array must be finite, found non-finite values")
            return lambda step: drive[step]
        raise TypeError(
            f"drive must be None, a SinusoidalDrive, a callable, an AnalogSignal or an ndarray, found: {drive!r}"
        )

    def run(
        self,
        duration,
        *,
        drive=None,
        dt=None,
        t_transient=None,
        n_exponents=1,
        ons_interval=None,
        n_record=10,
        record_every=1,
        h0=None,
    ):
        """Simulate the network and compute its first Lyapunov exponents.

        Parameters
        ----------
        duration : Quantity (time) or float
            Time over which exponents are averaged and activity is recorded (after the transient).
        drive : SinusoidalDrive, callable, ndarray or None
            Time-varying input added to the constant ``sqrt(N) I0``. A callable receives the time (a
            Quantity when ``tau`` is one, else a float in units of tau; the transient starts at 0) and
            returns a scalar or an (N,) array; an array is sampled at the steps, shape (n_steps,) or
            (n_steps, N) with n_steps = number of transient plus recorded steps; so is a dimensionless
            `neo.AnalogSignal` with one channel (common input) or N, starting at 0 and sampled at ``dt``
            (without ``tau``, its time axis in the unit ``tau_unit``, as on the outputs).
        dt : Quantity (time), float or None
            Integration step (None: 0.05 tau). Times are Quantities when ``tau`` is one, else plain
            numbers in units of tau.
        t_transient : Quantity (time), float or None
            Discarded initial time; the state and the tangent vectors relax during it (None: 50 tau).
        n_exponents : int
            Number k of exponents (0 <= k <= N).
        ons_interval : Quantity (time), float or None
            Re-orthonormalisation interval (local exponents are averaged over it; None: 1 tau).
        n_record : int
            Number of neurons whose rates are recorded (the first ones).
        record_every : int
            Record every this many steps.
        h0 : ndarray or None
            Initial state, shape (N,); default standard normal.

        Returns
        -------
        BalancedRun

        Raises
        ------
        TypeError, ValueError
            For invalid arguments, before any simulation.

        Examples
        --------
        >>> net = BalancedRateNetwork(100, g=0.5, seed=0)
        >>> bool(net.run(10.0, t_transient=20.0).lyapunov_exponents[0] < 0)
        True
        """
        tau = self.tau
        T = _in_tau("duration", duration, tau, "time")
        dt = 0.05 if dt is None else _in_tau("dt", dt, tau, "time")
        T_tr = 50.0 if t_transient is None else _in_tau("t_transient", t_transient, tau, "time")
        interval = 1.0 if ons_interval is None else _in_tau("ons_interval", ons_interval, tau, "time")
        if dt <= 0:
            raise ValueError(f"dt must be > 0, found: {dt}")
        if T < dt:
            raise ValueError(f"duration must be >= dt, found: {T} (dt = {dt})")
        if T_tr < 0:
            raise ValueError(f"t_transient must be >= 0, found: {T_tr}")
        if interval < dt:
            raise ValueError(f"ons_interval must be >= dt, found: {interval} (dt = {dt})")
        k = _check_int("n_exponents", n_exponents, 0)
        if k > self.N:
            raise ValueError(f"n_exponents must be <= N = {self.N}, found: {k}")
        n_record = _check_int("n_record", n_record, 0)
        if n_record > self.N:
            raise ValueError(f"n_record must be <= N = {self.N}, found: {n_record}")
        record_every = _check_int("record_every", record_every, 1)
        n_tr = int(round(T_tr / dt))
        n_run = int(round(T / dt))
        ons_steps = max(1, int(round(interval / dt)))
        drive_at = self._drive_function(drive, n_tr + n_run, dt)
        if h0 is None:
            h = self._rng.standard_normal(self.N)
        else:
            h = check_array("h0", h0, shape=(self.N,)).copy()
        Q = np.linalg.qr(self._rng.standard_normal((self.N, k)))[0] if k else np.zeros((self.N, 0))

        f = resolve(self.phi)
        phi, dphi = f.phi, f.dphi
        a = np.exp(-dt)
        b = -np.expm1(-dt)
        kf = self.mean_feedback
        N = self.N
        n_samples = n_run // record_every
        rates = np.empty((n_samples, n_record))
        means = np.empty(n_samples)
        nus = np.empty(n_samples)
        n_int = n_run // ons_steps
        acc = QRAccumulator(k, capacity=n_int)
        for step in range(n_tr + n_run):
            p = phi(h)
            d = dphi(h)
            nu = p.mean()
            X = np.column_stack((p, d[:, None] * Q)) if k else p[:, None]
            Y = self._explicit(X, X.mean(axis=0))
            r = a * h + b * (Y[:, 0] + self.constant_input + drive_at(step) - kf * nu)
            D = d / N
            denom = 1.0 + b * kf * D.sum()
            h_new = r - b * kf * (D @ (r - h)) / denom
            if k:
                R = a * Q + b * Y[:, 1:]
                Q = R - (b * kf / denom) * (D @ R)[None, :]
            rec = step - n_tr
            if rec >= 0 and rec % record_every == 0 and rec // record_every < n_samples:
                j = rec // record_every
                rates[j] = p[:n_record]
                means[j] = h.mean()
                nus[j] = nu
            h = h_new
            if k and (step + 1) % ons_steps == 0:
                if rec >= 0 and acc.n_intervals < n_int:
                    Q = acc.orthonormalize(Q, ons_steps * dt)
                else:  # transient: align the vectors, count nothing
                    Q = np.linalg.qr(Q)[0]
            if not np.all(np.isfinite(h)):
                raise FloatingPointError(f"state diverged at t = {(step + 1) * dt} tau; reduce dt")
        return self._package(rates, means, nus, acc, h, dt, record_every, T_tr, drive)

    def _package(self, rates, means, nus, acc, h, dt, record_every, T_tr, drive):
        tau = self.tau
        tunit = tau_unit if tau is None else tau.units
        annotations = dict(
            N=self.N,
            g=self.g,
            J0=self.J0,
            I0=self.I0,
            K=self.K,
            phi=self.phi,
            dt_tau=dt,
            seed=self.seed,
            drive=repr(drive),
            time_unit="tau" if tau is None else "s",
        )
        tfac = 1.0 if tau is None else float(tau.magnitude)

        def signal(values, units, step, name):
            return neo.AnalogSignal(
                values,
                units=units,
                sampling_period=step * tfac * tunit,
                t_start=T_tr * tfac * tunit,
                name=name,
                **annotations,
            )

        # the accumulator's times are in units of tau: with a tau the spectrum's time unit is tau's own
        spectrum = acc.spectrum(
            time_unit=tau_unit if tau is None else tau,
            t_start=T_tr,
            dim=self.N,
            params=dict(model="BalancedRateNetwork", **annotations),
        )
        return BalancedRun(
            rates=signal(rates, pq.dimensionless, dt * record_every, "rates"),
            mean_input=signal(means[:, None], pq.dimensionless, dt * record_every, "mean input"),
            population_rate=signal(nus[:, None], pq.dimensionless, dt * record_every, "population rate"),
            spectrum=spectrum,
            state=h,
        )
