"""Gradient flossing: training recurrent networks with their first Lyapunov exponents pushed to zero.

Gradient flossing (Engelken, NeurIPS 2023) adds a loss on the first ``k`` Lyapunov exponents of the
forward dynamics, ``sum_i lambda_i**2``, estimated by the QR method over a finite horizon and
differentiated through the QR steps. Minimising it before (and at intervals during) training keeps
the long-term Jacobian well conditioned, so that gradients survive long delays.

This module needs JAX (``pip install brian2_sparseprop[jax]``); the rest of the package does not.

Models (state ``x``, binary input ``s_t``, one logit read out per step):

- ``'rnn'``: ``x_t = J tanh(x_{t-1}) + b + W_in s_t``, readout ``w_out tanh(x_t) + b_out``
  (the map of :class:`brian2_sparseprop.rate.lyapunov.RNN`);
- ``'lstm'``: state ``(h, c)``, gates ``(i, f, g, o)`` as in
  :class:`brian2_sparseprop.rate.lyapunov.LSTM`, readout from ``h``;
- ``'gru'``: as in :class:`brian2_sparseprop.rate.lyapunov.GRU`, readout from ``h``.

Tasks: a stream of random bits ``s_t in {-1, +1}``; the target at step ``t`` is the parity (XOR)
of the bits at ``t - d`` for the lags ``d`` in ``lags``: one lag is the delayed copy task, the
lags ``(d // 2, d)`` the delayed XOR task used by the experiment
(:mod:`brian2_sparseprop.experiments.flossing`, ``sparseprop-floss``).
"""

import dataclasses
import math

import numpy as np
import quantities as pq

from .._validation import check_choice, check_int as _check_int, check_real as _check_real
from ..lyapunov import step
from .nonlinearities import NONLINEARITIES

_tanh = NONLINEARITIES["tanh"].phi
_sigmoid = NONLINEARITIES["sigmoid"].phi

try:
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as exc:  # the rest of the package works without JAX
    raise ImportError("brian2_sparseprop.rate.flossing needs JAX: pip install 'brian2_sparseprop[jax]'") from exc

__all__ = [
    "init_params",
    "delayed_parity",
    "lyapunov_exponents",
    "flossing_loss",
    "task_loss",
    "FlossingSettings",
    "floss",
    "TrainingResult",
    "train",
]

_MODELS = ("rnn", "lstm", "gru")


def _check_model(model):
    check_choice("model", model, _MODELS)


def _check_levels(levels):
    """Two distinct finite input levels, as floats."""
    if not isinstance(levels, (tuple, list)) or len(levels) != 2:
        raise TypeError(f"levels must be a pair of numbers (bit 0, bit 1), found: {levels!r:.60}")
    lo, hi = (_check_real(name, x) for name, x in zip(("levels[0]", "levels[1]"), levels))
    if lo == hi:
        raise ValueError(f"levels must differ, found: {levels!r}")
    return lo, hi


def _check_lags(lags):
    if not isinstance(lags, (tuple, list)) or len(lags) == 0:
        raise TypeError(f"lags must be a non-empty tuple of ints, found: {lags!r}")
    for d in lags:
        _check_int("each lag", d, 1)
    if len(set(lags)) != len(lags):
        raise ValueError(f"lags must be distinct, found: {lags}")
    return tuple(int(d) for d in lags)


# ----------------------------------------------------------------------------- models


