"""Training LIF networks with exact gradients: minibatches in one event-driven run, optimisers from optax.

A `TrainableNetwork` describes a network of LIF neurons with delta pulses, or with exponential synaptic
currents (``model='lif_exp'``, EventProp's model) (its connectivity, its fixed
parameters, which neurons are read out) and the external inputs that carry a sample (one spike per input
source and sample, e.g. features as latencies, `brian2_sparseprop.datasets.latency_encode`). A minibatch of
B samples runs as one `EventNetwork` holding B disconnected copies of the network, fed by one spike
generator, so the compiled loop runs the whole batch with no Python per sample; the weights are tied
across the copies, so the gradient of the batch is the sum of the copies' gradients (one reshape and sum).
The loss is a JAX function of the first spike times of the read-out neurons; `train` runs an optax
optimiser over epochs with checkpoints, so that an interrupted run resumes where it stopped.

With delta pulses a spike caused by an input pulse (the pulse lifts the neuron over threshold) happens at
the pulse's arrival, whatever the weights: its gradient by the weights is zero
(`SpikeGradient.n_pulse_triggered`). Networks train well when their neurons reach threshold by their own
drift (drive above threshold, or below it with enough input) and inputs shift the crossing. With
exponential currents (``model='lif_exp'``) v is continuous: every spike time depends smoothly on the
weights, and a neuron without drive can learn to fire from its inputs alone.
"""

import inspect
import os
import pickle
import time
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_real, real_array as _real_array
from .gradients import _x64
from .network import EventNetwork

__all__ = ["BatchGradient", "TrainableNetwork", "TrainingRun", "first_spike_cross_entropy", "train"]

TRAINABLE = ("weights", "input_weights", "drive")
_STEP_KEYS = ("step_loss", "step_spikes", "step_pulse_triggered")
_EPOCH_KEYS = ("loss", "pulse_triggered", "validation", "seconds")


@dataclass(frozen=True)
class BatchGradient:
    """Loss, gradient and readout of one minibatch (`TrainableNetwork.loss_and_gradient`).

    Attributes
    ----------
    loss : float
        The value of the loss on the batch.
    gradient : dict of str to numpy.ndarray
        dL/dp for each trained parameter, shaped like it (the sum over the batch's copies of the network).
    first_spikes : numpy.ndarray, shape (B, R, K)
        The first K spike times (s) of each of the R read-out neurons in each sample; a missing spike is
        given as the trial's duration (with zero gradient).
    n_spikes : int
        Spikes of the batch's run (all copies).
    n_pulse_triggered, n_coincident : int
        As in `SpikeGradient`: spikes caused by an input pulse (insensitive to the weights) and arrivals
        at the instant of a spike of their target (where the gradient is one-sided).
    """

    loss: float
    gradient: dict
    first_spikes: np.ndarray
    n_spikes: int
    n_pulse_triggered: int
    n_coincident: int


def _tile_csr(indptr, indices, n_rows, n_targets, copies):
    """The CSR of ``copies`` disconnected copies: block-diagonal, rows and targets offset per copy."""
    nnz = indices.size
    offsets = np.arange(copies, dtype=np.int64)
    ptr = (indptr[:-1][None, :] + nnz * offsets[:, None]).ravel()
    ix = (indices[None, :].astype(np.int64) + n_targets * offsets[:, None]).ravel()
    return np.append(ptr, nnz * copies), ix.astype(np.int32)


def _csr(name, indptr, indices, n_rows, n_targets):
    from .._validation import check_csr

    indices = np.asarray(indices)
    if indices.size == 0:  # an empty list reads as floats
        indices = indices.astype(np.int32)
    return check_csr(indptr, indices, n_rows, n_targets, name)


