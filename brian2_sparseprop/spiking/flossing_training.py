"""Gradient flossing interleaved with training: a flossing schedule around `train`, on the same parameters.

`train_with_flossing` trains a `TrainableNetwork` with `train` and, before training and every
``interval`` epochs, flosses the same recurrent weights and drives (`floss`): the first ``k`` Lyapunov
exponents of the network are pushed toward ``target``. The flossed dynamics is the network's own,
autonomous dynamics: the recurrent network of the model (its neurons, weights and drives) runs without the
input synapses, from a random state, and `floss` takes exact gradients of its exponents (the JAX replay of
`brian2_sparseprop.spiking.flossing`, which covers LIF networks without delays, input or refractoriness).
A task whose input arrives at the start of a trial (a cue) and is read out after a delay is then flossed
in the dynamics that carries the memory between the input and the readout.

Checkpoints: everything (trained parameters, the training optimiser's state, the flossing phases done)
is in `train`'s checkpoint file; the record of the flossing phases is ``run.history['flossing']``. An
interrupted run resumes where it stopped and gives the result of an uninterrupted one (each flossing
phase is a deterministic function of the parameters and of the phase's epoch).

This module needs JAX and optax (``pip install brian2_sparseprop[jax]``).
"""

import dataclasses
import os
import shutil
import tempfile
import time

import numpy as np

from .._validation import check_int, check_real
from .flossing import _check_models, floss, optax
from .gradients import _x64
from .lyapunov import _check_supported
from .network import EventNetwork
from .training import TrainableNetwork, TrainingRun, _load, _save, train

__all__ = ["FlossingSchedule", "flossing_network", "keep_flossable", "train_with_flossing"]


@dataclasses.dataclass(frozen=True)
class FlossingSchedule:
    """When and how `train_with_flossing` flosses: before training, and every ``interval`` epochs.

    Attributes
    ----------
    k : int
        Number of exponents in the flossing loss ``sum_{i <= k} (lambda_i - target)**2``.
    target : float
        The value (1/s) the exponents are pushed toward.
    steps_before : int
        Flossing steps before the first epoch (0: none).
    interval : int
        Epochs between flossing phases during training (0: none); a phase runs before epochs
        ``interval, 2 interval, ...`` (not after the last epoch).
    steps_during : int
        Flossing steps of each phase during training.
    duration : float
        Window of each flossing step (s; `floss`'s ``duration``).
    optimizer : optax.GradientTransformation or None
        The flossing optimiser, started afresh in every phase (the training optimiser's state is not
        touched); None: ``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))``.
    train : tuple of str
        What is flossed, among ``'weights'`` and ``'drive'`` (each must be trained by the model too).
    t_warmup : float
        Time (s) the autonomous network runs from its random state before a phase's first window.
    t_warmup_tangent : float
        Warm-up of the tangent vectors in a phase's first window (s).
    qr_interval : int or None
        Spikes between QR steps (None: `flossing_loss_and_grad`'s default).
    seed : int
        Seed of the random start states and tangent vectors (a phase uses ``(seed, epoch)``).

    Examples
    --------
    >>> s = FlossingSchedule(k=4, steps_before=50, interval=5, steps_during=10)
    >>> s.phase_epochs(20)
    [0, 5, 10, 15]
    """

    k: int
    target: float = 0.0
    steps_before: int = 0
    interval: int = 0
    steps_during: int = 0
    duration: float = 0.2
    optimizer: object = None
    train: tuple = ("weights", "drive")
    t_warmup: float = 0.2
    t_warmup_tangent: float = 0.1
    qr_interval: object = None
    seed: int = 0

    def __post_init__(self):
        check_int("k", self.k, 1)
        check_real("target", self.target)
        check_int("steps_before", self.steps_before, 0)
        check_int("interval", self.interval, 0)
        check_int("steps_during", self.steps_during, 0)
        check_real("duration", self.duration, positive=True)
        check_real("t_warmup", self.t_warmup, nonnegative=True)
        check_real("t_warmup_tangent", self.t_warmup_tangent, nonnegative=True)
        check_int("seed", self.seed, 0)
        if self.qr_interval is not None:
            check_int("qr_interval", self.qr_interval, 1)
        train = (self.train,) if isinstance(self.train, str) else tuple(self.train)
        if not train or any(t not in ("weights", "drive") for t in train) or len(set(train)) != len(train):
            raise ValueError(
                f"train must be a non-empty tuple of distinct names from ('weights', 'drive'), found {train!r}"
            )
        object.__setattr__(self, "train", train)
        if self.optimizer is not None and not isinstance(self.optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax.GradientTransformation or None, found {type(self.optimizer).__name__}"
            )

    def phase_epochs(self, epochs):
        """The epochs before which a flossing phase runs, for a run of ``epochs`` epochs."""
        out = [0] if self.steps_before else []
        if self.interval and self.steps_during:
            out += list(range(self.interval, epochs, self.interval))
        return out

    def steps_at(self, epoch):
        """Flossing steps of the phase before ``epoch``."""
        return self.steps_before if epoch == 0 else self.steps_during