def init_params(model, N, *, g=1.0, n_inputs=1, key):
    """Random initial parameters of a recurrent network with one logit output.

    Recurrent weights are Gaussian with variance ``g**2 / N`` (the gain of the random network),
    input weights standard normal, readout weights of variance ``1 / N``, biases zero (LSTM forget
    gate bias 1).

    Parameters
    ----------
    model : {'rnn', 'lstm', 'gru'}
        Architecture.
    N : int
        Number of units.
    g : float
        Gain of the recurrent weights, > 0.
    n_inputs : int
        Input channels.
    key : jax.Array
        PRNG key (``jax.random.key(seed)``).

    Returns
    -------
    dict of str to jax.Array
        ``rnn``: ``J (N, N)``, ``W_in (N, n_inputs)``, ``b (N,)``; ``lstm``/``gru``: ``U (G N, N)``,
        ``W (G N, n_inputs)``, ``b (G N,)`` with ``G = 4`` or ``3``; all: ``w_out (N,)``, ``b_out ()``.

    Raises
    ------
    ValueError
        If ``model`` is unknown, ``N < 1``, ``n_inputs < 1`` or ``g <= 0``.

    Examples
    --------
    >>> p = init_params("rnn", 8, key=jax.random.key(0))
    >>> sorted(p), p["J"].shape
    (['J', 'W_in', 'b', 'b_out', 'w_out'], (8, 8))
    """
    _check_model(model)
    N = _check_int("N", N, 1)
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    g = _check_real("g", g, positive=True)
    k1, k2, k3 = jax.random.split(key, 3)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[model]
    rec = g / math.sqrt(N) * jax.random.normal(k1, (G * N, N))
    inp = jax.random.normal(k2, (G * N, n_inputs))
    out = {"w_out": jax.random.normal(k3, (N,)) / math.sqrt(N), "b_out": jnp.zeros(())}
    if model == "rnn":
        return {"J": rec, "W_in": inp, "b": jnp.zeros(N), **out}
    b = jnp.zeros(G * N)
    if model == "lstm":
        b = b.at[N : 2 * N].set(1.0)
    return {"U": rec, "W": inp, "b": b, **out}


def _state_dim(model, params):
    N = params["w_out"].shape[0]
    return 2 * N if model == "lstm" else N


def _step(model, params, x, s):
    if model == "rnn":
        return params["J"] @ _tanh(x) + params["b"] + params["W_in"] @ s
    N = params["w_out"].shape[0]
    if model == "lstm":
        h, c = x[:N], x[N:]
        a = params["U"] @ h + params["W"] @ s + params["b"]
        i, f = _sigmoid(a[:N]), _sigmoid(a[N : 2 * N])
        gg, o = _tanh(a[2 * N : 3 * N]), _sigmoid(a[3 * N :])
        c_new = f * c + i * gg
        return jnp.concatenate([o * _tanh(c_new), c_new])
    a_in = params["W"] @ s + params["b"]
    m = params["U"] @ x
    r = _sigmoid(a_in[:N] + m[:N])
    z = _sigmoid(a_in[N : 2 * N] + m[N : 2 * N])
    n = _tanh(a_in[2 * N :] + r * m[2 * N :])
    return (1 - z) * n + z * x


def _readout(model, params, x):
    N = params["w_out"].shape[0]
    h = _tanh(x) if model == "rnn" else x[:N]
    return params["w_out"] @ h + params["b_out"]


# ----------------------------------------------------------------------------- tasks


def delayed_parity(key, batch_size, seq_len, lags, levels=(-1.0, 1.0)):
    """Random binary input streams and their delayed-parity targets.

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    batch_size : int
        Number of sequences.
    seq_len : int
        Steps per sequence, > ``max(lags)``.
    lags : tuple of int
        Delays (steps); target ``y_t = XOR_d [s_{t-d} = +1]``. ``(d,)``: delayed copy;
        ``(d // 2, d)``: delayed XOR.
    levels : tuple of two floats
        Input values of the bits 0 and 1: ``(-1, 1)``, or ``(0, 1)`` as in the reference code of gradient
        flossing (a bit 0 gives no input).

    Returns
    -------
    inputs : jax.Array, shape (batch_size, seq_len, 1)
        Bits as ``levels[0]`` / ``levels[1]``.
    targets : jax.Array, shape (batch_size, seq_len)
        ``0.0`` / ``1.0``; meaningful where ``mask`` is True.
    mask : jax.Array, shape (seq_len,)
        True from step ``max(lags)`` on.

    Raises
    ------
    TypeError
        If ``lags`` is not a non-empty tuple of ints.
    ValueError
        If a lag is < 1, lags repeat, or ``seq_len <= max(lags)``.

    Examples
    --------
    >>> s, y, m = delayed_parity(jax.random.key(0), 2, 10, (3,))
    >>> bool(jnp.all(y[:, 3:] == (s[:, :-3, 0] > 0)))
    True
    """
    lags = _check_lags(lags)
    lo, hi = _check_levels(levels)
    batch_size = _check_int("batch_size", batch_size, 1)
    seq_len = _check_int("seq_len", seq_len, 1)
    if seq_len <= max(lags):
        raise ValueError(f"seq_len must be > max(lags) = {max(lags)}, found: {seq_len}")
    bits = jax.random.bernoulli(key, 0.5, (batch_size, seq_len))
    parity = jnp.zeros((batch_size, seq_len), dtype=bool)
    for d in lags:
        shifted = jnp.pad(bits[:, :-d], ((0, 0), (d, 0)))
        parity = parity ^ shifted
    inputs = jnp.where(bits, hi, lo)[:, :, None]
    mask = jnp.arange(seq_len) >= max(lags)
    return inputs, parity.astype(inputs.dtype), mask