class TrainableNetwork:
    """A LIF network to train: structure and fixed parameters, inputs per sample, readout, trained parameters.

    Neurons follow ``tau dv/dt = drive - v`` with threshold, reset and absolute refractoriness, coupled by
    delta pulses ``v += w`` with delays (`EventNetwork`'s ``'lif'`` model), or, with ``model='lif_exp'``,
    ``tau dv/dt = drive - v + I_e + I_i`` with exponential currents that the pulses enter (``I_e += w``
    for w >= 0, ``I_i += w`` for w < 0; time constants ``tau_e``, ``tau_i``). Each sample brings one spike
    per input source, at a time given per sample (``inf``: no spike), delivered through the input
    synapses. The trained parameters, a dict given to every call, are among:

    * ``'weights'``, shape (nnz,): the network's synaptic weights, in the order of ``indices``;
    * ``'input_weights'``, shape (nnz_in,): the input synapses' weights, in the order of ``input_indices``;
    * ``'drive'``, shape (n,): the drives of the neurons.

    A parameter that is not trained is fixed at the value given here.

    Parameters
    ----------
    n : int
        Number of neurons.
    indptr, indices : array_like of int
        Connectivity (CSR: the targets of neuron j are ``indices[indptr[j]:indptr[j + 1]]``).
    n_inputs : int
        Number of input sources (one spike each per sample); 0 for none.
    input_indptr, input_indices : array_like of int
        Connectivity from the input sources to the neurons (CSR, ``n_inputs`` rows).
    readout : array_like of int, shape (R,)
        The neurons whose first spikes the loss sees.
    duration : float or time Quantity
        Length of a trial (s), > 0.
    n_first : int
        How many first spikes of each read-out neuron the loss sees (K >= 1).
    tau, threshold, reset, refractory : float, array_like or time Quantity, shape (n,)
        As in `EventNetwork` (tau and refractory in s).
    drive : float or array_like, shape (n,)
        The drives (used unless ``'drive'`` is trained).
    weights : float or array_like, shape (nnz,)
        The network's weights (used unless ``'weights'`` is trained).
    delays : float, array_like or time Quantity, shape (nnz,)
        The network's delays (s).
    input_weights : float or array_like, shape (nnz_in,)
        The input synapses' weights (used unless ``'input_weights'`` is trained).
    input_delays : float, array_like or time Quantity, shape (nnz_in,)
        The input synapses' delays (s).
    trained : sequence of str
        The names of the trained parameters, among ``'weights'``, ``'input_weights'``, ``'drive'``.
    model : str
        ``'lif'`` (delta pulses, default), ``'lif_exp'`` (exponential currents), or ``'qif'`` or
        ``'theta'`` (delta pulses; ``tau dv/dt = v**2 + drive``, theta neurons in v = tan(theta/2), which
        ignore threshold and reset).
    tau_e, tau_i : float, array_like or time Quantity, shape (n,)
        The currents' time constants (s) of ``'lif_exp'`` neurons (ignored for ``'lif'``).
    pseudospikes : float, optional
        ``'qif'`` and ``'theta'`` only: a drive I_ps > 0. A read-out neuron that stays silent in a trial
        gets, as its first spike, its pseudospike (`brian2_sparseprop.spiking.gradients.pseudospike_times`:
        when it would fire after the trial with drive I_ps and no input), a smooth function of its state
        at the trial's end, instead of the duration: its time has a gradient, so silent neurons learn, and
        a first spike leaving the trial moves on continuously (Klos and Memmesheimer's pseudospikes).

    Raises
    ------
    TypeError, ValueError
        For arguments `EventNetwork` would refuse, read-out indices out of range or repeated, or an
        unknown trained parameter.

    Examples
    --------
    One neuron with drive 1.2 (free first spike at 10 ms ln 6 = 17.9 ms) and one input at 5 ms; the
    gradient of the squared distance of its first spike to 15 ms by the input weight:

    >>> import numpy as np
    >>> from brian2_sparseprop.spiking.training import TrainableNetwork
    >>> model = TrainableNetwork(1, [0, 0], [], n_inputs=1, input_indptr=[0, 1], input_indices=[0],
    ...                          readout=[0], duration=0.03, tau=0.01, drive=1.2, trained=["input_weights"])
    >>> def loss(t, target):  # t: (batch, readout, n_first) first spike times
    ...     return ((t[:, 0, 0] - target) ** 2).sum()
    >>> params = {"input_weights": np.array([0.1])}
    >>> step = model.loss_and_gradient(params, [[0.005]], np.array([0.015]), loss)
    >>> t = step.first_spikes[0, 0, 0]  # closed form: tau ln((1.2 - 0.1 exp(5 ms / tau)) / 0.2)
    >>> bool(np.isclose(t, 0.01 * np.log((1.2 - 0.1 * np.exp(0.5)) / 0.2)))
    True
    >>> dt_dw = -np.exp(0.5) * 0.01 / (1.2 - 0.1 * np.exp(0.5))  # an earlier spike for a larger weight
    >>> bool(np.isclose(step.gradient["input_weights"][0], 2 * (t - 0.015) * dt_dw))
    True
    """

    def __init__(
        self,
        n,
        indptr,
        indices,
        *,
        n_inputs,
        input_indptr,
        input_indices,
        readout,
        duration,
        n_first=1,
        tau=0.01,
        drive=0.0,
        threshold=1.0,
        reset=0.0,
        refractory=0.0,
        weights=0.0,
        delays=0.0,
        input_weights=0.0,
        input_delays=0.0,
        trained=("weights", "input_weights"),
        model="lif",
        tau_e=0.005,
        tau_i=0.005,
        pseudospikes=None,
    ):
        from .._validation import si_value

        if not (isinstance(model, str) and model in ("lif", "lif_exp", "qif", "theta")):
            raise ValueError(f"model must be 'lif', 'lif_exp', 'qif' or 'theta', found {model!r:.60}")
        self.model = model
        if pseudospikes is not None:
            if model not in ("qif", "theta"):
                raise ValueError(f"pseudospikes are for models 'qif' and 'theta', found model {model!r}")
            pseudospikes = check_real("pseudospikes", pseudospikes, positive=True)
        self.pseudospikes = pseudospikes

        self.n = check_int("n", n, 1)
        self.n_inputs = check_int("n_inputs", n_inputs, 0)
        self.n_first = check_int("n_first", n_first, 1)
        self.duration = check_real("duration", si_value("duration", duration, "time"), positive=True)
        if isinstance(trained, str) or not all(isinstance(t, str) for t in trained):
            raise TypeError(f"trained must be a sequence of parameter names, found {trained!r}")
        unknown = sorted(set(trained) - set(TRAINABLE))
        if unknown:
            raise ValueError(f"trained parameters must be among {TRAINABLE}, found {unknown[0]!r}")
        self.trained = tuple(dict.fromkeys(trained))
        self._indptr, self._indices = _csr("connectivity", indptr, indices, self.n, self.n)
        self._in_indptr, self._in_indices = _csr(
            "input connectivity", input_indptr, input_indices, self.n_inputs, self.n
        )
        readout = np.asarray(readout)
        if readout.ndim != 1 or readout.size == 0 or readout.dtype.kind not in "iu":
            raise TypeError(f"readout must be a non-empty 1-d array of neuron indices, found {readout!r:.80}")
        if readout.min() < 0 or readout.max() >= self.n or np.unique(readout).size != readout.size:
            raise ValueError(f"readout must hold distinct neurons in [0, {self.n}), found {readout.tolist()!r:.80}")
        self.readout = readout.astype(np.int64)
        self._readout_pos = np.full(self.n, -1, np.int64)
        self._readout_pos[self.readout] = np.arange(readout.size)
        # the fixed parameters, checked once by a network of one copy
        self._fixed = dict(
            tau=si_value("tau", tau, "time"),
            drive=drive,
            threshold=threshold,
            reset=reset,
            refractory=si_value("refractory", refractory, "time"),
            weights=weights,
            delays=si_value("delays", delays, "time"),
            input_weights=input_weights,
            input_delays=si_value("input_delays", input_delays, "time"),
            tau_e=si_value("tau_e", tau_e, "time"),
            tau_i=si_value("tau_i", tau_i, "time"),
        )
        for name, shape in self.shapes.items():
            a = _real_array(name, self._fixed[name])
            if a.ndim and a.shape != shape:
                raise ValueError(f"{name} must be a scalar or have shape {shape}, found shape {a.shape}")
        self._network(self._fixed_params(), np.zeros((1, self.n_inputs)))
        self._grad_fns = {}

    @classmethod
    def feedforward(cls, layers, **kwargs):
        """A layered network: the input sources, then layers of neurons, each all-to-all onto the next.

        Parameters
        ----------
        layers : sequence of int
            ``(n_inputs, n_1, ..., n_k)``: the number of input sources, then of neurons per layer (k >= 1;
            each >= 1). Neurons are numbered layer by layer; the last layer is read out.
        **kwargs
            The other arguments of `TrainableNetwork` (``duration`` and ``trained`` at least; weights and
            delays per synapse in the order layer by layer, each neuron's targets in order).

        Returns
        -------
        TrainableNetwork

        Examples
        --------
        >>> from brian2_sparseprop.spiking.training import TrainableNetwork
        >>> model = TrainableNetwork.feedforward((5, 60, 3), duration=0.1, trained=["weights"])
        >>> model.n, model.n_inputs, model.shapes["weights"], model.shapes["input_weights"]
        (63, 5, (180,), (300,))
        >>> model.readout.tolist()
        [60, 61, 62]
        """
        layers = list(layers)
        if len(layers) < 2:
            raise ValueError(f"layers must hold the number of inputs and at least one layer, found {layers}")
        n_inputs = check_int("layers[0] (the number of inputs)", layers[0], 1)
        sizes = [check_int(f"layers[{k}]", m, 1) for k, m in enumerate(layers[1:], 1)]
        offsets = np.cumsum([0, *sizes])
        targets = [np.arange(offsets[k + 1], offsets[k + 2]) for k in range(len(sizes) - 1)] + [np.zeros(0, int)]
        indices = np.concatenate([np.tile(t, m) for t, m in zip(targets, sizes)])
        counts = np.repeat([t.size for t in targets], sizes)
        return cls(
            int(offsets[-1]),
            np.concatenate([[0], np.cumsum(counts)]),
            indices,
            n_inputs=n_inputs,
            input_indptr=np.arange(0, n_inputs * sizes[0] + 1, sizes[0]),
            input_indices=np.tile(np.arange(sizes[0]), n_inputs),
            readout=np.arange(offsets[-2], offsets[-1]),
            **kwargs,
        )

    @property
    def shapes(self):
        """The shape of each trainable parameter: ``{'weights': (nnz,), 'input_weights': (nnz_in,), 'drive': (n,)}``."""
        return {"weights": (self._indices.size,), "input_weights": (self._in_indices.size,), "drive": (self.n,)}

    def _fixed_params(self):
        return {k: np.broadcast_to(np.asarray(self._fixed[k], float), s) for k, s in self.shapes.items()}

    def check_params(self, params):
        """The trained parameters as float arrays of their shapes, or a TypeError/ValueError naming the one wrong.

        Parameters
        ----------
        params : dict of str to array_like
            One entry per trained parameter (`trained`), shaped as `shapes` says.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, found {type(params).__name__}")
        if set(params) != set(self.trained):
            raise ValueError(
                f"params must have the keys {sorted(self.trained)} (the trained ones), found {sorted(params)}"
            )
        out = {}
        for name in self.trained:
            a = np.asarray(params[name])
            if a.dtype.kind not in "iuf":
                raise TypeError(f"params[{name!r}] must be an array of real numbers, found dtype {a.dtype}")
            if a.shape != self.shapes[name]:
                raise ValueError(f"params[{name!r}] must have shape {self.shapes[name]}, found shape {a.shape}")
            if not np.isfinite(a).all():
                k = int(np.argmax(~np.isfinite(a)))
                raise ValueError(f"params[{name!r}] must be finite, found {a[k]} at index {k}")
            out[name] = a.astype(float)
        return out

    def check_inputs(self, input_times):
        """Input spike times as a float array of shape (B, n_inputs): >= 0, or inf for no spike."""
        t = np.asarray(input_times)
        if t.dtype.kind not in "iuf":
            raise TypeError(f"input_times must be an array of times (s), found dtype {t.dtype}")
        if t.ndim != 2 or t.shape[1] != self.n_inputs:
            raise ValueError(f"input_times must have shape (batch, {self.n_inputs}), found shape {t.shape}")
        bad = np.isnan(t) | (t < 0)
        if bad.any():
            k = tuple(np.argwhere(bad)[0].tolist())
            raise ValueError(f"input_times must be >= 0 (inf: no spike), found {t[k]} at index {k}")
        return t.astype(float)

    def _network(self, params, input_times):
        """The EventNetwork of a batch: one copy of the network per row of ``input_times``."""
        p = {**self._fixed_params(), **params}
        b, n, m = input_times.shape[0], self.n, self.n_inputs

        def per_copy(value):  # a scalar stays one; an array (per neuron or synapse) is repeated per copy
            a = np.asarray(value, float)
            return np.tile(a, b) if a.ndim else float(a)

        ptr, ix = _tile_csr(self._indptr, self._indices, n, n, b)
        net = EventNetwork(
            n * b,
            model=self.model,
            tau=per_copy(self._fixed["tau"]),
            tau_e=per_copy(self._fixed["tau_e"]),
            tau_i=per_copy(self._fixed["tau_i"]),
            drive=np.tile(p["drive"], b),
            threshold=per_copy(self._fixed["threshold"]),
            reset=per_copy(self._fixed["reset"]),
            refractory=per_copy(self._fixed["refractory"]),
            indptr=ptr,
            indices=ix,
            weights=np.tile(p["weights"], b),
            delays=per_copy(self._fixed["delays"]),
        )
        if m:
            sample, source = np.nonzero(np.isfinite(input_times))
            iptr, iix = _tile_csr(self._in_indptr, self._in_indices, m, n, b)
            net.add_spike_generator(
                input_times[sample, source],
                sample * m + source,
                m * b,
                iptr,
                iix,
                weights=np.tile(p["input_weights"], b),
                delays=per_copy(self._fixed["input_delays"]),
            )
        return net

    def _first_spikes(self, net, b):
        """The first ``n_first`` spike times of each read-out neuron per sample, as (B, R, K) (missing: the
        duration), with the flat position of each in that array and the position of its spike in the run."""
        r_count, k_count = self.readout.size, self.n_first
        sample, neuron = np.divmod(net.spike_indices.astype(np.int64), self.n)
        r = self._readout_pos[neuron]
        sel = np.flatnonzero(r >= 0)
        key = sample[sel] * r_count + r[sel]
        order = np.argsort(key, kind="stable")  # spikes are in time order: kept within each neuron
        key = key[order]
        rank = np.arange(key.size) - np.searchsorted(key, key, side="left")
        keep = rank < k_count
        flat = key[keep] * k_count + rank[keep]
        spike = sel[order][keep]
        first = np.full(b * r_count * k_count, self.duration)
        first[flat] = net.spike_times[spike]
        if self.pseudospikes is not None:  # a silent read-out neuron's first spike: its pseudospike
            from .gradients import pseudospike_times

            t_ps, ix = pseudospike_times(net, self.pseudospikes)
            ps_sample, ps_neuron = np.divmod(ix.astype(np.int64), self.n)
            ps_r = self._readout_pos[ps_neuron]
            keep = ps_r >= 0
            ps_flat = (ps_sample[keep] * r_count + ps_r[keep]) * k_count
            first[ps_flat] = t_ps[keep]
            flat = np.concatenate([flat, ps_flat])
            spike = np.concatenate([spike, net.spike_times.size + np.flatnonzero(keep)])
        return first.reshape(b, r_count, k_count), flat, spike

    def first_spikes(self, params, input_times):
        """Run a batch forward (no tape) and return the first spike times of the read-out neurons.

        Parameters
        ----------
        params : dict of str to array_like
            The trained parameters.
        input_times : array_like, shape (B, n_inputs)
            Input spike times (s) per sample (inf: no spike).

        Returns
        -------
        numpy.ndarray, shape (B, R, K)
            The first K spike times (s) of each read-out neuron per sample (the duration where missing).
        """
        params, input_times = self.check_params(params), self.check_inputs(input_times)
        net = self._network(params, input_times)
        net.run(self.duration)
        return self._first_spikes(net, input_times.shape[0])[0]

    def _value_and_grad(self, loss):
        """The jitted value and gradient of ``loss``, and whether it takes the read-out's gap to threshold."""
        import jax

        cached = self._grad_fns.get(loss)
        if cached is None:
            try:
                inspect.signature(loss).bind(None, None, None)
                takes_gap = True
            except TypeError:
                takes_gap = False
            argnums = (0, 2) if takes_gap else 0
            cached = self._grad_fns[loss] = (jax.jit(jax.value_and_grad(loss, argnums=argnums)), takes_gap)
        return cached

    def loss_and_gradient(self, params, input_times, targets, loss):
        """The loss of a minibatch and its exact gradient by the trained parameters.

        The batch runs as one `EventNetwork` of B copies of the network (with the tape of the backward
        pass); the loss's derivatives by the read-out spike times come from JAX, the gradient by the
        parameters of every copy from the backward pass, and the tied parameters' gradient is their sum.

        Parameters
        ----------
        params : dict of str to array_like
            The trained parameters (`check_params`).
        input_times : array_like, shape (B, n_inputs)
            Input spike times (s) per sample (inf: no spike).
        targets : array_like
            Passed to the loss as it is (e.g. labels, shape (B,), or target times).
        loss : callable
            ``loss(first_spikes, targets)`` or ``loss(first_spikes, targets, gap)``, a scalar written with
            ``jax.numpy``; ``first_spikes`` has shape (B, R, K) (s; the duration where a spike is missing),
            ``gap`` shape (B, R): for a read-out neuron that did not fire in the trial, its threshold minus
            its exact membrane value at the trial's end (> 0; differentiable, so a loss can lift silent
            neurons toward threshold), and 0 for one that fired. Compiled with ``jax.jit`` once per shape.

        Returns
        -------
        BatchGradient
        """

        params, input_times = self.check_params(params), self.check_inputs(input_times)
        if not callable(loss):
            raise TypeError(f"loss must be a callable, found {type(loss).__name__}")
        b = input_times.shape[0]
        if b == 0:
            raise ValueError("input_times must hold at least one sample, found 0")
        net = self._network(params, input_times)
        net.run(self.duration, record_tape=True)
        first, flat, spike = self._first_spikes(net, b)
        fn, takes_gap = self._value_and_grad(loss)
        if takes_gap and self.model == "theta":
            raise ValueError(
                "a loss with the gap to threshold needs a finite threshold, which theta neurons do not have: "
                "use a loss of the first spikes with pseudospikes"
            )
        with _x64():
            if takes_gap:
                silent = np.ones(b * self.readout.size, bool)
                silent[flat // self.n_first] = False
                rows = (np.arange(b)[:, None] * self.n + self.readout).ravel()
                threshold = np.broadcast_to(np.asarray(self._fixed["threshold"], float), self.n)[self.readout]
                gap = np.where(silent, np.tile(threshold, b) - net.v[rows], 0.0).reshape(b, -1)
                value, (d_first, d_gap) = fn(first, targets, gap)
            else:
                value, d_first = fn(first, targets)
                d_gap = np.zeros(0)
            value, d_first = float(value), np.asarray(d_first, dtype=np.float64).reshape(-1)
            d_gap = np.asarray(d_gap, dtype=np.float64).reshape(-1)
        if not (np.isfinite(d_first).all() and np.isfinite(d_gap).all() and np.isfinite(value)):
            raise ValueError(f"the loss or its derivative is not finite (loss {value}): check the loss function")
        n_ps = (
            0
            if self.pseudospikes is None
            else int(np.count_nonzero(np.bincount(net.spike_indices, minlength=net.n) == 0))
        )
        dL_dt = np.zeros(net.spike_times.size + n_ps)  # then one per pseudospike (every silent neuron)
        dL_dt[spike] = d_first[flat]
        dL_dv = None
        if takes_gap:
            dL_dv = np.zeros(net.n)
            dL_dv[rows[silent]] = -d_gap[silent]  # gap = threshold - v(T) for silent neurons only
        g = net.gradient(dL_dt, dL_dv, pseudospikes=self.pseudospikes)
        sums = {
            "weights": np.reshape(g.weights, (b, -1)).sum(axis=0) if "weights" in self.trained else None,
            "input_weights": (
                np.reshape(g.generator_weights[0], (b, -1)).sum(axis=0) if "input_weights" in self.trained else None
            ),
            "drive": np.reshape(g.drive, (b, self.n)).sum(axis=0) if "drive" in self.trained else None,
        }
        return BatchGradient(
            loss=value,
            gradient={k: sums[k] for k in self.trained},
            first_spikes=first,
            n_spikes=int(net.spike_times.size),
            n_pulse_triggered=g.n_pulse_triggered,
            n_coincident=g.n_coincident,
        )


def first_spike_cross_entropy(tau_soft, silent_weight=0.0):
    """A time-to-first-spike cross-entropy loss for `TrainableNetwork.loss_and_gradient` and `train`.

    The read-out neurons are the classes; their first spike times t_c give the logits ``-t_c / tau_soft``
    (the earliest neuron is the most likely class), and the loss is the mean cross-entropy over the batch.

    A class neuron that stays silent has the trial's duration as its time, which carries no gradient: if
    every output falls silent, the loss is stuck at ln C. With ``silent_weight`` w > 0 the loss adds, for
    each sample whose label neuron stayed silent, w times that neuron's gap to threshold at the trial's
    end (threshold minus its exact membrane value), averaged over the batch: its gradient lifts the silent
    label neuron toward firing, and it is 0 once the label neuron fires.

    Parameters
    ----------
    tau_soft : float
        Temperature (s), > 0: a time difference of ``tau_soft`` is a factor e in the odds.
    silent_weight : float
        Weight w >= 0 of the silent-label term (0: none).

    Returns
    -------
    callable
        ``loss(first_spikes, labels)`` (or ``loss(first_spikes, labels, gap)`` when ``silent_weight`` > 0)
        with ``first_spikes`` of shape (B, C, K) (K >= 1; the first spike is used), integer labels of shape
        (B,) and ``gap`` of shape (B, C) as `TrainableNetwork.loss_and_gradient` gives it.

    Examples
    --------
    >>> import numpy as np
    >>> from brian2_sparseprop.spiking.training import first_spike_cross_entropy
    >>> loss = first_spike_cross_entropy(0.005)
    >>> t = np.array([[[0.010], [0.015]]])  # one sample, two classes: class 0 fires 5 ms earlier
    >>> bool(np.isclose(float(loss(t, np.array([0]))), np.log(1 + np.exp(-1))))
    True
    >>> guarded = first_spike_cross_entropy(0.005, silent_weight=2.0)
    >>> t = np.array([[[0.1], [0.1]]])  # both silent (the duration, 100 ms): ln 2, plus 2 x the gap 0.25
    >>> bool(np.isclose(float(guarded(t, np.array([1]), np.array([[0.3, 0.25]]))), np.log(2) + 0.5))
    True
    """
    tau_soft = check_real("tau_soft", tau_soft, positive=True)
    silent_weight = check_real("silent_weight", silent_weight, nonnegative=True)

    def cross_entropy(first_spikes, labels):
        import jax
        import jax.numpy as jnp

        logp = jax.nn.log_softmax(-first_spikes[:, :, 0] / tau_soft, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, jnp.asarray(labels)[:, None], axis=1))

    if silent_weight == 0:
        return cross_entropy

    def guarded(first_spikes, labels, gap):
        import jax.numpy as jnp

        label_gap = jnp.take_along_axis(gap, jnp.asarray(labels)[:, None], axis=1)
        return cross_entropy(first_spikes, labels) + silent_weight * jnp.mean(label_gap)

    return guarded


