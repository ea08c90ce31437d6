"""Slow, independent reference simulator for the exact event-driven engine (tests only).

This is the conventional exact event-driven method: at every event *every* neuron is advanced in closed
form to the event time, and the next spike is found by recomputing the first-passage time of every
neuron (O(N) work per event). It shares no code with the engine and is written from the model
equations alone, so agreement between the two is evidence for both.

Models (time ``t`` in seconds, state unitless, per-neuron parameters):

- ``'lif'``: ``tau dv/dt = drive - v``, spike at ``v >= threshold``, then ``v = reset``;
- ``'qif'``: ``tau dv/dt = v**2 + drive``, spike at ``v >= threshold``, then ``v = reset``;
- ``'theta'``: ``tau dtheta/dt = (1 - cos theta) + (1 + cos theta) drive``, spike at ``theta = pi``,
  then ``theta = -pi``. With ``x = tan(theta / 2)`` this is ``tau dx/dt = x**2 + drive``, so QIF and theta
  share one flow, a Moebius map of ``x``; theta states are handled in projective coordinates
  ``(sin(theta / 2), cos(theta / 2))`` so that ``theta = -pi`` (``x = -inf``) is exact.
- ``'eif'``: ``tau dx/dt = drive - x + exp(x)``, spike at ``x >= threshold``, then ``x = reset``. No closed
  form: the time to threshold is QUADPACK's adaptive quadrature of ``tau / f(x)`` (``scipy.integrate.quad``)
  with the fixed points from Lambert's W (``scipy.special.lambertw``), and the flow is an adaptive
  Runge-Kutta solution (``scipy.integrate.solve_ivp``, DOP853, rtol 1e-13): numerics that share nothing
  with the engine's Gauss-Legendre quadrature and Newton inversion.

Kicks: ``v += w`` (theta: ``tan(theta / 2) += w``; a finite kick never makes a theta neuron spike).

Simultaneity rule (the engine's documented rule, re-implemented here):

- a kick that takes a LIF/QIF neuron to ``v >= threshold`` makes it spike at that same time;
- all events of one instant are processed as one breadth-first cascade of generations. Generation 0
  fires the neurons whose refractory period ends then at or above threshold and those reaching threshold
  on their own. The kicks of a generation are the zero-delay kicks of the neurons it fires, together, for
  generation 0, with every delayed and external kick arriving at that instant. They are summed per target
  before the threshold is tested (NEST and Brian2's runtime add simultaneous inputs): the sum of the
  sorted weights, so that it does not depend on the order of arrival. The neurons it takes to threshold
  form the next generation; delayed kicks of the neurons fired are scheduled at ``t + delay``;
- kicks that reach a neuron in the instant it fires, after its crossing (whether or not its turn in the
  queue has come), are absorbed by its reset, so a neuron spikes at most once per instant;
- a neuron reaching threshold on its own at an instant fires then, whatever kicks the instant brings it
  (its reset absorbs them; Brian2 likewise thresholds before synapses);
- a neuron is no longer refractory at the instant its period ends (Brian2: ``t - lastspike >= refractory``),
  so kicks arriving then are checked against threshold one by one, as at any other instant.

Refractoriness (Brian2's ``(unless refractory)``): for ``refractory`` seconds after a spike the state is
not integrated, the neuron cannot spike, and kicks are dropped (Brian2 writes to an ``(unless refractory)``
variable only when ``not_refractory``). When the period ends a state at or above threshold spikes at once.
With ``integrate_refractory=True`` the state is integrated during the period and kicks add to it, but it
still cannot spike.
"""

import heapq
from collections import deque

import numpy as np

__all__ = ["MODELS", "Oracle", "flow", "time_to_spike", "kick", "generator_kicks", "poisson_times"]

MODELS = ("lif", "qif", "theta", "eif")
DELAYED, EXTERNAL = 0, 1  # at equal times, delayed arrivals come before external inputs


def _floats(*arrays):
    """Broadcast arrays to a common floating dtype (float64 at least; long double stays long double)."""
    dtype = np.result_type(*arrays, np.float64)
    return np.broadcast_arrays(*(np.asarray(a, dtype) for a in arrays))