def _check_flossable_model(model):
    """NotImplementedError for what the flossing replay cannot do with a TrainableNetwork, before any work."""
    if not isinstance(model, TrainableNetwork):
        raise TypeError(f"model must be a TrainableNetwork, found {type(model).__name__}")
    if model.model != "lif":
        raise NotImplementedError(
            f"flossing is implemented for TrainableNetworks of model 'lif' (delta pulses), found {model.model!r}"
        )
    for name in ("delays", "refractory"):
        a = np.asarray(model._fixed[name], float)
        if (a != 0).any():
            raise NotImplementedError(
                f"flossing is implemented for networks without {name} (the JAX replay covers neither), found "
                f"{name} {a.ravel()[int(np.argmax(a.ravel() != 0))]} s"
            )


def flossing_network(model, params, seed=None):
    """The autonomous recurrent network of a `TrainableNetwork` (no input synapses), from a random state.

    The neurons, connectivity, weights and drives of ``model`` with ``params`` (the trained values)
    as one `EventNetwork` (one copy, no input), each v drawn uniformly in [reset, threshold): the network
    `train_with_flossing` flosses.

    Parameters
    ----------
    model : TrainableNetwork
        Of model ``'lif'``, without delays and refractoriness.
    params : dict of str to array_like
        The trained parameters (`TrainableNetwork.check_params`).
    seed : int, sequence of int or None
        Random start state.

    Returns
    -------
    EventNetwork

    Raises
    ------
    NotImplementedError
        For ``'lif_exp'`` models, delays or refractoriness (what the flossing replay does not cover).

    Examples
    --------
    >>> from brian2_sparseprop.spiking.training import TrainableNetwork
    >>> model = TrainableNetwork(3, [0, 1, 2, 3], [1, 2, 0], n_inputs=0, input_indptr=[0], input_indices=[],
    ...                          readout=[0], duration=0.1, drive=1.2, weights=-0.2, trained=["weights"])
    >>> net = flossing_network(model, {"weights": [-0.1, -0.2, -0.3]}, seed=0)
    >>> net.n, net._weights.tolist()
    (3, [-0.1, -0.2, -0.3])
    """
    _check_flossable_model(model)
    p = {**model._fixed_params(), **model.check_params(params)}
    n = model.n
    thr = np.broadcast_to(np.asarray(model._fixed["threshold"], float), (n,))
    rst = np.broadcast_to(np.asarray(model._fixed["reset"], float), (n,))
    v0 = np.random.default_rng(seed).uniform(0.0, 1.0, n) * (thr - rst) + rst
    return EventNetwork(
        n,
        model="lif",
        tau=model._fixed["tau"],
        drive=np.array(p["drive"], float),
        threshold=model._fixed["threshold"],
        reset=model._fixed["reset"],
        indptr=model._indptr,
        indices=model._indices,
        weights=np.array(p["weights"], float),
        v_init=v0,
    )


