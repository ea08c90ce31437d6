"""The Lyapunov spectrum result type shared by every model class, and the QR accumulator that builds it.

The QR (Benettin) method carries ``k`` orthonormal tangent vectors along a trajectory and
re-orthonormalises them now and then: over the interval ``n`` between two re-orthonormalisations,
of duration ``dt_n``, the tangent map stretches the vectors by the diagonal ``R_n`` of the QR
factorisation. The Lyapunov exponents are the time averages

    lambda_i = sum_n log|R_n,ii| / sum_n dt_n.

Nothing here assumes a fixed interval: rate networks and maps re-orthonormalise every so many
steps, an event-driven spiking network at spike times. :class:`QRAccumulator` records
``log|R_ii|`` and ``dt_n`` per interval (one at a time, or many at once from a compiled loop);
:class:`LyapunovSpectrum` holds them with the exponents, their standard errors, the local exponents
and running estimates as Neo signals, the Kaplan-Yorke dimension and the entropy rate.

Units: exponents are in ``1 / time_unit``: ``1/s`` for flows in physical time, ``1/step`` for
discrete-time maps (:data:`step`), ``1/tau`` for models run in units of their time constant
(:data:`tau_unit`; the Neo signals then have their time axis in ``tau``).
"""

import math

import numpy as np
import quantities as pq

__all__ = ["step", "tau_unit", "QRAccumulator", "LyapunovSpectrum"]

#: Unit of discrete time: exponents of maps come back in ``1 / step``.
step = pq.UnitQuantity("step", symbol="step")

#: Unit of time of a model run in units of its time constant (``tau=None``): Neo time axes in ``tau``,
#: exponents and frequencies in ``1/tau``. A time in units of tau is a pure number, so the unit is
#: defined as dimensionless: ``(5 * tau_unit).simplified`` is 5, and it does not convert to seconds.
tau_unit = pq.UnitQuantity("tau", definition=1.0 * pq.dimensionless, symbol="tau")


def _unit(time_unit):
    """``(factor, unit)``: times given in ``time_unit`` are ``factor`` times ``unit``, where ``unit`` is
    seconds for a time (``time_unit`` may be ``10 * ms``, a model's tau), else ``step`` or ``tau``."""
    if not isinstance(time_unit, pq.Quantity) or time_unit.size != 1:
        raise TypeError(f"time_unit must be a scalar Quantity (s, ms, step, tau_unit), found: {time_unit!r}")
    if time_unit.dimensionality in (step.dimensionality, tau_unit.dimensionality):
        return float(time_unit.magnitude), pq.Quantity(1.0, time_unit.units)
    if time_unit.simplified.dimensionality == pq.s.dimensionality:
        return float(time_unit.rescale(pq.s).magnitude), pq.Quantity(1.0, pq.s)
    raise TypeError(f"time_unit must be a time, step or tau_unit, found: {time_unit.dimensionality}")


