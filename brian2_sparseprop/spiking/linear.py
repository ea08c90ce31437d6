"""Linear neuron models of small dimension for `EventNetwork` (``model="linear"``).

A `LinearModel` describes ``dx/dt = A x + b`` for a state x of dimension d <= 4, a threshold on a linear
combination ``c @ x >= theta``, a reset that sets one variable (v) and maps the others affinely, and the
variables that pulses go into. The engine (``cython_src/_linear.pxd``) advances the state in closed form
and finds the first threshold crossing by root isolation that cannot miss one (docs/engine.md, "Linear
models"). `LinearModel.lif_adaptive`, `LinearModel.pif` and `LinearModel.lif_alpha` build Brian2's
common forms.
"""

import copy

import numpy as np

from .._validation import check_values as _check_values, real_array as _real_array, si_value

__all__ = ["LinearModel"]

MAX_DIM = 4


class LinearModel:
    """A linear neuron model ``dx/dt = A x + b`` with threshold ``c @ x >= theta``, for ``model="linear"``.

    Parameters
    ----------
    variables : sequence of str
        Names of the d <= 4 state variables, ordered so that A is lower triangular: each variable's
        derivative depends on itself and earlier variables only.
    A : array_like, shape (d, d) or (n, d, d)
        The matrix (1/s), lower triangular with a diagonal <= 0 (``-1/tau`` of a leaky variable, 0 of an
        integrator); per neuron if 3-dimensional. An integrator (zero diagonal) may be driven by constants
        and leaky variables only, not by another integrator, and no variable may depend on an integrator.
    b : array_like, shape (d,) or (n, d)
        The constant drive (units of x per s); per neuron if 2-dimensional.
    threshold : dict
        ``{variable: coefficient}``: the linear combination c (missing variables have coefficient 0).
    theta : float or array_like, shape (n,)
        The threshold value: a neuron fires when ``c @ x`` reaches theta. ``inf``: never.
    v : str
        The variable set to ``reset`` at a spike and held during refractoriness (Brian2's
        ``(unless refractory)`` on it); the others keep integrating.
    reset : float or array_like, shape (n,)
        The value of v after a spike.
    reset_others : dict, optional
        ``{variable: (scale, offset)}``: at a spike, ``x = scale * x + offset`` (``(1, dvt)`` is Brian2's
        ``vt += dvt``, ``(0, value)`` is ``x = value``); variables not named are unchanged.
    pulse : str or (str, str)
        The variable a synaptic pulse ``w`` is added to, or a pair: the variable of ``w > 0`` and that of
        ``w < 0``.
    init : dict, optional
        ``{variable: value or array of shape (n,)}``: initial values (default 0; v defaults to ``reset``).
        EventNetwork's ``v_init`` overrides v's.

    Examples
    --------
    Brian2's adaptive threshold example (``dv/dt = -v/(10 ms)``, ``dvt/dt = (10 mV - vt)/(15 ms)``,
    ``v > vt``, reset ``v = 0; vt += 3 mV``), in volts, driven by a strong pulse:

    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.linear import LinearModel
    >>> m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=0.01, dvt=0.003)
    >>> net = EventNetwork(1, model="linear", linear=m)
    >>> net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.05)
    >>> net.run(0.05)
    >>> net.spike_times.tolist()
    [0.001]
    >>> print(f"{net.linear_state[0, 1]:.6f}")   # vt relaxes back towards 10 mV
    0.010114
    """

    def __init__(
        self, variables, A, b, threshold, theta=0.0, v="v", reset=0.0, reset_others=None, pulse="v", init=None
    ):
        variables = list(variables)
        if not 1 <= len(variables) <= MAX_DIM or not all(isinstance(x, str) for x in variables):
            raise ValueError(f"variables must be 1 to {MAX_DIM} names, found {variables!r:.80}")
        if len(set(variables)) != len(variables):
            raise ValueError(f"variables must be distinct, found {variables!r}")
        d = len(variables)
        self.variables = variables
        self.A = _real_array("A", A, copy=True)
        self.b = _real_array("b", b, copy=True)
        if self.A.shape[-2:] != (d, d) or self.A.ndim not in (2, 3):
            raise ValueError(f"A must have shape ({d}, {d}) or (n, {d}, {d}), found {self.A.shape}")
        if self.b.shape[-1:] != (d,) or self.b.ndim not in (1, 2):
            raise ValueError(f"b must have shape ({d},) or (n, {d}), found {self.b.shape}")
        _check_values("A", self.A.reshape(-1))
        _check_values("b", self.b.reshape(-1))
        upper = np.triu(np.ones((d, d), bool), 1)
        if (self.A[..., upper] != 0).any():
            raise ValueError(
                f"A must be lower triangular (each of {variables} may depend on itself and earlier variables "
                f"only), found a nonzero entry above the diagonal: {self.A.reshape(-1, d, d)[0]!r}"
            )
        diag = np.diagonal(self.A, axis1=-2, axis2=-1).reshape(-1, d)
        if (diag > 0).any():
            raise ValueError(f"A's diagonal (-1/tau per variable) must be <= 0, found {diag[diag > 0][0]}")
        zero = diag == 0
        lower = np.tril(np.ones((d, d), bool), -1)
        Af = self.A.reshape(-1, d, d)
        bad = zero[:, None, :] & lower[None] & (Af != 0)  # a variable driven by an integrator
        if bad.any():
            r, i, j = (int(k[0]) for k in np.nonzero(bad))
            raise NotImplementedError(
                f"{variables[i]!r} depends on the integrator {variables[j]!r} (zero diagonal): integrators may "
                "be driven by constants and leaky variables only (supported: perfect integrators of constant "
                "drives and of exponentially decaying currents)"
            )
        self.c = self._vector("threshold", threshold, variables)
        if not (self.c != 0).any():
            raise ValueError(f"threshold must name a variable with a nonzero coefficient, found {threshold!r}")
        self.theta = _real_array("theta", si_value("theta", theta, "dimensionless"), copy=True)
        if self.theta.ndim > 1:
            raise ValueError(f"theta must be a scalar or have shape (n,), found {self.theta.shape}")
        if np.isnan(self.theta).any() or (self.theta == -np.inf).any():
            raise ValueError(f"theta must be a number or +inf, found {self.theta.reshape(-1)[0]}")
        if v not in variables:
            raise ValueError(f"v must be one of the variables {variables}, found {v!r}")
        self.v = variables.index(v)
        self.reset = _real_array("reset", reset, copy=True)
        if self.reset.ndim > 1:
            raise ValueError(f"reset must be a scalar or have shape (n,), found {self.reset.shape}")
        _check_values("reset", self.reset.reshape(-1))
        self.reset_scale, self.reset_offset = np.ones(d), np.zeros(d)
        for name, value in (reset_others or {}).items():
            if name not in variables or name == v:
                raise ValueError(
                    f"reset_others must name variables other than v ({v!r}) of {variables}, found {name!r}"
                )
            try:
                scale, offset = (float(x) for x in value)
            except (TypeError, ValueError):
                raise ValueError(f"reset_others[{name!r}] must be a pair (scale, offset), found {value!r}") from None
            if not (np.isfinite(scale) and np.isfinite(offset)):
                raise ValueError(f"reset_others[{name!r}] must be finite, found {value!r}")
            self.reset_scale[variables.index(name)], self.reset_offset[variables.index(name)] = scale, offset
        pos, neg = (pulse, pulse) if isinstance(pulse, str) else tuple(pulse)
        for name in (pos, neg):
            if name not in variables:
                raise ValueError(f"pulse must name variables of {variables}, found {name!r}")
        self.pulse = (variables.index(pos), variables.index(neg))
        self.init = {}
        for name, value in (init or {}).items():
            if name not in variables:
                raise ValueError(f"init must name variables of {variables}, found {name!r}")
            a = _real_array(f"init[{name!r}]", value, copy=True)
            _check_values(f"init[{name!r}]", a.reshape(-1))
            self.init[variables.index(name)] = a

    @staticmethod
    def _vector(what, mapping, variables):
        if not isinstance(mapping, dict):
            raise TypeError(f"{what} must be a dict {{variable: coefficient}}, found {type(mapping).__name__}")
        out = np.zeros(len(variables))
        for name, value in mapping.items():
            if name not in variables:
                raise ValueError(f"{what} must name variables of {variables}, found {name!r}")
            out[variables.index(name)] = float(value)
        if not np.isfinite(out).all():
            raise ValueError(f"{what} coefficients must be finite, found {mapping!r}")
        return out

    # ------------------------------------------------------------------ named models
    @classmethod
    def lif_adaptive(cls, tau, tau_t, vt_rest, dvt, drive=0.0, reset=0.0, init=None):
        """LIF with an adaptive threshold (Brian2's ``examples/adaptive_threshold.py``): variables (v, vt),
        ``tau dv/dt = drive - v``, ``tau_t dvt/dt = vt_rest - vt``, spike when ``v >= vt``, then
        ``v = reset; vt += dvt``; pulses add to v. tau, tau_t in s (or time Quantities), per neuron or not;
        ``init`` as for `LinearModel` (vt starts at vt_rest by default)."""
        tau, tau_t = (np.asarray(si_value(k, x, "time"), float) for k, x in (("tau", tau), ("tau_t", tau_t)))
        _check_values("tau", tau.reshape(-1), positive=True)
        _check_values("tau_t", tau_t.reshape(-1), positive=True)
        tau, tau_t, drive, vt_rest = np.broadcast_arrays(
            tau, tau_t, np.asarray(drive, float), np.asarray(vt_rest, float)
        )
        A = np.zeros(tau.shape + (2, 2))
        A[..., 0, 0], A[..., 1, 1] = -1 / tau, -1 / tau_t
        b = np.stack([drive / tau, vt_rest / tau_t], axis=-1)
        return cls(
            ["v", "vt"],
            A,
            b,
            {"v": 1.0, "vt": -1.0},
            theta=0.0,
            v="v",
            reset=reset,
            reset_others={"vt": (1.0, dvt)},
            pulse="v",
            init={"vt": vt_rest, **(init or {})},
        )

    @classmethod
    def pif(cls, drive, threshold=1.0, reset=0.0, tau_s=None, tau=1.0, init=None):
        """The perfect integrator ``dv/dt = drive / tau`` (Brian2's ``dv/dt = I/tau``), or with an exponentially
        decaying synaptic current (``tau_s`` given: ``dv/dt = (drive + I) / tau``, ``tau_s dI/dt = -I``,
        pulses into I; else pulses into v). Spike at ``v >= threshold``, then ``v = reset``."""
        tau = np.asarray(si_value("tau", tau, "time"), float)
        _check_values("tau", tau.reshape(-1), positive=True)
        drive = np.asarray(drive, float)
        if tau_s is None:
            tau, drive = np.broadcast_arrays(tau, drive)
            return cls(
                ["v"],
                np.zeros(tau.shape + (1, 1)),
                (drive / tau)[..., None],
                {"v": 1.0},
                theta=threshold,
                reset=reset,
                init=init,
            )
        tau_s = np.asarray(si_value("tau_s", tau_s, "time"), float)
        _check_values("tau_s", tau_s.reshape(-1), positive=True)
        tau, tau_s, drive = np.broadcast_arrays(tau, tau_s, drive)
        A = np.zeros(tau.shape + (2, 2))
        A[..., 0, 0], A[..., 1, 0] = -1 / tau_s, 1 / tau
        b = np.stack([np.zeros_like(tau), drive / tau], axis=-1)
        return cls(["I", "v"], A, b, {"v": 1.0}, theta=threshold, reset=reset, pulse="I", init=init)

    @classmethod
    def lif_alpha(cls, tau, tau_s, drive=0.0, threshold=1.0, reset=0.0, tau_r=None, init=None):
        """LIF with alpha-function (or biexponential) synaptic currents: ``tau_r dg/dt = -g``,
        ``tau_s dI/dt = g - I``, ``tau dv/dt = drive - v + I``; pulses into g (``tau_r`` defaults to ``tau_s``:
        the alpha function ``(t / tau_s) exp(-t / tau_s)``). Equal time constants are exact, no special case."""
        tau, tau_s = (np.asarray(si_value(k, x, "time"), float) for k, x in (("tau", tau), ("tau_s", tau_s)))
        tau_r = tau_s if tau_r is None else np.asarray(si_value("tau_r", tau_r, "time"), float)
        for k, x in (("tau", tau), ("tau_s", tau_s), ("tau_r", tau_r)):
            _check_values(k, x.reshape(-1), positive=True)
        tau, tau_s, tau_r, drive = np.broadcast_arrays(tau, tau_s, tau_r, np.asarray(drive, float))
        A = np.zeros(tau.shape + (3, 3))
        A[..., 0, 0] = -1 / tau_r
        A[..., 1, 0], A[..., 1, 1] = 1 / tau_s, -1 / tau_s
        A[..., 2, 1], A[..., 2, 2] = 1 / tau, -1 / tau
        b = np.stack([np.zeros_like(tau), np.zeros_like(tau), drive / tau], axis=-1)
        return cls(["g", "I", "v"], A, b, {"v": 1.0}, theta=threshold, reset=reset, pulse="g", init=init)

    # ------------------------------------------------------------------ for EventNetwork
    def _with(self, **changes):
        """This model with some of ``A``, ``b``, ``theta`` and ``reset`` replaced, checked as the constructor
        checks them (the device's TimedArray inputs give a new b at each of their steps)."""
        unknown = set(changes) - {"A", "b", "theta", "reset"}
        if unknown:
            raise TypeError(f"_with takes A, b, theta and reset, found {sorted(unknown)}")
        others = {x: (self.reset_scale[k], self.reset_offset[k]) for k, x in enumerate(self.variables) if k != self.v}
        fields = {**dict(A=self.A, b=self.b, theta=self.theta, reset=self.reset), **changes}
        out = LinearModel(
            self.variables,
            fields["A"],
            fields["b"],
            dict(zip(self.variables, self.c)),
            theta=fields["theta"],
            v=self.variables[self.v],
            reset=fields["reset"],
            reset_others=others,
            pulse=tuple(self.variables[k] for k in self.pulse),
        )
        out.init = dict(self.init)
        return out

    def _with_init(self, x0):
        """A copy of this model whose initial state is ``x0`` (n, d) (`EventNetwork.set_params` before a run)."""
        out = copy.copy(self)
        out.init = {k: np.array(x0[:, k]) for k in range(x0.shape[1])}
        return out

    def per_neuron(self, n):
        """Per-neuron arrays for n neurons: A (n, d, d), b (n, d), theta (n,), reset (n,), initial state (n, d);
        ValueError for a per-neuron array of another length."""
        d = len(self.variables)

        def full(name, a, shape):
            if a.ndim > len(shape) - 1 and a.shape[0] != n:
                raise ValueError(f"{name} of the linear model must be per neuron with {n} rows, found shape {a.shape}")
            return np.broadcast_to(a, shape).copy()

        A = full("A", self.A, (n, d, d))
        b = full("b", self.b, (n, d))
        theta = full("theta", self.theta, (n,))
        reset = full("reset", self.reset, (n,))
        x0 = np.zeros((n, d))
        x0[:, self.v] = reset
        for k, a in self.init.items():
            x0[:, k] = full(f"init[{self.variables[k]!r}]", a, (n,))
        return A, b, theta, reset, x0

    def systems(self, A, b):
        """The engine's systems (`LIN_SYS_DTYPE` records), one per distinct (A, b), and each neuron's index."""
        from . import _engine

        n, d = b.shape
        keys = np.concatenate([A.reshape(n, -1), b], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        sys = np.zeros(len(uniq), _engine.LIN_SYS_DTYPE)
        D = d + 1
        M = np.zeros((len(uniq), 5, 5))
        M[:, 1:D, 1:D] = uniq[:, : d * d].reshape(-1, d, d)
        M[:, 1:D, 0] = uniq[:, d * d :]
        sys["M"] = M
        Mc = M.copy()
        Mc[:, 1 + self.v, :] = 0.0
        sys["Mc"] = Mc
        sys["c"][:, 1:D] = self.c
        sys["ra"][:, 1:D] = self.reset_scale
        sys["rr"][:, 1:D] = self.reset_offset
        sys["D"], sys["vi"] = D, 1 + self.v
        sys["pos"], sys["neg"] = 1 + self.pulse[0], 1 + self.pulse[1]
        return sys, inv.reshape(-1).astype(np.int32)