def _moebius(drive, x):
    """Coefficients ``(A, B, C, D)`` of the flow ``v -> (A v + B) / (C v + D)`` of ``dv/ds = v**2 + drive``
    over a dimensionless time ``x = dt / tau``."""
    drive, x = _floats(drive, x)
    pos, neg = drive > 0, drive < 0
    w = np.sqrt(np.abs(drive))
    w_safe = np.where(w > 0, w, 1.0)
    phi = w * x
    cos_phi, sin_phi, tanh_phi = np.cos(phi), np.sin(phi), np.tanh(phi)
    a = np.where(pos, cos_phi, 1.0)
    b = np.where(pos, w * sin_phi, np.where(neg, -w * tanh_phi, 0.0))
    c = np.where(pos, -sin_phi / w_safe, np.where(neg, -tanh_phi / w_safe, -x))
    return a, b, c, a


def _theta_to_projective(theta):
    """``(sin(theta / 2), cos(theta / 2))`` with ``theta = -pi`` mapped exactly to ``(-1, 0)``."""
    at_reset = theta <= -np.pi
    s = np.where(at_reset, -1.0, np.sin(0.5 * theta))
    c = np.where(at_reset, 0.0, np.cos(0.5 * theta))
    return s, c


def _projective_to_theta(s, c):
    flip = c < 0
    s, c = np.where(flip, -s, s), np.where(flip, -c, c)
    theta = 2.0 * np.arctan2(s, c)
    return np.where(theta >= np.pi, -np.pi, theta)


def _blowup_time(s, c, drive):
    """Dimensionless time for ``dx/ds = x**2 + drive`` to reach ``x = +inf`` from ``x = s / c`` (c >= 0)."""
    pos, neg = drive > 0, drive < 0
    w = np.sqrt(np.abs(drive))
    w_safe = np.where(w > 0, w, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        half_pi = np.arctan2(np.ones_like(s), 0.0)  # pi / 2 in the working precision
        t_pos = (half_pi - np.arctan2(s, w * c)) / w_safe
        t_zero = np.where(s > 0, c / s, np.inf)
        gap = s - w * c
        t_neg = np.where(gap > 0, np.log1p(2.0 * w * c / np.where(gap > 0, gap, 1.0)) / (2.0 * w_safe), np.inf)
    return np.where(pos, t_pos, np.where(neg, t_neg, t_zero))


def _eif_fixed_points(drive):
    """``(x_s, x_u)``, the stable and unstable fixed points of ``dx/ds = drive - x + exp(x)`` (drive < -1)."""
    from scipy.special import lambertw

    z = -np.exp(drive)
    return drive - lambertw(z, 0).real, drive - lambertw(z, -1).real


def _eif_time(a, b, drive):
    """Dimensionless time of ``dx/ds = drive - x + exp(x)`` from a up to b (f > 0 on [a, b])."""
    import warnings

    from scipy.integrate import IntegrationWarning, quad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)  # "roundoff error": the tolerance is at rounding
        return quad(lambda x: 1.0 / (drive - x + np.exp(x)), a, b, epsabs=0.0, epsrel=1e-13, limit=400)[0]


def _eif_flow(v, dt, tau, drive):
    from scipy.integrate import solve_ivp

    out = np.empty(v.shape)
    for k in range(v.size):
        d = drive.flat[k]
        sol = solve_ivp(
            lambda s, x, d=d: d - x + np.exp(x),
            (0.0, dt.flat[k] / tau.flat[k]),
            [v.flat[k]],
            method="DOP853",
            rtol=1e-13,
            atol=1e-15,
        )
        out.flat[k] = sol.y[0, -1]
    return out


def _eif_time_to_spike(v, tau, drive, threshold):
    out = np.empty(v.shape)
    for k in range(v.size):
        x, d, thr = v.flat[k], drive.flat[k], threshold.flat[k]
        if x >= thr:
            out.flat[k] = 0.0
            continue
        if d < -1.0:
            xs, xu = _eif_fixed_points(d)
            if not (x > xu or thr < xs):
                out.flat[k] = np.inf
                continue
        out.flat[k] = tau.flat[k] * _eif_time(x, thr, d)
    return out


def flow(model, v, dt, tau, drive):
    """State of neurons of one model after ``dt`` seconds without events (no threshold handling).

    Parameters
    ----------
    model : {'lif', 'qif', 'theta', 'eif'}
    v, dt, tau, drive : array_like
        State (theta for theta neurons), time step (s), membrane time constant (s), drive.

    Returns
    -------
    ndarray
        The state after ``dt``.
    """
    v, dt, tau, drive = _floats(v, dt, tau, drive)
    x = dt / tau
    if model == "lif":
        return v + (drive - v) * -np.expm1(-x)
    if model == "eif":
        return _eif_flow(*np.broadcast_arrays(v, dt, tau, drive))
    a, b, c, d = _moebius(drive, x)
    if model == "qif":
        return (a * v + b) / (c * v + d)
    s, co = _theta_to_projective(v)
    return _projective_to_theta(a * s + b * co, c * s + d * co)