def _run(model, params, inputs):
    """Logits of one sequence ``inputs (T, n_in)`` from the zero state."""
    x0 = jnp.zeros(_state_dim(model, params), dtype=inputs.dtype)

    def body(x, s):
        x = _step(model, params, x, s)
        return x, _readout(model, params, x)

    return jax.lax.scan(body, x0, inputs)[1]


def task_loss(params, inputs, targets, mask, *, model):
    """Mean binary cross-entropy and accuracy of the logits over the masked steps.

    Parameters
    ----------
    params : dict of str to jax.Array
        Network parameters (:func:`init_params`).
    inputs, targets, mask : jax.Array
        As returned by :func:`delayed_parity`.
    model : {'rnn', 'lstm', 'gru'}
        Architecture.

    Returns
    -------
    loss : jax.Array, scalar
        Cross-entropy in nats per step (``ln 2 = 0.693`` at chance).
    accuracy : jax.Array, scalar
        Fraction of masked steps where the sign of the logit matches the target.

    Examples
    --------
    >>> p = init_params("rnn", 8, key=jax.random.key(0))
    >>> loss, acc = task_loss(p, *delayed_parity(jax.random.key(1), 4, 20, (2,)), model="rnn")
    >>> 0 <= float(acc) <= 1
    True
    """
    logits = jax.vmap(lambda s: _run(model, params, s))(inputs)
    ce = jnp.logaddexp(0.0, logits) - targets * logits
    w = mask.astype(logits.dtype)[None, :]
    n = w.sum() * logits.shape[0]
    loss = (ce * w).sum() / n
    acc = (((logits > 0) == (targets > 0.5)) * w).sum() / n
    return loss, acc


# ----------------------------------------------------------------------------- Lyapunov exponents


def lyapunov_exponents(params, inputs, *, model, k, washout=0, key):
    """First ``k`` Lyapunov exponents (per step) along one driven trajectory, differentiable.

    QR method with re-orthonormalisation at every step; the trajectory starts from the zero
    state, the ``k`` tangent vectors from a random orthonormal system; the first ``washout`` steps
    are not counted. Tangent vectors are pushed with ``jax.jvp`` of the step map, and the result is
    differentiable with respect to ``params`` through the QR factorisations.

    Parameters
    ----------
    params : dict of str to jax.Array
        Network parameters (:func:`init_params`).
    inputs : jax.Array, shape (T, n_inputs)
        Input stream; ``T > washout``.
    model : {'rnn', 'lstm', 'gru'}
        Architecture.
    k : int
        Number of exponents, ``1 <= k <=`` state dimension.
    washout : int
        Uncounted initial steps.
    key : jax.Array
        PRNG key for the initial tangent vectors.

    Returns
    -------
    jax.Array, shape (k,)
        Exponents in nats per step, a JAX array (not a Quantity: it stays differentiable under jax.grad).

    Examples
    --------
    >>> p = init_params("rnn", 16, g=0.5, key=jax.random.key(0))
    >>> s = delayed_parity(jax.random.key(1), 1, 400, (1,))[0][0]
    >>> lam = lyapunov_exponents(p, s, model="rnn", k=2, washout=100, key=jax.random.key(2))
    >>> bool(jnp.all(lam < 0))
    True
    """
    _check_model(model)
    dim = _state_dim(model, params)
    k = _check_int("k", k, 1)
    if k > dim:
        raise ValueError(f"k must be <= the state dimension {dim}, found: {k}")
    washout = _check_int("washout", washout, 0)
    if inputs.ndim != 2 or inputs.shape[0] <= washout:
        raise ValueError(f"inputs must have shape (T, n_inputs) with T > washout = {washout}, found: {inputs.shape}")
    return _lyapunov_jit(params, inputs, key, model=model, k=k, washout=washout)


