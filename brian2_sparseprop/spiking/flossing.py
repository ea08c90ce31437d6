"""Gradient flossing of pulse-coupled theta, QIF and LIF networks: exact gradients of their Lyapunov exponents.

The first ``k`` Lyapunov exponents of a run of an `EventNetwork` are a differentiable function of its
weights and drives as long as the order of the spikes does not change. `flossing_loss_and_grad` records
the order (a copy of the network runs in the engine), then replays it as a JAX function (``lax.scan``
over the spikes, no Python loop): each spike's time from the closed form of its neuron's flow, its
single-spike Jacobian applied to the k tangent vectors (the coordinates and Jacobians of
`brian2_sparseprop.spiking.lyapunov`), QR steps every ``qr_interval`` spikes; the exponents are
``sum log|R_ii| / duration`` and ``jax.grad`` differentiates through the spike times, the Jacobians and
the QR steps. `floss` minimises ``sum_i (lambda_i - target)**2`` with an optax optimiser.

Neurons (QIF and theta, drive I > 0) are replayed in the phase ``phi = atan(v / sqrt(I))`` (theta:
``v = tan(theta / 2)``), which advances at the constant rate ``sqrt(I) / tau`` between pulses, so a
spike time is a division; a pulse w is ``phi -> atan(tan(phi) + w / sqrt(I))``. LIF neurons (drive
I > threshold) are replayed in ``u = I - v``, which decays as ``exp(-t / tau)``. The spike times take
the values the engine recorded (so the replayed states equal the engine's to rounding, however chaotic
the network), and their derivatives from the closed form (see `docs/spiking_lyapunov.md`).

This module needs JAX and optax (``pip install brian2_sparseprop[jax]``).
"""

import dataclasses
import math
import time

import numpy as np
import quantities as pq

from .._validation import check_int, check_real
from .gradients import _x64
from .lyapunov import _check_supported, _copy, _event_network, _time

try:
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as exc:  # the rest of the package works without JAX
    raise ImportError("brian2_sparseprop.spiking.flossing needs JAX: pip install 'brian2_sparseprop[jax]'") from exc

__all__ = ["FlossingGradient", "flossing_loss_and_grad", "FlossingResult", "floss"]

#: QR steps of the replay per compiled shape: the number of QR blocks is rounded up to a multiple of
#: this or of a quarter of its power of two, so that runs whose spike counts differ a little share code
BLOCK_ROUNDING = 8


@dataclasses.dataclass
class FlossingGradient:
    """The flossing loss of a run and its exact gradient at fixed event order.

    Attributes
    ----------
    loss : float
        ``sum_i (lambda_i - target)**2`` over the first k exponents, in 1/s**2.
    exponents : Quantity (1/s), shape (k,)
        The exponents of the run (the columns of the QR steps, descending in the limit of long runs).
    dL_dweights : numpy.ndarray, shape (nnz,)
        d loss / d weight of each synapse (in the order of the network's ``indices``; a network with one
        shared weight gets the gradient per synapse too, whose sum is the derivative by the shared value).
    dL_ddrive : numpy.ndarray, shape (n,)
        d loss / d drive of each neuron.
    vectors : numpy.ndarray, shape (n, k)
        The orthonormal tangent vectors at the end of the run (in the coordinates of `lyapunov_spectrum`'s
        ``vectors``): the initial vectors of a run that continues this one.
    params : dict
        ``n_spikes`` (replayed, warm-up of the vectors included), ``n_measured`` (spikes of the measurement),
        ``qr_interval``, ``n_qr``, ``target``, ``duration``, ``t_warmup_tangent``, ``seed``, ``neurons``
        (the order of the spikes: the event order the gradient holds for) and ``cpu_seconds`` (``network``:
        the engine's run; ``replay``: the JAX replay with its gradient, compilation included).
    """

    loss: float
    exponents: pq.Quantity
    dL_dweights: np.ndarray
    dL_ddrive: np.ndarray
    vectors: np.ndarray
    params: dict