class QRAccumulator:
    """Running sums of a QR Lyapunov computation: ``log|R_ii|`` and the elapsed time of each interval.

    Parameters
    ----------
    k : int
        Number of exponents (tangent vectors), >= 0.
    capacity : int
        Intervals to allocate for at first (the storage grows by doubling beyond it).

    Examples
    --------
    >>> acc = QRAccumulator(2)
    >>> Q = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 2)))[0]
    >>> Q = acc.orthonormalize(np.diag([2.0, 0.5, 1.0]) @ Q, elapsed=1.0)
    >>> acc.n_intervals, acc.log_growth.shape
    (1, (1, 2))
    """

    def __init__(self, k, capacity=64):
        self.k = int(k)
        self._log = np.empty((max(1, int(capacity)), self.k))
        self._elapsed = np.empty(self._log.shape[0])
        self._n = 0

    @property
    def n_intervals(self):
        """Number of intervals recorded."""
        return self._n

    @property
    def log_growth(self):
        """``log|R_ii|`` of each recorded interval, shape (n_intervals, k) (a view, do not modify)."""
        return self._log[: self._n]

    @property
    def elapsed(self):
        """Duration of each recorded interval, shape (n_intervals,) (a view, do not modify)."""
        return self._elapsed[: self._n]

    def _reserve(self, extra):
        need = self._n + extra
        if need > self._log.shape[0]:
            size = max(need, 2 * self._log.shape[0])
            log = np.empty((size, self.k))
            log[: self._n] = self._log[: self._n]
            elapsed = np.empty(size)
            elapsed[: self._n] = self._elapsed[: self._n]
            self._log, self._elapsed = log, elapsed

    def add(self, log_r, elapsed):
        """Record the intervals ``log_r`` (shape (k,) for one, (n, k) for several) of durations ``elapsed``.

        Parameters
        ----------
        log_r : array_like, shape (k,) or (n, k)
            ``log|R_ii|`` of each interval.
        elapsed : float or array_like, shape (n,)
            Duration of each interval (> 0), in the time unit of the computation.
        """
        log_r = np.asarray(log_r, dtype=float)
        log_r = log_r.reshape(-1, self.k)
        n = log_r.shape[0]
        elapsed = np.broadcast_to(np.asarray(elapsed, dtype=float), (n,))
        self._reserve(n)
        self._log[self._n : self._n + n] = log_r
        self._elapsed[self._n : self._n + n] = elapsed
        self._n += n

    def orthonormalize(self, Y, elapsed):
        """Re-orthonormalise the tangent vectors ``Y`` (columns) and record their growth over ``elapsed``.

        Parameters
        ----------
        Y : numpy.ndarray, shape (dim, k)
            Tangent vectors at the end of the interval.
        elapsed : float
            Duration of the interval since the last re-orthonormalisation (> 0).

        Returns
        -------
        numpy.ndarray, shape (dim, k)
            The orthonormal vectors ``Q`` of ``Y = Q R``, with signs chosen so that ``diag(R) > 0``.
            The recorded ``log|R_ii|`` may be ``-inf`` or NaN if ``Y`` was degenerate or non-finite:
            check ``log_growth[-1]``.
        """
        Q, R = np.linalg.qr(Y)
        diag = np.diagonal(R)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.add(np.log(np.abs(diag)), elapsed)
        return Q * np.where(diag < 0, -1.0, 1.0)[None, :]

    def spectrum(self, *, time_unit, t_start=0.0, dim=None, params=None, n_batches=20):
        """The :class:`LyapunovSpectrum` of the intervals recorded so far.

        Parameters
        ----------
        time_unit, t_start, dim, params, n_batches
            As in :class:`LyapunovSpectrum`.

        Returns
        -------
        LyapunovSpectrum
        """
        return LyapunovSpectrum(
            self.log_growth.copy(),
            self.elapsed.copy(),
            time_unit=time_unit,
            t_start=t_start,
            dim=dim,
            params=params,
            n_batches=n_batches,
        )