@jax.jit(static_argnames=("model", "k", "washout"))
def _lyapunov_jit(params, inputs, key, *, model, k, washout):
    dim = _state_dim(model, params)
    Q0 = jnp.linalg.qr(jax.random.normal(key, (dim, k), dtype=inputs.dtype))[0]
    x0 = jnp.zeros(dim, dtype=inputs.dtype)
    counted = jnp.arange(inputs.shape[0]) >= washout

    def body(carry, xs):
        x, Q = carry
        s, c = xs

        def f(y):
            return _step(model, params, y, s)

        x_new, Q_new = jax.vmap(lambda q: jax.jvp(f, (x,), (q,)), in_axes=1, out_axes=(None, 1))(Q)
        Q_new, R = jnp.linalg.qr(Q_new)
        return (x_new, Q_new), jnp.where(c, jnp.log(jnp.abs(jnp.diagonal(R))), 0.0)

    logs = jax.lax.scan(body, (x0, Q0), (inputs, counted))[1]
    return logs.sum(axis=0) / (inputs.shape[0] - washout)


def flossing_loss(params, inputs, *, model, k, washout=0, key):
    """Gradient-flossing loss ``sum_{i <= k} lambda_i**2`` (exponents per step).

    Parameters
    ----------
    params : dict of str to jax.Array
        Network parameters (:func:`init_params`).
    inputs : jax.Array, shape (T, n_inputs)
        Input stream along which the exponents are estimated.
    model : {'rnn', 'lstm', 'gru'}
        Architecture.
    k : int
        Number of exponents.
    washout : int
        Uncounted initial steps.
    key : jax.Array
        PRNG key for the initial tangent vectors.

    Returns
    -------
    jax.Array, scalar
        The loss, differentiable with respect to ``params`` (``jax.grad``).

    Examples
    --------
    >>> p = init_params("rnn", 8, g=2.0, key=jax.random.key(0))
    >>> s = delayed_parity(jax.random.key(1), 1, 60, (1,))[0][0]
    >>> grads = jax.grad(flossing_loss)(p, s, model="rnn", k=2, washout=10, key=jax.random.key(2))
    >>> grads["J"].shape
    (8, 8)
    """
    lam = lyapunov_exponents(params, inputs, model=model, k=k, washout=washout, key=key)
    return jnp.sum(lam**2)


# ----------------------------------------------------------------------------- optimisation


def _task_optimizer(lr, clip_norm):
    """Adam on the task loss, after clipping the global gradient norm (None: no clipping)."""
    adam = optax.adam(lr)
    return adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)


def _floss_optimizer(clip_norm):
    """Adam's scaling of the flossing gradient, after clipping its global norm; the learning rate is applied
    per step by :func:`_floss_step`, so that the flossing during training can continue this optimiser's
    moments with a rate of its own."""
    adam = optax.scale_by_adam()
    return adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)


@jax.jit(static_argnames=("model", "k", "washout", "clip_norm"))
def _floss_step(params, opt_state, inputs, key, lr, *, model, k, washout, clip_norm):
    """One optimiser step on the flossing loss; returns the new parameters and state and the exponents."""

    def loss(p):
        lam = _lyapunov_jit(p, inputs, key, model=model, k=k, washout=washout)
        return jnp.sum(lam**2), lam

    (_, lam), grads = jax.value_and_grad(loss, has_aux=True)(params)
    updates, opt_state = _floss_optimizer(clip_norm).update(grads, opt_state, params)
    params = optax.apply_updates(params, jax.tree_util.tree_map(lambda u: -lr * u, updates))
    return params, opt_state, lam


@jax.jit(static_argnames=("lr", "clip_norm"))
def _task_update(params, grads, opt_state, *, lr, clip_norm):
    updates, opt_state = _task_optimizer(lr, clip_norm).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


@jax.jit(static_argnames=("model",))
def _task_eval(params, inputs, targets, mask, *, model):
    return task_loss(params, inputs, targets, mask, model=model)


@jax.jit(static_argnames=("model",))
def _task_grad(params, inputs, targets, mask, *, model):
    def loss(p):
        return task_loss(p, inputs, targets, mask, model=model)

    return jax.value_and_grad(loss, has_aux=True)(params)