def _check_models(net):
    """``'qif'`` for networks of QIF and theta neurons, ``'lif'`` for LIF networks whose neurons all fire
    on their own (drive > threshold); NotImplementedError naming the first neuron otherwise."""
    from .network import MODELS

    codes = net._codes
    lif = codes == MODELS.index("lif")
    if lif.all():
        silent = np.broadcast_to(net._drive, (net.n,)) <= np.broadcast_to(net._thr, (net.n,))
        if silent.any():
            i = int(np.argmax(silent))
            raise NotImplementedError(
                "spiking gradient flossing of LIF networks is implemented for neurons that fire on their own "
                f"(drive > threshold), found drive {np.broadcast_to(net._drive, (net.n,))[i]} <= threshold "
                f"{np.broadcast_to(net._thr, (net.n,))[i]} for neuron {i}"
            )
        return "lif"
    ok = (codes == MODELS.index("theta")) | (codes == MODELS.index("qif"))
    if not ok.all():
        i = int(np.argmax(~ok))
        raise NotImplementedError(
            "spiking gradient flossing is implemented for networks of theta and QIF neurons (drive > 0) and "
            f"for networks of LIF neurons (drive > threshold), found model {MODELS[codes[i]]!r} for neuron {i} "
            "in a network with other models"
        )
    return "qif"


def _slots(indptr, indices, n):
    """The targets of each neuron as a padded table: ``(table, slot)`` with ``table`` (n + 1, kmax) the
    distinct targets of each source other than itself (padded with the dummy neuron n; row n all dummy)
    and ``slot`` (nnz,) each synapse's flat position in it, ``(n + 1) kmax`` for a synapse onto its own
    source (its pulse is absorbed by the reset). Repeated synapses share a slot: pulses onto one target
    in one instant add up (v += w1 + w2), and their single-spike factors multiply to the summed pulse's."""
    nnz = indices.size
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    tgt = indices.astype(np.int64)
    keep = src != tgt
    key = src * n + tgt
    uniq, inverse = np.unique(key[keep], return_inverse=True)
    u_src = uniq // n
    first = np.searchsorted(u_src, np.arange(n + 1))  # first unique pair of each source
    rank = np.arange(uniq.size) - first[u_src]
    kmax = max(1, int(rank.max()) + 1 if uniq.size else 1)
    table = np.full((n + 1, kmax), n, dtype=np.int32)
    table[u_src, rank] = uniq % n
    slot = np.full(nnz, (n + 1) * kmax, dtype=np.int64)
    slot[keep] = u_src[inverse] * kmax + rank[inverse]
    return table, slot