class LyapunovSpectrum:
    """Lyapunov exponents with the parameters they were computed with, and their convergence.

    Built by the Lyapunov functions of the package (:func:`brian2_sparseprop.rate.lyapunov.lyapunov_spectrum`,
    :meth:`brian2_sparseprop.rate.balanced.BalancedRateNetwork.run`) through a :class:`QRAccumulator`.

    Parameters
    ----------
    log_growth : array_like, shape (n_intervals, k)
        ``log|R_ii|`` of each re-orthonormalisation interval.
    elapsed : float or array_like, shape (n_intervals,)
        Duration of each interval (> 0), in ``time_unit``; a scalar for equal intervals.
    time_unit : Quantity
        Unit of ``elapsed`` and ``t_start``: a time (``pq.ms``, or a model's ``tau = 10 * pq.ms``;
        converted to seconds: exponents in 1/s), :data:`step` (maps, exponents in 1/step) or
        :data:`tau_unit` (time in units of a model's tau, exponents in 1/tau).
    t_start : float
        Time at which the first measured interval starts, in ``time_unit``.
    dim : int or None
        Dimension of the state (None: ``k``); the Kaplan-Yorke dimension and the entropy rate need
        it to tell whether all exponents were computed.
    params : dict or None
        Model and method parameters, kept in :attr:`params` (with ``dim`` and ``k`` added).
    n_batches : int
        Number of contiguous batches of intervals for the batch-means error :attr:`stderr`.

    Attributes
    ----------
    exponents : Quantity (1/s, 1/step or 1/tau), shape (k,)
        ``sum log|R_ii| / sum elapsed`` in the order of the QR columns (descending in the limit of
        long runs); NaN if no interval was recorded.
    stderr : Quantity, shape (k,)
        Standard error from batch means (``n_batches`` contiguous batches, each a time average):
        an estimate of the statistical error of ``exponents``; NaN for an exponent that is not finite
        (-inf: a direction that a singular Jacobian lost exactly).
    log_growth : numpy.ndarray, shape (n_intervals, k)
        The recorded ``log|R_ii|``.
    elapsed : numpy.ndarray, shape (n_intervals,)
        The recorded durations, in :attr:`time_unit` (seconds for physical time).
    params : dict
        Model and method parameters (Quantities for durations).
    vectors : numpy.ndarray, shape (dim, k), or None
        The final orthonormal tangent vectors, where the computation was asked to keep them (the first
        is the leading Lyapunov vector); else None.

    Examples
    --------
    >>> res = LyapunovSpectrum([[0.2, -0.4], [0.4, -0.6]], 2.0, time_unit=pq.ms, params={"model": "demo"})
    >>> res.exponents
    array([ 150., -250.]) * 1/s
    >>> res.local_exponents.sampling_period
    array(0.002) * s
    """

    def __init__(self, log_growth, elapsed, *, time_unit, t_start=0.0, dim=None, params=None, n_batches=20):
        factor, self._time = _unit(time_unit)  # physical times are kept in seconds: exponents in 1/s
        self.log_growth = np.asarray(log_growth, dtype=float)
        if self.log_growth.ndim != 2:
            raise ValueError(f"log_growth must have shape (n_intervals, k), found: {self.log_growth.shape}")
        n, k = self.log_growth.shape
        self.elapsed = factor * np.broadcast_to(np.asarray(elapsed, dtype=float), (n,))
        if n and not np.all(self.elapsed > 0):
            raise ValueError(f"elapsed must be > 0, found: {self.elapsed[~(self.elapsed > 0)][0]}")
        self.t_start = factor * float(t_start)
        self.dim = k if dim is None else int(dim)
        self.params = dict(params or {})
        self.params.setdefault("dim", self.dim)
        self.params.setdefault("k", k)
        self._rate_unit = 1 / self._time.units
        total = self.elapsed.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            lam = self.log_growth.sum(axis=0) / total if n else np.full(k, np.nan)
        self.exponents = pq.Quantity(lam, self._rate_unit)
        nb = min(int(n_batches), n)
        if nb >= 2:
            m = (n // nb) * nb
            logs = self.log_growth[n - m :].reshape(nb, m // nb, k).sum(axis=1)
            times = self.elapsed[n - m :].reshape(nb, m // nb).sum(axis=1)
            batch = logs / times[:, None]
            with np.errstate(invalid="ignore"):  # NaN for an exponent of -inf (a direction lost exactly)
                err = batch.std(axis=0, ddof=1) / math.sqrt(nb)
            err[~np.isfinite(lam)] = np.nan
        else:
            err = np.full(k, np.nan)
        self.stderr = pq.Quantity(err, self._rate_unit)
        self.vectors = None

    @property
    def k(self):
        """Number of exponents."""
        return self.exponents.shape[0]

    @property
    def time_unit(self):
        """Unit of the time axis (a Quantity of magnitude 1)."""
        return self._time

    def _signal(self, values, name, description=""):
        """Neo signal of per-interval values stamped at the end of each interval."""
        import neo

        tunit = self._time.units
        e = self.elapsed
        if e.size and np.all(e == e[0]):
            return neo.AnalogSignal(
                values,
                units=self._rate_unit,
                sampling_period=e[0] * tunit,
                t_start=(self.t_start + e[0]) * tunit,
                name=name,
                description=description,
            )
        return neo.IrregularlySampledSignal(
            (self.t_start + np.cumsum(e)) * tunit,
            values,
            units=self._rate_unit,
            time_units=tunit,
            name=name,
            description=description,
        )

    @property
    def local_exponents(self):
        """Local exponents ``log|R_ii| / elapsed`` of each interval, stamped at the interval's end.

        Returns
        -------
        neo.AnalogSignal or neo.IrregularlySampledSignal, shape (n_intervals, k)
            An AnalogSignal when all intervals are equal, else an IrregularlySampledSignal.
        """
        return self._signal(
            self.log_growth / self.elapsed[:, None],
            "local Lyapunov exponents",
            "log|R_ii| / interval at each re-orthonormalisation (QR method)",
        )

    @property
    def running_estimates(self):
        """Running time averages of the local exponents (the convergence trace).

        Returns
        -------
        neo.AnalogSignal or neo.IrregularlySampledSignal, shape (n_intervals, k)
            Entry ``[n, i]``: ``sum log|R_ii|`` over the first ``n + 1`` intervals divided by their duration.
        """
        values = np.cumsum(self.log_growth, axis=0) / np.cumsum(self.elapsed)[:, None]
        return self._signal(values, "running Lyapunov exponent estimates")

    def _sorted(self):
        return np.sort(self.exponents.magnitude)[::-1]

    def _complete(self):
        return self.k == self.dim

    @property
    def kaplan_yorke_dimension(self):
        """Kaplan-Yorke (Lyapunov) dimension ``j + S_j / |lambda_{j+1}|``.

        ``S_j`` is the largest nonnegative partial sum of the descending exponents.

        Returns
        -------
        float
            The dimension (0 if the largest exponent is negative).

        Raises
        ------
        ValueError
            If the partial sums of the ``k`` computed exponents never turn negative and ``k`` is
            less than the state dimension (more exponents are needed).
        """
        lam = self._sorted()
        csum = np.cumsum(lam)
        if csum[0] < 0:
            return 0.0
        j = int(np.nonzero(csum >= 0)[0][-1]) + 1
        if j == lam.size:
            if self._complete():
                return float(j)
            raise ValueError(
                f"the sum of the k = {self.k} computed exponents is still >= 0 "
                f"({csum[-1]:.4g}); compute more exponents (k up to {self.dim})"
            )
        return j + csum[j - 1] / abs(lam[j])

    @property
    def entropy_rate(self):
        """Sum of the positive exponents (Pesin's upper bound of the Kolmogorov-Sinai entropy rate).

        Returns
        -------
        Quantity (1/s, 1/step or 1/tau)
            In the units of the exponents (nats per second, per step or per tau).

        Raises
        ------
        ValueError
            If all ``k`` computed exponents are positive and ``k`` is less than the state dimension.
        """
        lam = self._sorted()
        if lam[-1] > 0 and not self._complete():
            raise ValueError(
                f"all k = {self.k} computed exponents are positive; compute more "
                f"exponents (k up to {self.dim}) for the entropy rate"
            )
        return pq.Quantity(lam[lam > 0].sum(), self.exponents.units)

    @property
    def entropy_rate_bits(self):
        """:attr:`entropy_rate` in bits: the sum of the positive exponents divided by ln 2.

        Returns
        -------
        Quantity (bit/s, bit/step or bit per tau)

        Examples
        --------
        >>> res = LyapunovSpectrum([[np.log(2.0), np.log(0.5)]], 1.0, time_unit=pq.s)
        >>> res.entropy_rate_bits
        array(1.) * bit/s
        """
        return pq.Quantity(self.entropy_rate.magnitude / math.log(2), pq.bit * self.exponents.units)

    @property
    def entropy_per_spike(self):
        """Entropy per spike of a spiking network, bits: :attr:`entropy_rate_bits` over the network's spike
        rate during the measurement (``params['n_spikes']`` over the measured time).

        Returns
        -------
        Quantity (bit)

        Raises
        ------
        ValueError
            If the computation counted no spikes (not a spiking network, or a silent one).
        """
        spikes = self.params.get("n_spikes", 0)
        if not spikes:
            raise ValueError("no spikes were counted in this computation (params['n_spikes'])")
        return pq.Quantity(self.entropy_rate_bits.magnitude * self.elapsed.sum() / spikes, pq.bit)

    def inverse_participation_ratio(self):
        """Localisation of the kept tangent vectors: ``sum_j y_j^4 / (sum_j y_j^2)^2`` per vector.

        1 for a vector on a single coordinate, ``1 / dim`` for one spread evenly over all of them; its
        inverse is the number of coordinates a vector effectively occupies.

        Returns
        -------
        numpy.ndarray, shape (k,)

        Raises
        ------
        ValueError
            If the vectors were not kept (see the computation's ``keep_vectors``).

        Examples
        --------
        >>> res = LyapunovSpectrum(np.zeros((1, 2)), 1.0, time_unit=step)
        >>> res.vectors = np.array([[0.5, 1.0], [0.5, 0.0], [0.5, 0.0], [0.5, 0.0]])
        >>> res.inverse_participation_ratio()
        array([0.25, 1.  ])
        """
        if self.vectors is None:
            raise ValueError("the tangent vectors were not kept: compute the spectrum with keep_vectors=True")
        y2 = np.asarray(self.vectors, dtype=float) ** 2
        return (y2**2).sum(axis=0) / y2.sum(axis=0) ** 2

    def plot(self, max_traces=10):
        """Plot the spectrum (lambda_i against i / N, with error bars) and the convergence of the running
        estimates.

        Parameters
        ----------
        max_traces : int
            Number of running estimates to draw (evenly spaced indices including the first).

        Returns
        -------
        matplotlib.figure.Figure
            A figure with two axes, not attached to any window (save it with ``savefig``).

        Examples
        --------
        >>> res = LyapunovSpectrum(np.log([[2.0, 0.5], [3.0, 0.25]]), 1.0, time_unit=step)
        >>> len(res.plot().axes)
        2
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.6), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        unit = self.exponents.dimensionality.string
        x = np.arange(1, self.k + 1) / self.dim  # lambda_i against i / N: spectra of sizes collapse
        ax1.errorbar(x, self.exponents.magnitude, yerr=self.stderr.magnitude, fmt="o", ms=3)
        ax1.axhline(0, color="0.6", lw=0.8)
        ax1.set(xlabel=f"i / N (N = {self.dim})", ylabel=f"lambda_i ({unit})", title="Lyapunov spectrum")
        run = self.running_estimates
        cols = np.unique(np.linspace(0, self.k - 1, min(max_traces, self.k)).astype(int))
        t = run.times
        for c in cols:
            ax2.plot(t.magnitude, run.magnitude[:, c], lw=0.8, label=f"i = {c + 1}")
        ax2.axhline(0, color="0.6", lw=0.8)
        ax2.set(xlabel=f"time ({t.dimensionality.string})", ylabel=f"running estimate ({unit})", title="convergence")
        if len(cols) <= 10:
            ax2.legend(fontsize=7, ncol=2)
        return fig

    def __repr__(self):
        lam = self.exponents
        shown = ", ".join(f"{v:.4g}" for v in lam.magnitude[:5]) + (", ..." if self.k > 5 else "")
        return (
            f"LyapunovSpectrum({self.params.get('model')}, k={self.k}, exponents=[{shown}] {lam.dimensionality.string})"
        )