@dataclasses.dataclass(frozen=True)
class FlossingSettings:
    """Settings of gradient flossing.

    Parameters
    ----------
    k : int
        Number of exponents pushed toward zero.
    horizon : int
        Counted steps of the trajectory on which the exponents are estimated.
    washout : int
        Uncounted steps before the horizon.
    steps_before : int
        Flossing steps (Adam) before training.
    interval : int
        Training steps between flossing phases during training (0: no flossing during training).
    steps_during : int
        Flossing steps in each phase during training.
    phases_during : int or None
        Number of flossing phases during training (the first ``phases_during`` multiples of ``interval``);
        None: every ``interval`` steps to the end of training.
    lr : float
        Adam learning rate at the start of the flossing before training.
    lr_half_life : float or None
        Flossing steps over which the learning rate of the flossing before training halves
        (``lr * 0.5 ** (step / lr_half_life)``); None: constant. The gradient of the exponents is
        noisy (every step draws a new input stream), and Adam's steps do not shrink with the gradient:
        at a constant rate the weights keep diffusing once the loss is near zero.
    lr_during : float or None
        Learning rate of the flossing steps during training (None: the rate reached at the end of
        the flossing before training).
    clip_norm : float or None
        Clip the global norm of the flossing gradient to this value before Adam (None: no clipping,
        as in the experiments of ``docs/rate_lyapunov.md``). Near saturation the gradient of the
        exponents has rare spikes (norms of 10^2 to 10^3 against about 1); unclipped, one spike
        inflates Adam's second moment and stalls the flossing for hundreds of steps.

    Raises
    ------
    TypeError
        If a count is not an int or a rate is not a real number.
    ValueError
        If a count is out of range, or a rate, ``lr_half_life`` or ``clip_norm`` is not > 0.

    Examples
    --------
    >>> FlossingSettings(k=4, horizon=100).steps_before
    500
    """

    k: int = 8
    horizon: int = 200
    washout: int = 50
    steps_before: int = 500
    interval: int = 0
    steps_during: int = 10
    phases_during: int | None = None
    lr: float = 1e-3
    lr_half_life: float | None = None
    lr_during: float | None = None
    clip_norm: float | None = None

    def __post_init__(self):
        _check_int("k", self.k, 1)
        _check_int("horizon", self.horizon, 1)
        _check_int("washout", self.washout, 0)
        _check_int("steps_before", self.steps_before, 0)
        _check_int("interval", self.interval, 0)
        _check_int("steps_during", self.steps_during, 0)
        if self.phases_during is not None:
            _check_int("phases_during", self.phases_during, 0)
        _check_real("lr", self.lr, positive=True)
        for name in ("lr_half_life", "lr_during", "clip_norm"):
            if getattr(self, name) is not None:
                _check_real(name, getattr(self, name), positive=True)

    def learning_rates(self, n_steps):
        """Learning rates of ``n_steps`` flossing steps before training (numpy.ndarray)."""
        if self.lr_half_life is None:
            return np.full(n_steps, float(self.lr))
        return self.lr * 0.5 ** (np.arange(n_steps) / self.lr_half_life)

    @property
    def final_lr(self):
        """Learning rate of the flossing during training: ``lr_during``, or where the flossing before ended."""
        if self.lr_during is not None:
            return float(self.lr_during)
        return float(self.lr if self.lr_half_life is None else self.lr * 0.5 ** (self.steps_before / self.lr_half_life))


def floss(params, *, model, settings, n_steps=None, levels=(-1.0, 1.0), key):
    """Minimise the flossing loss with Adam for ``n_steps`` steps (default ``settings.steps_before``).

    Every step draws a fresh random binary input stream of ``settings.washout + settings.horizon``
    steps (the task's input statistics) and fresh initial tangent vectors.

    Parameters
    ----------
    params : dict of str to jax.Array
        Network parameters (:func:`init_params`).
    model : {'rnn', 'lstm', 'gru'}
        Architecture.
    settings : FlossingSettings
        ``k``, ``horizon``, ``washout``, ``lr``, ``lr_half_life``, ``clip_norm``.
    n_steps : int or None
        Adam steps.
    levels : tuple of two floats
        Input values of the bits 0 and 1 of the random input streams (:func:`delayed_parity`).
    key : jax.Array
        PRNG key.

    Returns
    -------
    params : dict of str to jax.Array
        Flossed parameters.
    exponents : Quantity (1/step), shape (n_steps, k)
        Exponents estimated at each step, before its update.

    Raises
    ------
    TypeError
        If ``settings`` is not a FlossingSettings.
    ValueError
        If ``model`` is unknown or ``settings.k`` exceeds the state dimension.

    Examples
    --------
    >>> p = init_params("rnn", 8, g=2.0, key=jax.random.key(0))
    >>> st = FlossingSettings(k=2, horizon=30, washout=10, lr=1e-2)
    >>> p, lam = floss(p, model="rnn", settings=st, n_steps=3, key=jax.random.key(1))
    >>> lam.shape
    (3, 2)
    """
    _check_model(model)
    if not isinstance(settings, FlossingSettings):
        raise TypeError(f"settings must be a FlossingSettings, found: {type(settings).__name__}")
    if settings.k > _state_dim(model, params):
        raise ValueError(f"settings.k must be <= the state dimension {_state_dim(model, params)}, found: {settings.k}")
    n_steps = settings.steps_before if n_steps is None else _check_int("n_steps", n_steps, 0)
    levels = _check_levels(levels)
    state = _floss_optimizer(settings.clip_norm).init(params)
    params, _, history = _floss_loop(params, state, model, settings, settings.learning_rates(n_steps), levels, key)
    return params, pq.Quantity(history, 1 / step)