def _blocks(times, neuron, t_split, q, n):
    """Spikes in blocks of q, each QR block inside one part (before and after ``t_split``), padded with the
    dummy neuron n; ``(neurons (B, q), times (B, q), measured (B,))`` with B rounded up (BLOCK_ROUNDING)."""
    n_w = int(np.searchsorted(times, t_split, side="right"))
    parts = []
    for a, b, flag in ((0, n_w, 0.0), (n_w, times.size, 1.0)):
        nb = -(-(b - a) // q)
        idx = np.full(nb * q, n, dtype=np.int32)
        tt = np.full(nb * q, times[b - 1] if b > a else t_split, dtype=np.float64)
        idx[: b - a] = neuron[a:b]
        tt[: b - a] = times[a:b]
        parts.append((idx.reshape(nb, q), tt.reshape(nb, q), np.full(nb, flag)))
    nb = parts[0][0].shape[0] + parts[1][0].shape[0]
    step = max(BLOCK_ROUNDING, 2 ** max(0, int(math.log2(max(nb, 1))) - 2))
    pad = -(-max(nb, 1) // step) * step - nb
    t_last = times[-1] if times.size else t_split
    parts.append((np.full((pad, q), n, np.int32), np.full((pad, q), t_last), np.zeros(pad)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3)), n_w


def _models(model, drive, tau, v0, thr, rst):
    """The replayed state of each neuron and its flow, by model (``'qif'``: QIF and theta, ``'lif'``), for
    the neurons and the dummy neuron n: ``(x0, x_threshold, x_reset, scale, advance, spike_time, pulse)``
    with ``advance(x, dt, i)`` the free flow, ``spike_time(x, j)`` the time to threshold and
    ``pulse(x_minus, w, i) -> (x_plus, d)`` with d = g(v-) / g(v+) the ratio of the velocities."""
    one = jnp.ones(1)
    tau_x = jnp.concatenate([tau, one])
    if model == "lif":
        # u = I - v, decaying as exp(-t / tau); spike at u = I - threshold, reset to I - reset; v += w is u -= w
        gap = jnp.concatenate([drive - thr, one])
        x0 = jnp.concatenate([drive - v0, one])
        x_reset = jnp.concatenate([drive - rst, one])

        def advance(x, dt, i):
            return x * jnp.exp(-dt / tau_x[i])

        def spike_time(x, j):
            return tau_x[j] * jnp.log(x / gap[j])

        def pulse(xm, w, i):
            xp = xm - w
            return xp, xm / xp

        return x0, x_reset, advance, spike_time, pulse

    # QIF and theta: the phase phi = atan(v / sqrt(I)) advances at sqrt(I) / tau; v += w is
    # phi -> atan(tan(phi) + w / sqrt(I)), and g(v) = I / cos(phi)**2
    half_pi = jnp.pi / 2

    def phase(v, sq):
        """atan(v / sqrt(I)), -pi/2 at v = -inf and pi/2 at +inf, with finite derivatives."""
        fin = jnp.isfinite(v)
        return jnp.where(fin, jnp.arctan(jnp.where(fin, v, 0.0) / sq), jnp.sign(v) * half_pi)

    sq = jnp.sqrt(drive)
    sq_x = jnp.concatenate([sq, one])
    om_x = sq_x / tau_x
    ph_th = jnp.concatenate([phase(thr, sq), one * half_pi])
    x_reset = jnp.concatenate([phase(rst, sq), -one * half_pi])
    x0 = jnp.concatenate([phase(v0, sq), jnp.zeros(1)])

    def advance(x, dt, i):
        return x + om_x[i] * dt

    def spike_time(x, j):
        return (ph_th[j] - x) / om_x[j]

    def pulse(xm, w, i):
        xp = jnp.arctan(jnp.tan(xm) + w / sq_x[i])
        return xp, (jnp.cos(xp) / jnp.cos(xm)) ** 2

    return x0, x_reset, advance, spike_time, pulse


def _replay(w, drive, fixed, blocks, duration, target, model):
    """The flossing loss and exponents of a recorded event order, as a JAX function of the weights and
    drives (differentiable): ``fixed`` holds tau, v0, v-threshold, v-reset (n,), the target table and the
    synapses' slots, and the initial tangent vectors (n, k); ``model`` is ``'qif'`` (QIF and theta
    neurons) or ``'lif'``. A dummy neuron n pads the spikes and the rows of targets: its pulses have
    weight 0 and its row of the tangent vectors is not in the QR steps."""
    tau, v0, thr, rst, table, slot, Y0 = fixed
    nb_neurons, nb_times, measured = blocks
    n = tau.shape[0]
    kmax = table.shape[1]
    x0, x_reset, advance, spike_time, pulse = _models(model, drive, tau, v0, thr, rst)
    tau_x = jnp.concatenate([tau, jnp.ones(1)])
    w_eff = jax.ops.segment_sum(w, slot, num_segments=(n + 1) * kmax + 1)[:-1].reshape(n + 1, kmax)
    Y = jnp.concatenate([Y0, jnp.zeros((1, Y0.shape[1]))])

    def spike(carry, xs):
        x, tl, Y = carry
        j, t_rec = xs
        t_cf = tl[j] + spike_time(x[j], j)  # the closed-form time of the spike
        t = t_rec + (t_cf - jax.lax.stop_gradient(t_cf))  # the engine's value, the closed form's derivative
        dts = -tau_x[j] * Y[j]  # the spike's time shift per tangent vector
        x = x.at[j].set(x_reset[j])
        tl = tl.at[j].set(t)
        tg = table[j]
        xp, d = pulse(advance(x[tg], t - tl[tg], tg), w_eff[j], tg)
        x = x.at[tg].set(xp)
        tl = tl.at[tg].set(t)
        Y = Y.at[tg].set(d[:, None] * Y[tg] + ((d - 1.0) / tau_x[tg])[:, None] * dts[None, :])
        return (x, tl, Y), None

    def block(carry, xs):
        state, acc = carry
        neurons, times, flag = xs
        state, _ = jax.lax.scan(spike, state, (neurons, times))
        x, tl, Y = state
        Q, R = jnp.linalg.qr(Y[:n])
        diag = jnp.diagonal(R)
        Y = Y.at[:n].set(Q * jnp.sign(diag)[None, :])
        return ((x, tl, Y), acc + flag * jnp.log(jnp.abs(diag))), None

    state = (x0, jnp.zeros(n + 1), Y)
    ((_, _, Y), acc), _ = jax.lax.scan(block, (state, jnp.zeros(Y0.shape[1])), (nb_neurons, nb_times, measured))
    lam = acc / duration
    return jnp.sum((lam - target) ** 2), (lam, Y[:n])


_value_and_grad = jax.jit(jax.value_and_grad(_replay, argnums=(0, 1), has_aux=True), static_argnames=("model",))


def flossing_loss_and_grad(
    net, duration, k, target=0.0, *, t_warmup_tangent=0.0, qr_interval=None, seed=None, vectors=None
):
    """The flossing loss ``sum_{i <= k} (lambda_i - target)**2`` of a run and its exact gradient with
    respect to the weights and the drives, at fixed event order.

    A copy of ``net`` continues from its current state (``net`` is not changed) for ``t_warmup_tangent +
    duration`` seconds in the engine, recording the order of the spikes. That order is replayed as a JAX
    function of the weights and drives (``lax.scan`` over the spikes): spike times from the closed form
    of each neuron's flow, ``k`` tangent vectors through the single-spike Jacobians (as in
    `lyapunov_spectrum`, from the same random orthonormal vectors for the same ``seed``), a QR step every
    ``qr_interval`` spikes and at the end of the vectors' warm-up; the exponents are the sums of
    ``log|R_ii|`` over the measurement divided by ``duration``, and ``jax.grad`` gives the gradient of the
    loss through the spike times, the Jacobians and the QR steps. The initial state and the initial
    tangent vectors are held fixed; the vectors' warm-up is part of the differentiated run.

    With the same ``k``, ``t_warmup_tangent``, ``qr_interval`` and ``seed`` (and no ``t_warmup``), the
    exponents are those of `lyapunov_spectrum`. The gradient is that of the loss as long as no two
    spikes change order (the loss is piecewise smooth in the parameters; over long chaotic runs the
    pieces are small and the gradient grows like exp(lambda_1 T): keep ``duration`` to a few 1 /
    lambda_1).

    Parameters
    ----------
    net : EventNetwork or brian2.Network
        Theta and QIF neurons with drive > 0 (mixed), or LIF neurons with drive > threshold (a network of
        LIF neurons only); delta pulses, no delays, no refractoriness, no external input, weights <= 0
        onto LIF and QIF neurons (`lyapunov_spectrum`'s conditions); a Brian2 Network that ran with the
        sparseprop device, as there.
    duration : float or time Quantity
        Measured time (s), > 0.
    k : int
        Number of exponents in the loss, ``1 <= k <= net.n``.
    target : float
        The value (1/s) the exponents are pushed toward.
    t_warmup_tangent : float or time Quantity
        Time (s, >= 0) of the vectors before the measurement (differentiated, not in the loss).
    qr_interval : int or None
        Spikes between QR steps (>= 1); None: ``max(1, n // 2)``.
    seed : int, numpy.random.Generator or None
        Random initial tangent vectors.
    vectors : array_like, shape (n, k), or None
        Initial tangent vectors instead of random ones (orthonormalised first; for instance the
        ``vectors`` of a previous call, to continue its run without a warm-up of the vectors).

    Returns
    -------
    FlossingGradient
        The loss, the exponents, ``dL_dweights`` (per synapse), ``dL_ddrive`` (per neuron) and ``params``.

    Raises
    ------
    TypeError, ValueError
        For arguments of the wrong type or out of range.
    NotImplementedError
        For neurons other than theta and QIF, and for what `lyapunov_spectrum` refuses.

    Examples
    --------
    >>> from brian2_sparseprop.spiking.standard import balanced_theta
    >>> net = balanced_theta(40, k=8, seed=0)
    >>> g = flossing_loss_and_grad(net, 0.2, k=2, seed=0)
    >>> g.dL_dweights.shape, g.dL_ddrive.shape
    ((320,), (40,))
    >>> bool(g.exponents[0].magnitude > 0)
    True
    """
    net, _ = _event_network(net)
    duration = _time("duration", duration, positive=True)
    t_warmup_tangent = _time("t_warmup_tangent", t_warmup_tangent)
    n = net.n
    k = check_int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be <= the number of neurons {n}, found: {k}")
    target = check_real("target", target)
    q = max(1, n // 2) if qr_interval is None else check_int("qr_interval", qr_interval, 1)
    model = _check_models(net)
    _check_supported(net)
    if vectors is None:
        Y0 = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, k)))[0]  # as lyapunov_spectrum
    else:
        Y0 = np.asarray(vectors, dtype=np.float64)
        if Y0.shape != (n, k):
            raise ValueError(f"vectors must have shape (n, k) = {(n, k)}, found: {Y0.shape}")
        if not np.all(np.isfinite(Y0)) or np.linalg.matrix_rank(Y0) < k:
            raise ValueError("vectors must be finite and linearly independent")
        Y0 = np.linalg.qr(Y0)[0]

    cpu = time.process_time()
    sim = _copy(net)
    sim.run(t_warmup_tangent + duration)
    times, neurons = sim.spike_times, sim.spike_indices
    cpu_network = time.process_time() - cpu

    cpu = time.process_time()
    blocks, n_w = _blocks(times, neurons, t_warmup_tangent, q, n)
    table, slot = _slots(net._indptr, net._indices, n)
    nnz = net._indices.size
    w = np.broadcast_to(np.asarray(net._weights, dtype=np.float64), (nnz,)).copy()
    drive = np.broadcast_to(np.asarray(net._drive, dtype=np.float64), (n,)).copy()
    tau = np.broadcast_to(np.asarray(net._tau, dtype=np.float64), (n,)).copy()
    thr = np.broadcast_to(np.asarray(net._thr, dtype=np.float64), (n,)).copy()
    rst = np.broadcast_to(np.asarray(net._reset, dtype=np.float64), (n,)).copy()
    from .network import MODELS, _theta_to_v

    v0 = net.v.astype(np.float64)
    theta = net._codes == MODELS.index("theta")
    v0[theta] = _theta_to_v(v0[theta])
    thr[theta], rst[theta] = np.inf, -np.inf
    with _x64():
        fixed = tuple(jnp.asarray(a) for a in (tau, v0, thr, rst, table, slot, Y0))
        (loss, (lam, Y)), (g_w, g_d) = _value_and_grad(
            jnp.asarray(w), jnp.asarray(drive), fixed, tuple(jnp.asarray(b) for b in blocks),
            jnp.asarray(duration), jnp.asarray(target), model=model,
        )  # fmt: skip
        loss, lam, Y = float(loss), np.asarray(lam), np.asarray(Y)
        g_w, g_d = np.asarray(g_w), np.asarray(g_d)
    cpu_replay = time.process_time() - cpu
    if not (np.isfinite(loss) and np.all(np.isfinite(g_w)) and np.all(np.isfinite(g_d))):
        raise FloatingPointError(f"the flossing loss or its gradient is not finite (loss {loss})")
    params = dict(
        n_spikes=int(times.size),
        n_measured=int(times.size - n_w),
        qr_interval=q,
        n_qr=int(blocks[2].sum()),
        target=target,
        duration=duration,
        t_warmup_tangent=t_warmup_tangent,
        seed=seed if isinstance(seed, (int, np.integer)) or seed is None else "generator",
        neurons=neurons,
        cpu_seconds=dict(network=cpu_network, replay=cpu_replay),
    )
    return FlossingGradient(loss, pq.Quantity(lam, 1 / pq.s), g_w, g_d, Y, params)