def keep_flossable(model, margin=0.01):
    """An optax transformation that keeps a LIF network flossable: weights <= 0, drives >= threshold + margin.

    Chain it after the training optimiser (``optax.chain(optax.adam(lr), keep_flossable(model))``): it
    shortens each update so that the recurrent weights stay <= 0 (no pulse may trigger a spike) and the
    drives >= threshold + ``margin`` (every neuron fires on its own), the conditions of `floss` for LIF
    networks. Parameters the model does not train pass unchanged.

    Parameters
    ----------
    model : TrainableNetwork
    margin : float
        Distance of the drives above threshold (>= 0).

    Returns
    -------
    optax.GradientTransformation

    Examples
    --------
    >>> import numpy as np
    >>> from brian2_sparseprop.spiking.training import TrainableNetwork
    >>> model = TrainableNetwork(2, [0, 1, 2], [1, 0], n_inputs=0, input_indptr=[0], input_indices=[],
    ...                          readout=[0], duration=0.1, trained=["weights", "drive"])
    >>> tx = keep_flossable(model, margin=0.1)
    >>> p = {"weights": np.array([-0.2, -0.05]), "drive": np.array([1.3, 1.2])}
    >>> u, _ = tx.update({"weights": np.array([0.1, 0.1]), "drive": np.array([-0.1, -0.3])}, tx.init(p), p)
    >>> [np.round(np.asarray(u[name], dtype=float), 6).tolist() for name in ("weights", "drive")]
    [[0.1, 0.05], [-0.1, -0.1]]
    """
    import jax.numpy as jnp

    if not isinstance(model, TrainableNetwork):
        raise TypeError(f"model must be a TrainableNetwork, found {type(model).__name__}")
    margin = check_real("margin", margin, nonnegative=True)
    floor = np.broadcast_to(np.asarray(model._fixed["threshold"], float), (model.n,)) + margin

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("keep_flossable needs the parameters: optimizer.update(updates, state, params)")
        out = dict(updates)
        if "weights" in out:
            out["weights"] = jnp.minimum(out["weights"], -jnp.asarray(params["weights"]))
        if "drive" in out:
            out["drive"] = jnp.maximum(out["drive"], floor - jnp.asarray(params["drive"]))
        return out, state

    return optax.GradientTransformation(init, update)


def _floss_phase(model, params, schedule, epoch):
    """One flossing phase on the autonomous network: (new params, record)."""
    t0 = time.process_time()
    net = flossing_network(model, params, seed=[schedule.seed, epoch])
    net.run(schedule.t_warmup)
    opt = schedule.optimizer
    if opt is None:
        opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    res = floss(
        net,
        schedule.duration,
        schedule.k,
        schedule.target,
        n_steps=schedule.steps_at(epoch),
        optimizer=opt,
        train=schedule.train,
        t_warmup_tangent=schedule.t_warmup_tangent,
        qr_interval=schedule.qr_interval,
        seed=schedule.seed,
        evaluate=None,
    )
    new = dict(params)
    if "weights" in schedule.train:
        new["weights"] = np.asarray(res.weights, float).copy()
    if "drive" in schedule.train:
        new["drive"] = np.asarray(res.drive, float).copy()
    lam = res.exponents.magnitude
    record = dict(
        epoch=epoch,
        n_steps=int(lam.shape[0]),
        exponents_first=lam[0].tolist(),
        exponents_last=lam[-1].tolist(),
        loss_first=float(res.losses[0]),
        loss_last=float(res.losses[-1]),
        cpu_seconds=time.process_time() - t0,
    )
    return new, record