def _floss_loop(params, state, model, settings, lrs, levels, key):
    """One Adam step on the flossing loss per learning rate in ``lrs``, from optimiser ``state``; validated inputs."""
    n_steps = len(lrs)
    n_in = (params["W_in"] if model == "rnn" else params["W"]).shape[1]
    history = np.empty((n_steps, settings.k))
    T = settings.washout + settings.horizon
    for i in range(n_steps):
        key, k_in, k_q = jax.random.split(key, 3)
        bits = jax.random.bernoulli(k_in, 0.5, (T, n_in))
        inputs = jnp.where(bits, levels[1], levels[0]).astype(params["w_out"].dtype)
        params, state, lam = _floss_step(
            params,
            state,
            inputs,
            k_q,
            float(lrs[i]),
            model=model,
            k=settings.k,
            washout=settings.washout,
            clip_norm=settings.clip_norm,
        )
        history[i] = np.asarray(lam)
    return params, state, history


@dataclasses.dataclass
class TrainingResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    params : dict of str to jax.Array
        Trained parameters.
    steps : numpy.ndarray of int
        Training steps at which the test metrics were taken.
    test_loss : numpy.ndarray
        Cross-entropy (nats per step) on a fixed test batch at ``steps``.
    test_accuracy : numpy.ndarray
        Accuracy on the test batch at ``steps``.
    exponents_before : Quantity (1/step), shape (k,) or (0,)
        First exponents at initialisation (empty without flossing).
    exponents_after_flossing : Quantity (1/step), shape (k,) or (0,)
        First exponents after the flossing before training (empty without flossing).
    interrupted : bool
        True if training stopped early on KeyboardInterrupt (the metrics so far are kept).
    """

    params: dict
    steps: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    exponents_before: pq.Quantity
    exponents_after_flossing: pq.Quantity
    interrupted: bool = False

    @property
    def final_accuracy(self):
        """Test accuracy at the last evaluation (float)."""
        return float(self.test_accuracy[-1])


def train(
    params,
    *,
    model,
    lags,
    n_steps,
    batch_size=32,
    seq_len=None,
    lr=1e-3,
    clip_norm=1.0,
    flossing=None,
    eval_every=100,
    levels=(-1.0, 1.0),
    key,
):
    """Train on the delayed-parity task with Adam (BPTT), optionally with gradient flossing.

    Parameters
    ----------
    params : dict of str to jax.Array
        Initial parameters (:func:`init_params`).
    model : {'rnn', 'lstm', 'gru'}
        Architecture.
    lags : tuple of int
        Task lags (:func:`delayed_parity`).
    n_steps : int
        Training steps (one batch each).
    batch_size : int
        Sequences per batch.
    seq_len : int or None
        Steps per sequence (default ``2 * max(lags) + 20``).
    lr : float
        Adam learning rate of the task loss.
    clip_norm : float or None
        Clip the global gradient norm of the task loss to this value (None: no clipping).
    flossing : FlossingSettings or None
        None: plain training. Otherwise flossing for ``steps_before`` steps before training and,
        if ``interval > 0``, ``steps_during`` steps every ``interval`` training steps (the first
        ``phases_during`` times if that is not None; learning
        rate ``settings.final_lr``), continuing the Adam run of the flossing before training (an optimiser
        separate from the task's).
    eval_every : int
        Training steps between evaluations on a fixed test batch of 256 sequences.
    levels : tuple of two floats
        Input values of the bits 0 and 1 (:func:`delayed_parity`), in training and flossing alike.
    key : jax.Array
        PRNG key.

    Returns
    -------
    TrainingResult

    Raises
    ------
    TypeError
        If ``flossing`` is neither None nor a FlossingSettings, or a count is not an int.
    ValueError
        If ``model`` is unknown, a count or ``lr`` is out of range, or ``seq_len <= max(lags)``.

    Examples
    --------
    >>> p = init_params("rnn", 8, key=jax.random.key(0))
    >>> res = train(p, model="rnn", lags=(1,), n_steps=20, eval_every=10, key=jax.random.key(1))
    >>> res.steps.tolist()
    [0, 10, 20]
    """
    _check_model(model)
    lags = _check_lags(lags)
    levels = _check_levels(levels)
    n_steps = _check_int("n_steps", n_steps, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    eval_every = _check_int("eval_every", eval_every, 1)
    seq_len = 2 * max(lags) + 20 if seq_len is None else _check_int("seq_len", seq_len, 2)
    if seq_len <= max(lags):
        raise ValueError(f"seq_len must be > max(lags) = {max(lags)}, found: {seq_len}")
    lr = _check_real("lr", lr, positive=True)
    if clip_norm is not None:
        clip_norm = _check_real("clip_norm", clip_norm, positive=True)
    if flossing is not None and not isinstance(flossing, FlossingSettings):
        raise TypeError(f"flossing must be None or a FlossingSettings, found: {type(flossing).__name__}")
    key, k_test = jax.random.split(key)
    test = delayed_parity(k_test, 256, seq_len, lags, levels)
    before = after = np.empty(0)
    if flossing is not None:
        key, k_f, k_l = jax.random.split(key, 3)
        lam_key = jax.random.split(k_l, 2)
        T = flossing.washout + 4 * flossing.horizon
        s_eval = delayed_parity(lam_key[0], 1, T, (1,), levels)[0][0].astype(params["w_out"].dtype)
        before = np.asarray(
            lyapunov_exponents(params, s_eval, model=model, k=flossing.k, washout=flossing.washout, key=lam_key[1])
        )
        # validates the settings against the model
        floss(params, model=model, settings=flossing, n_steps=0, levels=levels, key=k_f)  # validates settings
        floss_state = _floss_optimizer(flossing.clip_norm).init(params)
        lrs = flossing.learning_rates(flossing.steps_before)
        params, floss_state, _ = _floss_loop(params, floss_state, model, flossing, lrs, levels, k_f)
        after = np.asarray(
            lyapunov_exponents(params, s_eval, model=model, k=flossing.k, washout=flossing.washout, key=lam_key[1])
        )
    state = _task_optimizer(lr, clip_norm).init(params)
    steps, losses, accs = [], [], []

    def record(i):
        loss, acc = _task_eval(params, *test, model=model)
        steps.append(i)
        losses.append(float(loss))
        accs.append(float(acc))

    record(0)
    interrupted = False
    try:
        for i in range(1, n_steps + 1):
            key, k_b, k_f = jax.random.split(key, 3)
            batch = delayed_parity(k_b, batch_size, seq_len, lags, levels)
            _, grads = _task_grad(params, *batch, model=model)
            params, state = _task_update(params, grads, state, lr=lr, clip_norm=clip_norm)
            if (
                flossing is not None
                and flossing.interval
                and i % flossing.interval == 0
                and (flossing.phases_during is None or i // flossing.interval <= flossing.phases_during)
            ):
                # the flossing optimiser continues from the flossing before training; sharing
                # the task's Adam state instead leaks flossing momentum into the task steps
                lrs = np.full(flossing.steps_during, flossing.final_lr)
                params, floss_state, _ = _floss_loop(params, floss_state, model, flossing, lrs, levels, k_f)
            if i % eval_every == 0 or i == n_steps:
                record(i)
    except KeyboardInterrupt:
        interrupted = True
    before, after = pq.Quantity(before, 1 / step), pq.Quantity(after, 1 / step)
    return TrainingResult(params, np.array(steps), np.array(losses), np.array(accs), before, after, interrupted)