@dataclasses.dataclass
class FlossingResult:
    """What `floss` did: the flossed network, the spectra before and after, the history of the steps.

    Attributes
    ----------
    network : EventNetwork
        A copy of the input network with the flossed weights and drives, at the input network's state.
    before, after : LyapunovSpectrum or None
        `lyapunov_spectrum` of the input and of the flossed network (same settings, same start state;
        None if ``evaluate`` was None).
    exponents : Quantity (1/s), shape (n_steps, k)
        The exponents of each step's window, before its update.
    losses : numpy.ndarray, shape (n_steps,)
        The flossing loss of each step's window (1/s**2).
    weights, drive : numpy.ndarray
        The flossed weights (per synapse) and drives (per neuron).
    params : dict
        The settings, and ``cpu_seconds`` of the steps.
    """

    network: object
    before: object
    after: object
    exponents: pq.Quantity
    losses: np.ndarray
    weights: np.ndarray
    drive: np.ndarray
    params: dict


_TRAINABLE = ("weights", "drive")


def floss(
    net,
    duration,
    k,
    target=0.0,
    *,
    n_steps=100,
    optimizer=None,
    train=("weights",),
    t_warmup_tangent=0.1,
    qr_interval=None,
    seed=None,
    evaluate=(10.0, 1.0),
    report=None,
):
    """Gradient flossing of a theta, QIF or LIF network: push its first ``k`` Lyapunov exponents toward ``target``.

    Each step takes the exact gradient of ``sum_i (lambda_i - target)**2`` over a window of ``duration``
    seconds (`flossing_loss_and_grad`: at the window's fixed event order) and lets ``optimizer`` update the
    weights and/or drives. The windows follow each other: a working copy of ``net`` continues from the end
    of one window into the next, and so do the tangent vectors (only the first window has a warm-up of
    the vectors, ``t_warmup_tangent``), so the steps see fresh stretches of the trajectory (stochastic
    gradients, as truncated backpropagation through time). Short windows (a few 1 / lambda_1) keep the
    gradient of a chaotic run from growing as exp(lambda_1 T). After each update the drives are kept
    >= 1e-3 of their initial value (QIF and theta neurons must oscillate; LIF neurons: above threshold by
    1e-3 of their initial distance, they must fire on their own) and the weights onto LIF and QIF neurons
    <= 0 (no pulse may trigger a spike).

    Parameters
    ----------
    net : EventNetwork or brian2.Network
        As in `flossing_loss_and_grad`; not changed.
    duration : float or time Quantity
        Window of each step (s, > 0).
    k : int
        Number of exponents in the loss.
    target : float
        The value (1/s) the exponents are pushed toward.
    n_steps : int
        Optimiser steps (>= 0).
    optimizer : optax.GradientTransformation or None
        Default: ``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))``.
    train : tuple of {'weights', 'drive'}
        What is flossed.
    t_warmup_tangent : float or time Quantity
        Warm-up of the tangent vectors in the first window (s, >= 0).
    qr_interval : int or None
        Spikes between QR steps (`flossing_loss_and_grad`).
    seed : int or None
        Initial tangent vectors, and those of the evaluation.
    evaluate : (float, float) or None
        ``(duration, t_warmup_tangent)`` of the `lyapunov_spectrum` (the first ``k`` exponents) of the
        input and of the flossed network, both from ``net``'s state; None: no evaluation.
    report : None, 'text', 'tqdm' or callable
        Progress: 'text' prints a line every 10 % of the steps, 'tqdm' shows a progress bar with
        lambda_1, a callable gets ``(step, FlossingGradient)`` after every step.

    Returns
    -------
    FlossingResult

    Raises
    ------
    TypeError, ValueError
        For arguments of the wrong type or out of range.
    NotImplementedError
        As `flossing_loss_and_grad`.

    Examples
    --------
    >>> from brian2_sparseprop.spiking.standard import balanced_theta
    >>> net = balanced_theta(40, k=8, seed=0)
    >>> res = floss(net, 0.2, k=2, n_steps=3, seed=0, evaluate=None)
    >>> res.exponents.shape, res.weights.shape
    ((3, 2), (320,))
    """
    from .lyapunov import lyapunov_spectrum

    net, _ = _event_network(net)
    duration = _time("duration", duration, positive=True)
    t_warmup_tangent = _time("t_warmup_tangent", t_warmup_tangent)
    n_steps = check_int("n_steps", n_steps, 0)
    k = check_int("k", k, 1)
    if k > net.n:
        raise ValueError(f"k must be <= the number of neurons {net.n}, found: {k}")
    target = check_real("target", target)
    if isinstance(train, str):
        train = (train,)
    if not train or any(t not in _TRAINABLE for t in train) or len(set(train)) != len(train):
        raise ValueError(f"train must be a non-empty tuple of distinct names from {_TRAINABLE}, found: {train!r}")
    if optimizer is None:
        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, found: {type(optimizer).__name__}")
    if evaluate is not None:
        if not (isinstance(evaluate, (tuple, list)) and len(evaluate) == 2):
            raise TypeError(f"evaluate must be a pair (duration, t_warmup_tangent) or None, found: {evaluate!r}")
        eval_duration = _time("evaluate[0]", evaluate[0], positive=True)
        eval_warmup = _time("evaluate[1]", evaluate[1])
    if report not in (None, "text", "tqdm") and not callable(report):
        raise ValueError(f"report must be None, 'text', 'tqdm' or a callable, found {report!r}")
    _check_models(net)
    _check_supported(net)
    from .network import MODELS

    n, nnz = net.n, net._indices.size
    params = {
        "weights": np.broadcast_to(np.asarray(net._weights, dtype=np.float64), (nnz,)).copy(),
        "drive": np.broadcast_to(np.asarray(net._drive, dtype=np.float64), (n,)).copy(),
    }
    lif = net._codes == MODELS.index("lif")
    thr = np.where(lif, np.broadcast_to(np.asarray(net._thr, dtype=np.float64), (n,)), 0.0)  # theta: +inf
    # LIF neurons keep firing on their own, QIF and theta neurons keep oscillating
    min_drive = np.where(lif, thr + 1e-3 * (params["drive"] - thr), 1e-3 * params["drive"])
    inhibitory = net._codes[net._indices] != MODELS.index("theta")  # weights <= 0 onto LIF and QIF neurons
    trained = {name: params[name] for name in train}
    with _x64():  # the optimiser's state in float64
        opt_state = optimizer.init(trained)
    work = _copy(net)
    work.record_spikes(np.zeros(0, np.int32))
    history, losses = np.empty((n_steps, k)), np.empty(n_steps)
    vectors, warmup = None, t_warmup_tangent
    bar = None
    if report == "tqdm":
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="step")
    cpu = time.process_time()
    try:
        for step in range(n_steps):
            g = flossing_loss_and_grad(
                work, duration, k, target, t_warmup_tangent=warmup, qr_interval=qr_interval, seed=seed,
                vectors=vectors,
            )  # fmt: skip
            history[step], losses[step] = g.exponents.magnitude, g.loss
            work.run(warmup + duration)  # to the end of the window, with the parameters it was run with
            vectors, warmup = g.vectors, 0.0
            grads = {"weights": g.dL_dweights, "drive": g.dL_ddrive}
            with _x64():
                updates, opt_state = optimizer.update({name: grads[name] for name in train}, opt_state, trained)
                new = optax.apply_updates(trained, updates)
            trained = {name: np.asarray(v, dtype=np.float64) for name, v in new.items()}
            if "drive" in trained:
                trained["drive"] = np.maximum(trained["drive"], min_drive)
            if "weights" in trained:
                trained["weights"] = np.where(inhibitory, np.minimum(trained["weights"], 0.0), trained["weights"])
            params.update(trained)
            work.set_params(**trained)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(lambda_1=f"{history[step, 0]:.3g}", loss=f"{g.loss:.4g}")
            elif report == "text" and (step + 1) % max(1, n_steps // 10) == 0:
                print(f"step {step + 1}/{n_steps}: loss {g.loss:.4g}, lambda_1 {history[step, 0]:.4g} /s")
            elif callable(report):
                report(step, g)
    finally:
        if bar is not None:
            bar.close()
    cpu = time.process_time() - cpu
    flossed = _copy(net)
    flossed.set_params(weights=params["weights"], drive=params["drive"])
    before = after = None
    if evaluate is not None:
        before, after = (
            lyapunov_spectrum(m, eval_duration, k=k, t_warmup_tangent=eval_warmup, seed=seed) for m in (net, flossed)
        )
    settings = dict(
        duration=duration, k=k, target=target, n_steps=n_steps, train=tuple(train), t_warmup_tangent=t_warmup_tangent,
        qr_interval=qr_interval, seed=seed, evaluate=evaluate, cpu_seconds=cpu,
    )  # fmt: skip
    return FlossingResult(
        flossed, before, after, pq.Quantity(history, 1 / pq.s), losses, params["weights"], params["drive"], settings
    )