def time_to_spike(model, v, tau, drive, threshold):
    """Time (s) until the next autonomous spike from state ``v`` (``inf`` if never, 0 if at threshold).

    Parameters
    ----------
    model : {'lif', 'qif', 'theta', 'eif'}
    v, tau, drive, threshold : array_like
        State, time constant (s), drive, threshold (ignored for theta neurons).

    Returns
    -------
    ndarray
        First-passage times (s).
    """
    v, tau, drive, threshold = _floats(v, tau, drive, threshold)
    if model == "theta":
        s, c = _theta_to_projective(v)
        return tau * _blowup_time(s, c, drive)
    if model == "eif":
        return _eif_time_to_spike(*np.broadcast_arrays(v, tau, drive, threshold))
    above = v >= threshold
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if model == "lif":
            fires = drive > threshold
            x = np.where(fires, np.log1p((threshold - v) / (drive - threshold)), np.inf)
        else:
            w = np.sqrt(np.abs(drive))
            w_safe = np.where(w > 0, w, 1.0)
            # I > 0: atan(thr / w) - atan(v / w), written as one atan2 of the tangent difference
            x_pos = np.arctan2((threshold - v) * w, drive + threshold * v) / w_safe
            x_zero = np.where(v > 0, (threshold - v) / (v * threshold), np.inf)
            # I < 0: fires only from above the unstable fixed point +w
            fires_neg = (v > w) & (threshold > w)
            x_neg = np.where(
                fires_neg,
                (np.log1p((threshold - v) / (v - w)) - np.log1p((threshold - v) / (v + w))) / (2.0 * w_safe),
                np.inf,
            )
            x = np.where(drive > 0, x_pos, np.where(drive < 0, x_neg, x_zero))
    return np.where(above, 0.0, tau * x)


def kick(model, v, w):
    """State after a delta kick ``v += w`` (theta neurons: ``tan(theta / 2) += w``)."""
    if model != "theta":
        return v + w
    s, c = _theta_to_projective(_floats(v)[0])
    return _projective_to_theta(s + w * c, c)


def generator_kicks(times, sources, indptr, indices, weights, delays=0.0, period=0.0, t_stop=None):
    """Expand a spike generator with synapses into explicit kicks ``(time, target, weight)``.

    Parameters
    ----------
    times : array_like, s
        Spike times of the generator (one period if ``period > 0``).
    sources : array_like of int
        Generator source of each spike.
    indptr, indices : array_like of int
        CSR connectivity from generator sources to neurons.
    weights, delays : float or array_like
        Per synapse kick size and delay (s).
    period : float, s
        Repetition period (0: no repetition).
    t_stop : float, s
        Last time to expand to when ``period > 0``.

    Returns
    -------
    times, targets, weights : ndarray
        Arrival times, sorted stably (ties keep generator-spike order, then CSR order).
    """
    times, sources = np.asarray(times, float), np.asarray(sources, int)
    indptr, indices = np.asarray(indptr, int), np.asarray(indices, int)
    nnz = len(indices)
    weights = np.broadcast_to(np.asarray(weights, float), (nnz,))
    delays = np.broadcast_to(np.asarray(delays, float), (nnz,))
    if period > 0:
        n_rep = int(np.ceil(t_stop / period)) + 1
        reps = [times + k * period for k in range(n_rep)]
        times, sources = np.concatenate(reps), np.tile(sources, n_rep)
    out_t, out_j, out_w = [], [], []
    for t, src in zip(times, sources):
        syn = slice(indptr[src], indptr[src + 1])
        out_t.extend(t + delays[syn])
        out_j.extend(indices[syn])
        out_w.extend(weights[syn])
    order = np.argsort(np.asarray(out_t), kind="stable")
    return np.asarray(out_t)[order], np.asarray(out_j, int)[order], np.asarray(out_w)[order]


def poisson_times(rng, rate, t_stop):
    """Sorted event times (s) of a homogeneous Poisson process of ``rate`` (Hz) on ``[0, t_stop)``."""
    count = rng.poisson(rate * t_stop)
    return np.sort(rng.uniform(0.0, t_stop, count))