@dataclass
class TrainingRun:
    """The state of a training run of `train`: what a checkpoint holds, and what `train` returns.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        The trained parameters after the last completed step.
    opt_state : object
        The optax optimiser's state (a pytree of arrays).
    epoch, step : int
        Completed epochs, and completed steps of the epoch under way (0 between epochs).
    history : dict of str to list
        Per step: ``'step_loss'`` (the batch loss), ``'step_spikes'`` and ``'step_pulse_triggered'`` (spikes of
        the batch's run, and those caused by an input pulse); per epoch: ``'loss'`` (mean batch loss),
        ``'pulse_triggered'`` (fraction of the spikes caused by an input pulse, whose times do not depend
        on the weights), ``'validation'`` (the value of ``validate``, or None), ``'seconds'`` (wall time).
    config : dict
        What the run was started with (numbers of samples and parameters, batch size, seed, epochs): a
        checkpoint is resumed only by a run with the same.
    """

    params: dict
    opt_state: object
    epoch: int = 0
    step: int = 0
    history: dict = field(default_factory=lambda: {k: [] for k in (*_STEP_KEYS, *_EPOCH_KEYS)})
    config: dict = field(default_factory=dict)


def _load(path, config):
    """The `TrainingRun` in the checkpoint file ``path`` (None if there is no such file), or a TypeError or
    ValueError if the file holds something else or a run with another configuration."""
    if path is None or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        run = pickle.load(f)
    if not isinstance(run, TrainingRun):
        raise TypeError(f"checkpoint {path} does not hold a TrainingRun, found {type(run).__name__}")
    if run.config != config:
        raise ValueError(
            f"checkpoint {path} was written by a run with {run.config}, not {config}: give another file or the "
            "same arguments"
        )
    return run