def train_with_flossing(
    model,
    params,
    input_times,
    targets,
    loss,
    optimizer,
    *,
    epochs,
    batch_size,
    flossing,
    seed=0,
    checkpoint=None,
    validate=None,
    report=None,
):
    """`train` with gradient flossing of the same weights and drives before and during training.

    Before epoch 0 (``flossing.steps_before`` steps) and before every ``flossing.interval``-th epoch
    (``flossing.steps_during`` steps), the autonomous recurrent network of ``model`` with the current
    parameters (`flossing_network`: no input synapses, a random start state drawn from
    ``(flossing.seed, epoch)``, run for ``flossing.t_warmup`` first) is flossed (`floss`: its first
    ``flossing.k`` exponents pushed toward ``flossing.target``) and the flossed weights and/or drives
    replace the trained ones; between the phases `train` runs with ``optimizer``, whose state carries on
    across the phases. Every phase is recorded in ``run.history['flossing']`` (its epoch, steps, the
    exponents and loss of its first and last windows, CPU seconds).

    The checkpoint is `train`'s file, written after every epoch and every flossing phase: a later call with
    the same file and arguments resumes (a larger ``epochs`` continues the run) and gives the result of an
    uninterrupted run. The network must be flossable: LIF with delta pulses, no delays or refractoriness,
    drives above threshold and recurrent weights <= 0 (chain `keep_flossable` after the optimiser so that
    training keeps them so).

    Parameters
    ----------
    model, params, input_times, targets, loss, optimizer, epochs, batch_size, seed, validate, report
        As in `train`.
    flossing : FlossingSchedule
        When and how to floss; its ``train`` must be among the model's trained parameters.
    checkpoint : str or os.PathLike or None
        `train`'s checkpoint file (None: a temporary file, removed at the end).

    Returns
    -------
    TrainingRun
        As `train`'s, with ``history['flossing']``.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, as `train`, or a flossed parameter the model does not train.
    NotImplementedError
        For a model the flossing replay does not cover (`flossing_network`), before any work.

    Examples
    --------
    Three inhibitory LIF neurons in a ring, one input; 5 flossing steps before training, one epoch:

    >>> import numpy as np, optax
    >>> from brian2_sparseprop.spiking.training import TrainableNetwork
    >>> model = TrainableNetwork(3, [0, 1, 2, 3], [1, 2, 0], n_inputs=1, input_indptr=[0, 1], input_indices=[0],
    ...                          readout=[0], duration=0.05, drive=1.3, input_weights=-0.3,
    ...                          trained=["weights", "drive"])
    >>> def loss(t, target):
    ...     return ((t[:, 0, 0] - target) ** 2).mean() * 1e6
    >>> params = {"weights": np.full(3, -0.2), "drive": np.full(3, 1.3)}
    >>> schedule = FlossingSchedule(k=2, steps_before=5, duration=0.1)
    >>> run = train_with_flossing(model, params, [[0.005]], np.array([0.02]), loss,
    ...                           optax.chain(optax.adam(1e-3), keep_flossable(model)),
    ...                           epochs=1, batch_size=1, flossing=schedule)
    >>> [(r["epoch"], r["n_steps"]) for r in run.history["flossing"]], run.epoch
    ([(0, 5)], 1)
    """
    _check_flossable_model(model)
    if not isinstance(flossing, FlossingSchedule):
        raise TypeError(f"flossing must be a FlossingSchedule, found {type(flossing).__name__}")
    missing = [t for t in flossing.train if t not in model.trained]
    if missing:
        raise ValueError(
            f"flossing.train {flossing.train} must be among the model's trained parameters {model.trained}, "
            f"found {missing[0]!r}"
        )
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, found {type(optimizer).__name__}")
    params = model.check_params(params)
    input_times = model.check_inputs(input_times)
    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    if flossing.k > model.n:
        raise ValueError(f"flossing.k must be <= the number of neurons {model.n}, found: {flossing.k}")
    net = flossing_network(model, params)
    _check_models(net)  # drives above threshold
    _check_supported(net)  # weights <= 0
    tmpdir = None
    if checkpoint is None:
        tmpdir = tempfile.mkdtemp(prefix="sparseprop_floss_")
        checkpoint = os.path.join(tmpdir, "run.pkl")
    checkpoint = os.fspath(checkpoint)
    config = dict(
        n_samples=input_times.shape[0],
        shapes={k: model.shapes[k] for k in model.trained},
        batch_size=batch_size,
        seed=seed,
    )  # as train's: its checks of a resumed checkpoint apply
    phases = flossing.phase_epochs(epochs)
    try:
        run = _load(checkpoint, config)
        if run is None:
            with _x64():
                run = TrainingRun(params=params, opt_state=optimizer.init(params), config=config)
        run.history.setdefault("flossing", [])
        _save(run, checkpoint)
        while True:
            done = {r["epoch"] for r in run.history["flossing"]}
            if run.step == 0 and run.epoch in phases and run.epoch not in done:
                run.params, record = _floss_phase(model, run.params, flossing, run.epoch)
                run.history["flossing"].append(record)
                _save(run, checkpoint)
                if report == "text":
                    print(
                        f"flossing before epoch {run.epoch}: lambda_1..{flossing.k} "
                        f"{np.round(record['exponents_first'], 2).tolist()} -> "
                        f"{np.round(record['exponents_last'], 2).tolist()} /s"
                    )
            if run.epoch >= epochs:
                break
            nxt = min([p for p in phases if p > run.epoch] + [epochs])
            run = train(
                model, run.params, input_times, targets, loss, optimizer, epochs=nxt, batch_size=batch_size,
                seed=seed, checkpoint=checkpoint, validate=validate, report=report,
            )  # fmt: skip
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return run