class Oracle:
    """Reference network simulator advancing every neuron to every event.

    Parameters follow ``brian2_sparseprop.EventNetwork`` (seconds, unitless states); external input is
    given as explicit kicks ``inputs = (times, targets, weights)`` (see :func:`generator_kicks`).
    ``dtype=np.longdouble`` runs the same method in extended precision (x86-64: 64-bit mantissa), to
    tell the reference's own accumulated rounding from an error of the engine on long runs. The closed
    forms lose precision for ``0 < |drive| < 1e-8`` (the ``sqrt(|drive|)`` branches); ``drive = 0`` is exact.

    Examples
    --------
    >>> net = Oracle(1, model="lif", tau=0.01, drive=2.0)
    >>> net.run(0.02)
    >>> np.allclose(net.spike_times, [0.01 * np.log(2.0)])
    True
    """

    def __init__(
        self,
        n,
        model="lif",
        tau=0.01,
        drive=1.1,
        threshold=1.0,
        reset=0.0,
        refractory=0.0,
        integrate_refractory=False,
        v_init=None,
        indptr=None,
        indices=None,
        weights=0.0,
        delays=0.0,
        inputs=None,
        dtype=np.float64,
    ):
        self.dtype = dtype = np.dtype(dtype)

        def per_neuron(x):
            return np.array(np.broadcast_to(np.asarray(x, dtype), (n,)))

        self.n = n
        models = np.array(np.broadcast_to(np.asarray(model), (n,)))
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"model must be one of {MODELS}, found: {sorted(unknown)}")
        self.models = models
        self.groups = {m: np.flatnonzero(models == m) for m in MODELS}
        self.is_theta = models == "theta"
        self.tau, self.drive = per_neuron(tau), per_neuron(drive)
        self.threshold = np.where(self.is_theta, np.inf, per_neuron(threshold))
        self.reset = np.where(self.is_theta, -np.pi, per_neuron(reset))
        self.refractory = per_neuron(refractory)
        self.integrate_refractory = integrate_refractory
        self.v = self.reset.copy() if v_init is None else per_neuron(v_init)
        if indptr is None:
            indptr, indices = np.zeros(n + 1, int), np.zeros(0, int)
        self.indptr, self.indices = np.asarray(indptr, int), np.asarray(indices, int)
        nnz = len(self.indices)
        self.weights = np.broadcast_to(np.asarray(weights, dtype), (nnz,))
        self.delays = np.broadcast_to(np.asarray(delays, dtype), (nnz,))
        self.t = dtype.type(0)
        self.ref_end = np.full(n, -np.inf, dtype)
        self.fired_at = np.full(n, np.nan, dtype)
        self.pending = []
        self.seq = 0
        if inputs is not None:
            for t, j, w in zip(*inputs):
                self._schedule(dtype.type(t), int(j), dtype.type(w), EXTERNAL)
        self.spike_times, self.spike_indices = [], []
        self.state_times, self.state_values = [], []
        self.n_events = 0
        self._started = False

    # --- primitives ---------------------------------------------------------------------------------
    def _schedule(self, t, j, w, kind):
        """An arrival at t onto j: external with its weight w, delayed with its synapse w (the weight is
        read on arrival, as Brian2's synapses read ``w``)."""
        heapq.heappush(self.pending, (t, kind, self.seq, j, w))
        self.seq += 1

    def _arrival(self, kind, j, w):
        """``(target, weight)`` of a scheduled arrival (a delayed one holds its synapse)."""
        return j, (self.weights[w] if kind == DELAYED else w)

    def set_synapses(self, weights=None, delays=None):
        """New weights or delays (one value or one per synapse) between two runs: spikes in flight keep the
        arrival times they were sent with and kick with the weight current on arrival (Brian2's runtime)."""
        nnz = len(self.indices)
        if weights is not None:
            self.weights = np.broadcast_to(np.asarray(weights, self.dtype), (nnz,))
        if delays is not None:
            self.delays = np.broadcast_to(np.asarray(delays, self.dtype), (nnz,))

    def _refractory(self):
        return self.t < self.ref_end

    def _next_spike_times(self):
        out = np.full(self.n, np.inf, self.dtype)
        for m, idx in self.groups.items():
            if len(idx):
                out[idx] = self.t + time_to_spike(m, self.v[idx], self.tau[idx], self.drive[idx], self.threshold[idx])
        out[self._refractory()] = np.inf
        return out

    def _advance(self, t_new):
        dt = t_new - self.t
        moving = np.ones(self.n, bool) if self.integrate_refractory else ~self._refractory()
        if self.integrate_refractory:
            self._check_no_blowup(dt)
        for m, idx in self.groups.items():
            idx = idx[moving[idx]]
            if len(idx) and dt > 0:
                self.v[idx] = flow(m, self.v[idx], dt, self.tau[idx], self.drive[idx])
        self.t = t_new

    def _check_no_blowup(self, dt):
        ref = np.flatnonzero(self._refractory() & (self.models != "lif"))
        for j in ref:
            if self.is_theta[j]:
                s, c = _theta_to_projective(self.v[j])
            else:
                s, c = self.v[j], 1.0
            if self.tau[j] * _blowup_time(s, c, self.drive[j]) <= dt:
                raise NotImplementedError(f"oracle: neuron {j} diverges while refractory (integrate_refractory)")

    def _fire(self, j, fifo):
        self.spike_times.append(self.t)
        self.spike_indices.append(j)
        self.fired_at[j] = self.t
        self.v[j] = self.reset[j]
        self.ref_end[j] = self.t + self.refractory[j]
        fifo.append(j)

    def _kick(self, j, w, fifo):
        if self.fired_at[j] == self.t:
            return  # absorbed by the reset of this instant
        if self.t < self.ref_end[j] and not self.integrate_refractory:
            return  # Brian2's (unless refractory): a clamped neuron takes no input while refractory
        self.v[j] = kick(self.models[j], self.v[j], w)
        if not self.is_theta[j] and not self.t < self.ref_end[j] and self.v[j] >= self.threshold[j]:
            self._fire(j, fifo)

    def _cascade(self, fifo, arrivals=()):
        """Fire the neurons in ``fifo`` and those their kicks (with ``arrivals``, a list of ``(target,
        weight)`` reaching their targets now) take to threshold, one generation at a time."""
        kicks = list(arrivals)
        while fifo or kicks:
            while fifo:
                i = fifo.popleft()
                for k in range(self.indptr[i], self.indptr[i + 1]):
                    if self.delays[k] == 0.0:
                        kicks.append((int(self.indices[k]), self.weights[k]))
                    else:
                        self._schedule(self.t + self.delays[k], int(self.indices[k]), k, DELAYED)
            per_target = {}  # in order of first arrival
            for j, w in kicks:
                per_target.setdefault(j, []).append(w)
            kicks = []
            for j, weights in per_target.items():
                self._kick(j, np.sort(np.asarray(weights, self.dtype)).sum(dtype=self.dtype), fifo)

    # --- main loop ----------------------------------------------------------------------------------
    def run(self, duration, record_times=()):
        """Simulate ``duration`` seconds from ``self.t``; events at times ``< self.t + duration`` are processed.

        ``record_times`` (s, sorted, within the run) store the state of all neurons, taken before the
        events of that instant.
        """
        t_end = self.t + duration
        records = deque(self.dtype.type(t) for t in record_times)
        fifo = deque()
        if not self._started:
            self._started = True
            for j in np.flatnonzero(self.v >= self.threshold):
                self._fire(int(j), fifo)
            self._cascade(fifo)
        while True:
            t_spike = self._next_spike_times()
            ref = self._refractory()
            t_ref = self.ref_end[ref].min() if ref.any() else np.inf
            t_in = self.pending[0][0] if self.pending else np.inf
            t_rec = records[0] if records else np.inf
            t_next = min(t_spike.min(), t_ref, t_in, t_rec)
            if t_next >= t_end:
                self._advance(t_end)
                return
            self._advance(t_next)
            self.n_events += 1
            if records and records[0] == t_next:
                records.popleft()
                self.state_times.append(t_next)
                self.state_values.append(self.v.copy())
            # the first level of the instant's breadth-first cascade, then the levels it causes
            for j in np.flatnonzero(ref & (self.ref_end == t_next)):
                if self.v[j] >= self.threshold[j]:
                    self._fire(int(j), fifo)
            for j in np.flatnonzero(t_spike == t_next):
                if self.fired_at[j] != t_next:
                    self._fire(int(j), fifo)
            arrivals = []
            while self.pending and self.pending[0][0] == t_next:
                _, kind, _, j, w = heapq.heappop(self.pending)
                arrivals.append(self._arrival(kind, j, w))
            self._cascade(fifo, arrivals)