def _save(run, path):
    """Write the run's state to ``path`` atomically (a temporary file, then a rename)."""
    import jax

    state = TrainingRun(
        params={k: np.asarray(v) for k, v in run.params.items()},
        opt_state=jax.tree_util.tree_map(np.asarray, run.opt_state),
        epoch=run.epoch,
        step=run.step,
        history=run.history,
        config=run.config,
    )
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(state, f)
    os.replace(tmp, path)


def train(
    model,
    params,
    input_times,
    targets,
    loss,
    optimizer,
    *,
    epochs,
    batch_size,
    seed=0,
    checkpoint=None,
    validate=None,
    report=None,
):
    """Train a `TrainableNetwork` by minibatch gradient descent with an optax optimiser.

    Each epoch visits the samples in a random order drawn from ``(seed, epoch)`` (so a resumed run sees the
    batches an uninterrupted one would), runs each minibatch as one event-driven run of B copies
    (`TrainableNetwork.loss_and_gradient`) and applies the optimiser's update. With ``checkpoint``, the
    state (parameters, optimiser state, epoch, step, history) is written to that file after every epoch
    and when the run is interrupted (Ctrl-C: after the last completed step, then the KeyboardInterrupt is
    raised again); a later call with the same file and arguments resumes from it and gives the result of
    an uninterrupted run.

    Parameters
    ----------
    model : TrainableNetwork
    params : dict of str to array_like
        Initial values of the trained parameters (ignored when resuming from a checkpoint).
    input_times : array_like, shape (n_samples, n_inputs)
        Input spike times (s) of every sample.
    targets : array_like, shape (n_samples, ...)
        Targets of every sample (e.g. labels), given to the loss batch by batch.
    loss : callable
        ``loss(first_spikes, targets)`` (see `TrainableNetwork.loss_and_gradient`).
    optimizer : optax.GradientTransformation
        E.g. ``optax.adam(1e-3)``.
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size : int
        Samples per minibatch (the last one of an epoch may be smaller).
    seed : int
        Seed of the order of the samples.
    checkpoint : str or os.PathLike, optional
        File of the run's state (pickle), read if it exists and written after each epoch and on Ctrl-C.
    validate : callable, optional
        ``validate(params)`` after each epoch, a number stored in the history (e.g. validation accuracy).
    report : None, 'text', 'tqdm' or callable
        Progress: 'text' prints a line per epoch, 'tqdm' shows a progress bar of the steps, a callable gets
        the `TrainingRun` after every step.

    Returns
    -------
    TrainingRun

    Raises
    ------
    TypeError, ValueError
        For bad arguments (before any work), or a checkpoint written by a run with another configuration.

    Examples
    --------
    One neuron learns, through its input weight, to fire its first spike at 15 ms:

    >>> import numpy as np, optax
    >>> from brian2_sparseprop.spiking.training import TrainableNetwork, train
    >>> model = TrainableNetwork(1, [0, 0], [], n_inputs=1, input_indptr=[0, 1], input_indices=[0],
    ...                          readout=[0], duration=0.03, tau=0.01, drive=1.2, trained=["input_weights"])
    >>> def loss(t, target):
    ...     return ((t[:, 0, 0] - target) ** 2).mean() * 1e6  # ms^2
    >>> run = train(model, {"input_weights": np.array([0.0])}, [[0.005]], np.array([0.015]), loss,
    ...             optax.adam(0.02), epochs=40, batch_size=1)
    >>> bool(run.history["loss"][-1] < 0.01 * run.history["loss"][0])
    True
    """
    import optax

    if not isinstance(model, TrainableNetwork):
        raise TypeError(f"model must be a TrainableNetwork, found {type(model).__name__}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, found {type(optimizer).__name__}")
    if not callable(loss):
        raise TypeError(f"loss must be a callable, found {type(loss).__name__}")
    if validate is not None and not callable(validate):
        raise TypeError(f"validate must be a callable or None, found {type(validate).__name__}")
    if report not in (None, "text", "tqdm") and not callable(report):
        raise ValueError(f"report must be None, 'text', 'tqdm' or a callable, found {report!r}")
    params = model.check_params(params)
    input_times = model.check_inputs(input_times)
    n_samples = input_times.shape[0]
    targets = np.asarray(targets)
    if targets.ndim == 0 or targets.shape[0] != n_samples:
        raise ValueError(f"targets must have one entry per sample ({n_samples}), found shape {targets.shape}")
    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    config = dict(
        n_samples=n_samples,
        shapes={k: model.shapes[k] for k in model.trained},
        batch_size=batch_size,
        seed=seed,
    )
    with _x64():
        run = _load(checkpoint, config)
        if run is None:
            run = TrainingRun(params=params, opt_state=optimizer.init(params), config=config)
        bar = None
        if report == "tqdm":
            from tqdm.auto import tqdm

            per_epoch = -(-n_samples // batch_size)
            bar = tqdm(total=max(epochs - run.epoch, 0) * per_epoch - run.step * (run.epoch < epochs), unit="batch")
        try:
            while run.epoch < epochs:
                wall = time.monotonic()
                order = np.random.default_rng([seed, run.epoch]).permutation(n_samples)
                starts = range(0, n_samples, batch_size)
                for start in starts[run.step :]:
                    batch = order[start : start + batch_size]
                    result = model.loss_and_gradient(run.params, input_times[batch], targets[batch], loss)
                    updates, opt_state = optimizer.update(result.gradient, run.opt_state, run.params)
                    new = {
                        k: np.asarray(v, dtype=np.float64) for k, v in optax.apply_updates(run.params, updates).items()
                    }
                    run.params, run.opt_state, run.step = new, opt_state, run.step + 1
                    for key, value in zip(_STEP_KEYS, (result.loss, result.n_spikes, result.n_pulse_triggered)):
                        run.history[key].append(value)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(epoch=run.epoch, loss=f"{result.loss:.4g}")
                    elif callable(report):
                        report(run)
                n_steps = len(starts)
                last = {k: np.array(run.history[k][-n_steps:], dtype=float) for k in _STEP_KEYS}
                run.history["loss"].append(float(last["step_loss"].mean()))
                run.history["pulse_triggered"].append(
                    float(last["step_pulse_triggered"].sum() / max(last["step_spikes"].sum(), 1))
                )
                run.history["validation"].append(None if validate is None else validate(run.params))
                run.history["seconds"].append(time.monotonic() - wall)
                run.epoch, run.step = run.epoch + 1, 0
                if report == "text":
                    val = run.history["validation"][-1]
                    print(
                        f"epoch {run.epoch}/{epochs}: loss {run.history['loss'][-1]:.4g}"
                        + ("" if val is None else f", validation {val:.4g}")
                        + f", pulse-triggered spikes {100 * run.history['pulse_triggered'][-1]:.1f} %"
                        + f" ({run.history['seconds'][-1]:.1f} s)"
                    )
                if checkpoint is not None:
                    _save(run, checkpoint)
        except KeyboardInterrupt:
            if checkpoint is not None:
                _save(run, checkpoint)
            raise
        finally:
            if bar is not None:
                bar.close()
    return run
