"""Recognise Brian2 networks that the exact engine can run, and translate them into plain arrays.

The translation reads Brian2's own objects (equations, threshold, reset, refractoriness, synaptic
``on_pre`` code, inputs and monitors) with Brian2's own equation machinery (sympy expressions), and
returns an `EngineSpec`: numpy arrays in SI numbers that `brian2_sparseprop.EventNetwork` takes as they
are. Everything the engine cannot run exactly is refused with a `NotImplementedError` that names the
object, the construct and what is supported, before any simulation starts.

Supported neuron models (one state variable ``x``, every other symbol constant during a run):

- LIF: ``dx/dt`` linear in ``x`` with a negative coefficient, ``dx/dt = (drive - x) / tau``;
- QIF: ``dx/dt`` quadratic in ``x`` with a positive leading coefficient,
  ``dx/dt = a x**2 + b x + c``, mapped to ``tau dy/dt = y**2 + drive`` by the shift
  ``y = x + b / (2 a)`` and ``tau = 1 / a``;
- theta: ``dx/dt = A + B cos(x)`` with ``A > B``, i.e. ``tau dx/dt = (1 - cos x) + (1 + cos x) drive``,
  with threshold ``x > pi`` and reset to ``-pi``;
- exponential integrate-and-fire (EIF): ``dx/dt = a0 + a1 x + k exp(alpha x + beta)`` with ``a1 < 0``,
  ``k > 0``, ``alpha > 0`` (Brian2's ``(gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) + I)/C`` and any
  algebraically equivalent spelling), mapped to ``tau dy/dt = drive - y + exp(y)`` by ``tau = -1/a1`` and
  ``y = alpha (x + shift)`` (``y = (v - VT)/DeltaT`` for Brian2's form); it needs a threshold (its
  trajectory blows up in finite time) and ``(unless refractory)`` if refractory;
- LIF with exponential synaptic currents (Brian2's CUBA example), mapped to the model ``'lif_exp'``: one
  or two further state variables ``c`` with ``dc/dt = -c/tau_c`` (each decaying on its own), ``dx/dt``
  linear in ``x`` and in the currents with constant coefficients, ``dx/dt = (drive - x)/tau + sum k_c c``.
  The currents take the synaptic input (``on_pre='ge += w'``, ``PoissonInput`` onto ``ge``), are not
  reset and integrate also during refractoriness. The engine's currents are ``I_c = k_c tau c`` in the
  units of ``x``; with two currents, each must receive inputs of one sign in ``I_c`` (the excitatory one
  ``>= 0``, the inhibitory one ``<= 0``), because the engine sends a pulse to its current by its sign.
- LIF with exponential synaptic conductances (Brian2's COBA form), mapped to the model ``'coba'``: one or
  two conductances ``g`` with ``dg/dt = -g/tau_s`` (one time constant for both: the case with a closed
  form; unequal ones are refused), ``dx/dt`` linear in ``x`` and in ``g (E_g - x)`` with constant
  coefficients, ``dx/dt = ((E_L - x) + sum r_g g (E_g - x))/tau`` in any equivalent spelling
  (``(gl*(El - v) + ge*(Ee - v) + gi*(Ei - v))/C``). The engine's conductances are ``r_g g``
  (dimensionless, relative to the leak); the one with the higher reversal potential is the excitatory
  one. Inputs ``g += w`` must not decrease a conductance.

- linear models (mapped to the model ``'linear'``, `brian2_sparseprop.spiking.linear.LinearModel`), tried
  when the forms above do not apply: up to 4 state variables whose equations are linear in them with
  constant coefficients, in an order where each depends on itself and earlier ones only (Brian2's
  ``examples/adaptive_threshold.py``: ``dv/dt = -v/(10*ms)``, ``dvt/dt = (10*mV - vt)/(15*ms)``, perfect
  integrators ``dv/dt = I/tau``, alpha currents); a threshold ``lhs > rhs`` linear in the state variables
  (``v > vt``), a reset that sets one variable (v, held during refractoriness if flagged
  ``(unless refractory)``) and increments or sets others (``vt += 3*mV``) by constants; synaptic inputs into
  one variable (v, or g of alpha currents), of both signs, or into two variables of which one takes the inputs
  ``>= 0`` and the other those ``<= 0`` (``ge``, ``gi``). One linear form per network (the groups'
  threshold coefficients and resets of the other variables equal); StateMonitor records v only.

A one-dimensional LIF group may take a piecewise-constant drive from TimedArrays (``I = f(t)`` or ``f(t, i)`` in
its drive only), and a linear group a piecewise-constant input b (TimedArray calls in the terms of its equations
that do not depend on a state variable: ``dv/dt = (ge + I_ext(t) - v)/tau`` runs as a linear model, not as
'lif_exp'): `GroupSpec.drive_at` and `GroupSpec.linear_b_at` give them at any time and `GroupSpec.drive_changes`
the times of the steps, which the device turns into parameter changes (`EngineSpec.inputs_at`,
`EngineSpec.engine_params`) between segments of the run.

A group without differential equations (a relay: ``'v : 1'``, ``threshold='v > 1'``, ``reset='v = 0'``) is a
linear model with ``dv/dt = 0`` for the parameters its reset sets (`_relay_variables`); a strict threshold is
made strict at the events (the engine's ``>=`` with the next double above the value).

A LIF group (with or without currents) without threshold is passive: it never spikes (engine threshold
``+inf``, no reset). QIF, EIF and theta groups need a threshold (`_SUPPORTED_PASSIVE`).

Supported plasticity: Brian2's STDP form (``_SUPPORTED_STDP``), mapped to `EventNetwork.add_stdp` in engine
units (engine weight ``c w`` for a kick ``x_post += c*w``; engine traces ``k c Apre`` and ``k c Apost`` for
weight updates ``w + k*Apre``, ``w + k*Apost``), and Tsodyks-Markram short-term plasticity
(``_SUPPORTED_STP``), mapped to `EventNetwork.add_stp` (engine weight ``c w`` for a kick
``x_post += c*w*u*x``, ``c w U`` / U without facilitation), both listed in ``EngineSpec.plasticity``
(``kind`` 'stdp' or 'stp').
"""

import re
from dataclasses import dataclass, field

import numpy as np
import sympy
from brian2 import (
    Clock,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    PopulationRateMonitor,
    Quantity,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Subgroup,
    Synapses,
    TimedArray,
    second,
)
from sympy.core.function import AppliedUndef

from ._brian2 import (
    PARAMETER,
    SUBEXPRESSION,
    ArrayVariable,
    Constant,
    NumpyCodeObject,
    Subexpression,
    get_identifiers,
    parse_expression_dimensions,
    parse_statement,
    str_to_sympy,
)

__all__ = ["EngineSpec", "GroupSpec", "SourceSpec", "recognise_network"]

_SUPPORTED_MODELS = (
    "supported are one-dimensional LIF (dx/dt linear in x), QIF (dx/dt quadratic in x), EIF "
    "(dx/dt = a0 + a1*x + k*exp(alpha*x + beta) with a1 < 0, k > 0, alpha > 0) and theta "
    "(dx/dt = A + B*cos(x)) neurons, and LIF neurons with one or two exponential currents "
    "(dx/dt = (drive - x)/tau + k_e*ge + k_i*gi, dge/dt = -ge/tau_e, dgi/dt = -gi/tau_i, as in Brian2's CUBA "
    "example), or with one or two exponential conductances sharing one time constant (dx/dt = ((El - x) + "
    "ge*(Ee - x) + gi*(Ei - x))/tau, dge/dt = -ge/tau_s, dgi/dt = -gi/tau_s, Brian2's COBA form), whose "
    "parameters are constants or per-neuron parameters; and linear models (dx/dt = A x + b, "
    "brian2_sparseprop.spiking.linear)"
)
_SUPPORTED_LINEAR = (
    "linear models have up to 4 state variables with equations linear in them and constant coefficients, "
    "each depending on itself and on variables that do not depend on it, a threshold 'lhs > rhs' linear in "
    "the state, and a reset that sets one variable to a constant and increments or sets others by constants"
)


class _LinearRefusal(NotImplementedError):
    """Why a group is no linear model (the construct alone: `_recognise_group` adds it to the refusal of
    the other forms)."""

    def __init__(self, construct, supported=_SUPPORTED_MODELS):
        super().__init__(construct if supported == _SUPPORTED_MODELS else f"{construct} ({supported})")


_SUPPORTED_PASSIVE = (
    "groups without threshold (passive neurons that never spike) are supported for LIF neurons, with or "
    "without exponential currents; QIF, EIF and theta neurons need a threshold (without one, QIF and EIF "
    "neurons reach infinity in finite time and theta neurons keep turning)"
)
_SUPPORTED_RELAY = (
    "groups without differential equations (relays) are supported with a threshold linear in parameters that "
    "the reset sets to a constant ('v : 1', threshold='v > 1', reset='v = 0'; an event count "
    "'n_in : 1', threshold='n_in >= 3', reset='n_in = 0'), inputs added by synapses; the parameters stay "
    "constant between events (a perfect integrator without drive)"
)
_SUPPORTED_ON_PRE = (
    "supported is a single statement 'x_post += expr' or 'x_post -= expr' (theta neurons: "
    "'x_post = 2*arctan(tan(x_post/2) + expr)') where expr uses constants and per-synapse parameters"
)
_SUPPORTED_STDP = (
    "supported plasticity is Brian2's STDP form with constant parameters: a synaptic weight w, two "
    "event-driven traces 'dApre/dt = -Apre/taupre', 'dApost/dt = -Apost/taupost', "
    "on_pre='x_post += c*w; Apre += dApre; w = clip(w + k*Apost, wmin, wmax)' (statements in any order; "
    "'w += k*Apost' without bounds) and on_post='Apost += dApost; w = clip(w + k*Apre, wmin, wmax)', "
    "without a postsynaptic delay"
)
_SUPPORTED_STP = (
    "supported short-term plasticity is the Tsodyks-Markram form with event-driven variables: "
    "'du/dt = (U0 - u)/tauf', 'dx/dt = (1 - x)/taud' (parameters constant or per synapse), "
    "on_pre='u += U*(1 - u); x_post += c*w*u*x; x -= u*x' (statements in any order; without facilitation "
    "'x_post += c*w*x; x -= U*x', without depression 'x_post += c*w*u; u += U*(1 - u)'), without an on_post "
    "pathway"
)
_SUPPORTED_STATIC = (
    "a group without differential equations and without threshold is static (its variables do not change "
    "during a run): StateMonitors record its parameters and subexpressions; it cannot be connected or receive "
    "inputs"
)
_SUPPORTED_OBJECTS = (
    "supported are NeuronGroup, Subgroup, Synapses, PoissonInput, PoissonGroup, "
    "SpikeGeneratorGroup, SpikeMonitor, StateMonitor and PopulationRateMonitor"
)


@dataclass
class GroupSpec:
    """Where one NeuronGroup lives in the engine and how its state maps to the engine's state.

    Attributes
    ----------
    group : brian2.NeuronGroup
        The Brian2 group (never a Subgroup).
    offset : int
        Index of the group's first neuron in the engine.
    model : str
        'lif', 'qif', 'eif', 'theta', 'lif_exp' or 'coba'.
    variable : str
        Name of the group's state variable.
    shift : ndarray (n,), in the variable's SI unit
        Engine state = (Brian2 value (SI) + shift) * scale (shift non-zero only for QIF models with a linear
        term and for EIF models).
    refractory : ndarray (n,), s
        Absolute refractory period of each neuron.
    linear : dict or None
        Model 'linear' only: ``variables`` (names, in the order of the model), ``A`` (n, d, d), ``b`` (n, d),
        ``c`` (d,), ``theta`` (n,), ``reset`` (n,), ``reset_others`` and ``v`` (the variable reset to
        ``reset``, which is `variable`).
    currents : dict
        Model 'lif_exp' only: for each current variable, ``tau`` (its time constant, s, per neuron),
        ``scale`` (engine current = scale * Brian2 value, per neuron) and, once the inputs are known,
        ``columns``: the engine currents (0: excitatory, 1: inhibitory) whose sum it is. Model 'coba': the
        conductance variables, with ``tau``, ``scale`` (engine weight = scale * Brian2 increment: negative for
        the inhibitory conductance, whose engine pulses are negative), ``E`` (reversal potential, per neuron)
        and ``columns``.
    """

    group: NeuronGroup
    offset: int
    model: str
    variable: str
    shift: np.ndarray
    refractory: np.ndarray
    currents: dict = field(default_factory=dict)
    linear: dict = None
    #: engine units per SI unit of the state variable, per neuron (None: 1; EIF models: 1 / DeltaT)
    scale: np.ndarray = None
    #: groups driven by TimedArrays: ``calls`` (symbol name, TimedArray, per neuron), ``terms`` (sympy
    #: expressions of them: the constant term of dv/dt of a LIF group, or the constant term of each variable's
    #: equation of a linear group, in the model's order), ``evaluator`` and ``scale`` (engine units per unit of
    #: a term, per neuron: tau for the LIF drive, 1 for b); see `drive_at` and `linear_b_at`
    timed: dict = None

    @property
    def n(self):
        """Number of neurons in the group."""
        return len(self.group)

    def drive_changes(self, t_start, t_end):
        """The times in ``(t_start, t_end)`` at which a TimedArray of the drive takes its next value (none
        without one): the steps ``k * dt`` of each TimedArray, ``0 < k < len(values)``."""
        if self.timed is None:
            return np.zeros(0)
        times = []
        for _, array, _ in self.timed["calls"]:
            dt = float(array.dt)
            first = max(1, int(np.floor(t_start / dt)))
            k = np.arange(first, min(len(array.values), int(np.ceil(t_end / dt)) + 1))
            times.append(k * dt)
        times = np.unique(np.concatenate(times))
        return times[(times > t_start) & (times < t_end)]

    def _timed_terms(self, t):
        """The ``terms`` of `timed` at time ``t`` (s), shape (len(terms), n): each TimedArray at its step ``k``
        with ``k dt <= t < (k + 1) dt`` (clipped to its values, as Brian2 does), one vectorised evaluation per
        term, times ``scale``."""
        timed = self.timed
        if "functions" not in timed:  # the terms compiled once, their other symbols resolved once
            names = {name for name, _, _ in timed["calls"]}
            timed["functions"] = []
            for term in timed["terms"]:
                symbols = sorted(term.free_symbols, key=str)
                args = [
                    str(x) if str(x) in names else timed["evaluator"].values(str(x), "the TimedArray input")
                    for x in symbols
                ]
                timed["functions"].append((sympy.lambdify(symbols, term, modules="numpy"), args))
        current = {}
        for name, array, per_neuron in timed["calls"]:
            dt = float(array.dt)
            values = np.asarray(array.values, dtype=float)
            k = min(max(int(np.floor(t / dt + 1e-9)), 0), len(values) - 1)  # 1e-9: grid times that round below
            current[name] = values[k, : self.n] if per_neuron else values[k]
        out = np.empty((len(timed["terms"]), self.n))
        for row, (function, args) in zip(out, timed["functions"]):
            with np.errstate(all="ignore"):
                row[:] = np.asarray(function(*[current[a] if isinstance(a, str) else a for a in args]), dtype=float)
        out *= timed["scale"]
        if not np.isfinite(out).all():
            raise ValueError(
                f"NeuronGroup '{self.group.name}': the TimedArray input at t = {t} s must be finite, found: "
                f"{out[~np.isfinite(out)][:3]}"
            )
        return out

    def drive_at(self, t):
        """The engine drive of the group's neurons (a LIF group driven by TimedArrays) at time ``t`` (s)."""
        return self._timed_terms(t)[0]

    def linear_b_at(self, t):
        """The constant input b (n, d) of the group's linear model (a linear group driven by TimedArrays) at time
        ``t`` (s), in the order of its variables."""
        return self._timed_terms(t).T.copy()

    def to_engine(self, values, idx=slice(None)):
        """Brian2 values (SI) of the state variable (of the neurons ``idx``) -> engine state."""
        v = np.asarray(values, dtype=float) + self.shift[idx]
        return v if self.scale is None else v * self.scale[idx]

    def from_engine(self, values, idx=slice(None)):
        """Engine state (of the neurons ``idx``) -> Brian2 values (SI) of the state variable."""
        v = np.asarray(values, dtype=float)
        return (v if self.scale is None else v / self.scale[idx]) - self.shift[idx]

    def factor(self, current, idx):
        """Engine units per SI unit of an input into ``current`` (None: the state variable) of neurons idx."""
        if current is not None and current in self.currents:
            return self.currents[current]["scale"][idx]
        return 1.0 if self.scale is None else self.scale[idx]

    def currents_from_engine(self, currents, idx=slice(None)):
        """Engine currents of the group's neurons ``idx``, shape (..., len(idx), 2) -> Brian2 values (SI) of each
        current variable (a dict)."""
        if self.model == "coba":  # conductances are stored >= 0, whatever the sign of their pulses
            return {name: currents[..., c["columns"][0]] / np.abs(c["scale"][idx]) for name, c in self.currents.items()}
        return {
            name: currents[..., list(c["columns"])].sum(axis=-1) / c["scale"][idx] for name, c in self.currents.items()
        }

    def state_variables(self):
        """Names of the group's variables that the engine evolves: the state variable, the currents or
        conductances, the variables of a linear model."""
        return [
            self.variable,
            *self.currents,
            *(v for v in (self.linear or {}).get("variables", ()) if v != self.variable),
        ]


@dataclass
class SourceSpec:
    """An input source (PoissonGroup or SpikeGeneratorGroup) and its CSR connectivity to neurons.

    Attributes
    ----------
    group : brian2.PoissonGroup or brian2.SpikeGeneratorGroup
        The Brian2 input group.
    indptr, indices : ndarray of int
        CSR connectivity from the group's neurons to engine neurons.
    weights : ndarray of float
        Kick of each synapse in engine units.
    delays : ndarray of float, s
        Delay of each synapse.
    """

    group: object
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray


@dataclass
class EngineSpec:
    """A recognised Brian2 network as plain arrays for `brian2_sparseprop.EventNetwork`.

    All neuron arrays have one entry per engine neuron; groups are stored one after the other in
    `groups` order. Times are in seconds, states and kicks in the SI numbers of the Brian2 state
    variable (shifted for QIF models, see `GroupSpec`).
    """

    model: np.ndarray
    tau: np.ndarray
    drive: np.ndarray
    threshold: np.ndarray
    reset: np.ndarray
    refractory: np.ndarray
    integrate_refractory: np.ndarray
    v_init: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    tau_e: np.ndarray = None
    tau_i: np.ndarray = None
    i_e_init: np.ndarray = None
    i_i_init: np.ndarray = None
    E_e: np.ndarray = None
    E_i: np.ndarray = None
    linear: object = None
    groups: list = field(default_factory=list)
    poisson_inputs: list = field(default_factory=list)
    poisson_sources: list = field(default_factory=list)
    spike_generators: list = field(default_factory=list)
    spike_monitors: list = field(default_factory=list)
    state_monitors: list = field(default_factory=list)
    rate_monitors: list = field(default_factory=list)
    #: plastic Synapses: ``synapses``, ``part`` (None: the network's CSR, else a source's name), ``positions``
    #: (of its synapses in that CSR), ``rule`` (engine units), ``scales``, ``weight`` and ``traces`` (names)
    plasticity: list = field(default_factory=list)
    #: every Synapses: ``synapses``, ``part`` (as in ``plasticity``) and ``positions`` of its synapses in that CSR
    synapses: list = field(default_factory=list)
    #: per StateMonitor name, how each recorded variable is obtained (`MonitorPlan`)
    monitor_plans: dict = field(default_factory=dict)
    #: NeuronGroups without differential equations and without threshold (`_is_static`): not in the engine
    static_groups: list = field(default_factory=list)

    @property
    def n(self):
        """Number of engine neurons."""
        return len(self.model)

    def group_spec(self, group):
        """The `GroupSpec` of a NeuronGroup or of the group a Subgroup belongs to."""
        name = _root(group).name
        for spec in self.groups:
            if spec.group.name == name:
                return spec
        raise KeyError(f"{group.name} is not a NeuronGroup of this network")

    def neuron_indices(self, group):
        """Engine indices of the neurons of a NeuronGroup or Subgroup."""
        spec = self.group_spec(group)
        start = group.start if isinstance(group, Subgroup) else 0
        return spec.offset + start + np.arange(len(group))

    def drive_changes(self, t_start, t_end):
        """The times in ``(t_start, t_end)`` at which the drive of a group changes (the steps of its
        TimedArrays), sorted."""
        parts = [g.drive_changes(t_start, t_end) for g in self.groups]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0)

    def drive_at(self, t):
        """The engine drive of every neuron at time ``t`` (s): `drive` with the LIF groups driven by TimedArrays
        evaluated at ``t``."""
        drive = np.array(self.drive, dtype=float)
        for g in self.groups:
            if g.timed is not None and g.linear is None:
                drive[g.offset : g.offset + g.n] = g.drive_at(t)
        return drive

    def linear_b_at(self, t):
        """The constant input b (n, d) of the network's linear model at time ``t`` (s): ``linear.b`` with the
        linear groups driven by TimedArrays evaluated at ``t`` (None without linear neurons)."""
        if self.linear is None:
            return None
        b = np.array(np.broadcast_to(self.linear.b, (self.n, len(self.linear.variables))), dtype=float)
        for g in self.groups:
            if g.timed is not None and g.linear is not None:
                b[g.offset : g.offset + g.n] = g.linear_b_at(t)
        return b

    def inputs_at(self, t):
        """The parameters that TimedArrays change, at time ``t`` (s): ``{'drive': drive_at(t)}`` with LIF groups
        driven by TimedArrays, ``{'linear_b': linear_b_at(t)}`` with linear ones (both, or neither)."""
        out = {}
        if any(g.timed is not None and g.linear is None for g in self.groups):
            out["drive"] = self.drive_at(t)
        if any(g.timed is not None and g.linear is not None for g in self.groups):
            out["linear_b"] = self.linear_b_at(t)
        return out

    def engine_params(self, inputs):
        """`EventNetwork.set_params` arguments for inputs as `inputs_at` gives them: the drive, and the
        network's linear model with the constant input b."""
        out = {}
        if "drive" in inputs:
            out["drive"] = inputs["drive"]
        if "linear_b" in inputs:
            out["linear"] = self.linear._with(b=inputs["linear_b"])
        return out

    def engine_kwargs(self):
        """Keyword arguments for the `EventNetwork` constructor (without ``seed``)."""
        models = np.unique(self.model)
        currents = {}
        if "lif_exp" in models or "coba" in models:
            currents = dict(tau_e=self.tau_e, tau_i=self.tau_i, i_e_init=self.i_e_init, i_i_init=self.i_i_init)
        if "coba" in models:
            currents.update(E_e=self.E_e, E_i=self.E_i)
        if self.linear is not None:
            currents["linear"] = self.linear
        return dict(
            n=self.n,
            model=str(models[0]) if len(models) == 1 else self.model,
            tau=self.tau,
            drive=self.drive,
            threshold=self.threshold,
            reset=self.reset,
            refractory=self.refractory,
            integrate_refractory=self.integrate_refractory,
            v_init=self.v_init,
            indptr=self.indptr if len(self.indices) else None,
            indices=self.indices if len(self.indices) else None,
            weights=_scalar_if_constant(self.weights),
            delays=_scalar_if_constant(self.delays),
            **currents,
        )


def _root(group):
    """The NeuronGroup (or input group) that a Subgroup is a part of."""
    while isinstance(group, Subgroup):
        group = group.source
    return group


def _local_indices(group):
    """Indices of a group's neurons in its root group."""
    start = group.start if isinstance(group, Subgroup) else 0
    return start + np.arange(len(group))


def _refuse(obj, construct, supported):
    return NotImplementedError(
        f"{type(obj).__name__} '{obj.name}': {construct} cannot be simulated exactly by the "
        f"sparseprop device; {supported}. Use set_device('sparseprop', fallback=True) to run such "
        "networks with Brian2's runtime instead."
    )


def _natural_key(obj):
    """Sort key for object names in which 'group_10' comes after 'group_9'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", obj.name)]


def _symbol(name):
    """The sympy symbol that Brian2's `str_to_sympy` creates for a name (real-valued)."""
    return sympy.Symbol(name, real=True)


def _code_lines(code):
    lines = []
    for line in str(code).replace(";", "\n").split("\n"):
        line = line.split("#")[0].strip()
        if line:
            lines.append(line)
    return lines


def _additive_statement(line):
    """(variable, operator, right-hand side as sympy) of a statement, with ``x -= e`` read as ``x += -e``."""
    name, op, expr, _ = parse_statement(line)
    rhs = str_to_sympy(expr)
    return (name, "+=", -rhs) if op == "-=" else (name, op, rhs)


class _Evaluator:
    """Evaluates sympy expressions in the context of a Brian2 group or synapses.

    Each symbol is resolved as Brian2 resolves it (group variables first, then the group's namespace
    and the run namespace); per-neuron or per-synapse variables give arrays, external constants
    scalars. Symbols naming values that change during a run are refused.
    """

    def __init__(self, owner, run_namespace, changing, size, index_arrays=None):
        self.owner = owner
        self.run_namespace = run_namespace
        self.changing = set(changing)
        self.size = size
        self.index_arrays = index_arrays or {}
        self.timed = {}  # values of TimedArray calls replaced by symbols (`_timed_calls`)

    def values(self, name, construct):
        if name in self.timed:
            return np.asarray(self.timed[name], dtype=float)
        if name in ("t", "t_in_timesteps", "lastspike", "not_refractory") or name in self.changing:
            raise _refuse(
                self.owner,
                f"{construct} depends on '{name}', which changes during a run",
                _SUPPORTED_MODELS if isinstance(self.owner, NeuronGroup) else _SUPPORTED_ON_PRE,
            )
        var = self.owner._resolve(name, self.run_namespace)
        if isinstance(var, Constant):
            return np.asarray(var.value, dtype=float)
        if isinstance(var, Subexpression):
            raise _refuse(self.owner, f"{construct} uses the subexpression '{name}'", _SUPPORTED_ON_PRE)
        if not isinstance(var, ArrayVariable):
            raise _refuse(self.owner, f"{construct} uses '{name}' ({type(var).__name__})", _SUPPORTED_MODELS)
        value = np.asarray(var.get_value(), dtype=float)
        if var.scalar:
            return value.reshape(-1)[0]
        index = self.owner.variables.indices[name]
        if index in self.index_arrays:
            return value[self.index_arrays[index]]
        return value

    def evaluate(self, expr, construct):
        """Value of a sympy expression for each element (ndarray of shape (size,))."""
        undefined = expr.atoms(AppliedUndef)
        if undefined:
            raise _refuse(
                self.owner,
                f"{construct} calls the function(s) {sorted(str(f.func) for f in undefined)} "
                "(TimedArray or user functions)",
                _SUPPORTED_MODELS,
            )
        if expr.is_Number:
            result = np.asarray(float(expr))
        elif expr.is_Symbol:
            result = np.asarray(self.values(str(expr), construct), dtype=float)
        else:
            symbols = sorted(expr.free_symbols, key=str)
            args = [self.values(str(s), construct) for s in symbols]
            func = sympy.lambdify(symbols, expr, modules="numpy")
            with np.errstate(all="ignore"):
                result = np.asarray(func(*args), dtype=float)
        # a constant stays a read-only broadcast view: no copy per synapse until one is needed
        return np.broadcast_to(result, (self.size,))


def _model_expression(group, variable):
    """dx/dt of a group's state variable (or the expression of a subexpression) as a sympy expression,
    subexpressions substituted."""
    eqs = group.user_equations
    expr = str_to_sympy(eqs[variable].expr.code)
    for _ in range(len(eqs.subexpr_names) + 1):
        names = {str(s) for s in expr.free_symbols} & set(eqs.subexpr_names)
        if not names:
            break
        expr = expr.subs({_symbol(n): str_to_sympy(eqs[n].expr.code) for n in names})
    return expr


def _timed_calls(group, exprs, run_namespace):
    """``exprs`` (a list of sympy expressions) with each call of a TimedArray ``f(t)`` or ``f(t, i)`` replaced
    by a symbol (one per distinct call), and the calls ``[(symbol name, TimedArray, per neuron)]`` and the names
    the script calls them by; other function calls are left in place (refused later)."""
    calls, subs, called = [], {}, []
    atoms = set().union(*(expr.atoms(AppliedUndef) for expr in exprs))
    for call in sorted(atoms, key=str):
        name = str(call.func)
        try:
            obj = group._resolve(name, run_namespace)
        except (KeyError, Exception):
            continue
        if not isinstance(obj, TimedArray):
            continue
        args = [str(a) for a in call.args]
        if args not in (["t"], ["t", "i"]):
            raise _refuse(
                group,
                f"the TimedArray call {call}",
                "TimedArray inputs are supported as 'f(t)' or 'f(t, i)' in the drive of a LIF equation or in "
                "the constant terms of a linear model's equations",
            )
        symbol = f"_timed{len(calls)}"
        calls.append((symbol, obj, len(args) == 2))
        called.append(name)
        subs[call] = _symbol(symbol)
    return [expr.subs(subs) for expr in exprs], calls, called


def _check_timed_shapes(group, timed, evaluator):
    """ValueError for a TimedArray ``f(t, i)`` with values for fewer neurons than the group has; the calls' symbols
    then stand for 0 in ``evaluator`` (their values enter through `GroupSpec.timed`)."""
    n = len(group)
    for name, array, per_neuron in timed:
        if per_neuron and np.ndim(array.values) == 2 and np.shape(array.values)[1] < n:
            raise ValueError(
                f"NeuronGroup '{group.name}': the TimedArray '{array.name}' has values for "
                f"{np.shape(array.values)[1]} neurons, the group has {n}"
            )
        evaluator.timed[name] = 0.0


def _is_zero(expr):
    """Whether a sympy expression is identically zero (cheap tests first; simplify is slow)."""
    return expr == 0 or sympy.expand(expr) == 0 or sympy.simplify(expr) == 0


def _classify(group, variable, expr):
    """Identify the model family of dx/dt = expr: returns (model, coefficient expressions)."""
    x = _symbol(variable)
    if x not in expr.free_symbols:
        raise _refuse(
            group,
            f"d{variable}/dt = {expr}, which does not depend on '{variable}' (a perfect integrator)",
            _SUPPORTED_MODELS,
        )
    first = sympy.diff(expr, x)
    second = sympy.diff(first, x)
    if _is_zero(second):
        return "lif", {"a1": first.subs(x, 0), "a0": expr.subs(x, 0)}
    if _is_zero(sympy.diff(second, x)):
        return "qif", {"a": second.subs(x, 0) / 2, "b": first.subs(x, 0), "c": expr.subs(x, 0)}
    eif = _eif_form(expr, x)
    if eif is not None:
        return "eif", eif
    at_zero = expr.subs(x, 0)
    at_pi = expr.subs(x, sympy.pi)
    theta_form = (at_pi / 2) * (1 - sympy.cos(x)) + (at_zero / 2) * (1 + sympy.cos(x))
    if _is_zero(expr - theta_form):
        return "theta", {"f0": at_zero, "fpi": at_pi}
    raise _refuse(group, f"the non-linear equation d{variable}/dt = {expr}", _SUPPORTED_MODELS)


def _eif_form(expr, x):
    """The coefficients ``a0, a1, k, alpha`` of ``expr = a0 + a1 x + k exp(alpha x)`` (exp(alpha x + beta)
    has its constant factor in k), or None if expr is not of this form."""
    expanded = sympy.expand(expr)  # exp(a + b) -> exp(a) exp(b): the x-dependent exponential stands alone
    exps = {e for e in expanded.atoms(sympy.exp) if x in e.free_symbols}
    if len(exps) != 1:
        return None
    e = exps.pop()
    alpha = sympy.simplify(e.args[0] / x)
    if x in alpha.free_symbols:
        return None
    y = sympy.Dummy("y")
    rest = expanded.subs(e, y)
    if any(not _is_zero(sympy.diff(rest, *v)) for v in ((x, x), (y, y), (x, y))):
        return None
    return {
        "a0": rest.subs({x: 0, y: 0}),
        "a1": sympy.diff(rest, x).subs(y, 0),
        "k": sympy.diff(rest, y).subs(x, 0),
        "alpha": alpha,
    }


def _threshold_value(group, variable, evaluator):
    return evaluator.evaluate(_threshold_expression(group, variable), "the threshold")


def _threshold_expression(group, variable):
    """The threshold value of a condition 'x > value' as a sympy expression, or refuse."""
    code = group.events.get("spike")
    if code is None:
        raise _refuse(group, "a group without threshold", "groups need a threshold 'x > value'")
    cond = str_to_sympy(str(code))
    x = _symbol(variable)
    if isinstance(cond, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        lhs, rhs = cond.lhs, cond.rhs
    elif isinstance(cond, (sympy.StrictLessThan, sympy.LessThan)):
        lhs, rhs = cond.rhs, cond.lhs
    else:
        lhs, rhs = None, None
    if lhs != x or x in rhs.free_symbols:
        raise _refuse(
            group,
            f"the threshold condition '{code}'",
            f"supported are thresholds '{variable} > value' or '{variable} >= value' with a constant value",
        )
    return rhs


def _reset_value(group, variable, evaluator, model):
    rhs = _reset_expression(group, variable, model)
    if rhs is None:
        return np.full(len(group), -np.pi)
    return evaluator.evaluate(rhs, "the reset")


def _reset_expression(group, variable, model):
    """The reset value of a statement 'x = value' as a sympy expression (None for a theta neuron's
    'x -= 2*pi'), or refuse."""
    code = group.event_codes.get("spike", "")
    lines = _code_lines(code)
    supported = f"supported is a single reset statement '{variable} = value' with a constant value" + (
        f" (theta neurons: '{variable} = -pi' or '{variable} -= 2*pi')" if model == "theta" else ""
    )
    if len(lines) != 1:
        raise _refuse(group, f"the reset '{code}'", supported)
    var, op, expr, _ = parse_statement(lines[0])
    x = _symbol(variable)
    rhs = str_to_sympy(expr)
    if var != variable:
        raise _refuse(group, f"the reset statement '{lines[0]}' (it changes '{var}')", supported)
    if op == "-=" and model == "theta":
        rhs = x - rhs
    elif op != "=":
        raise _refuse(group, f"the reset statement '{lines[0]}'", supported)
    if model == "theta" and sympy.simplify(rhs - (x - 2 * sympy.pi)) == 0:
        return None
    if x in rhs.free_symbols:
        raise _refuse(group, f"the reset statement '{lines[0]}'", supported)
    return rhs


def _refractory_value(group, evaluator, run_namespace):
    ref = group._refractory
    if ref is False or ref is None:
        return np.zeros(len(group))
    if isinstance(ref, Quantity):
        return np.broadcast_to(np.asarray(ref, dtype=float), (len(group),)).copy()
    identifiers = get_identifiers(str(ref))
    variables = group.resolve_all(identifiers, run_namespace, user_identifiers=identifiers)
    if parse_expression_dimensions(str(ref), variables) is not second.dim:
        raise _refuse(
            group,
            f"the refractory condition '{ref}'",
            "supported are refractory periods given as a time or a constant expression of time",
        )
    return evaluator.evaluate(str_to_sympy(str(ref)), "the refractory period")


def _check_group_constructs(group, max_equations=3, relay=False):
    eqs = group.equations
    if eqs.stochastic_variables:
        raise _refuse(group, f"the stochastic variable(s) {sorted(eqs.stochastic_variables)}", _SUPPORTED_MODELS)
    if len(eqs.diff_eq_names) == 0 and not relay:
        raise _refuse(group, "a group without differential equations", _SUPPORTED_MODELS)
    if len(eqs.diff_eq_names) > max_equations:
        raise _refuse(
            group, f"{len(eqs.diff_eq_names)} differential equations ({sorted(eqs.diff_eq_names)})", _SUPPORTED_MODELS
        )
    extra_events = set(group.events) - {"spike"}
    if extra_events:
        raise _refuse(group, f"the custom event(s) {sorted(extra_events)}", "only the 'spike' event is supported")
    if group._linked_variables:
        raise _refuse(group, f"the linked variable(s) {sorted(group._linked_variables)}", _SUPPORTED_MODELS)
    if group.subexpression_updater is not None:
        raise _refuse(group, "subexpressions flagged '(constant over dt)'", _SUPPORTED_MODELS)
    _check_attached(group)


def _check_attached(group):
    """Refuse operations attached to a group (``run_regularly``): the engine runs no code per step."""
    known = set(group.thresholder.values()) | set(group.resetter.values()) | {group.state_updater}
    for obj in group.contained_objects:
        if obj not in known:
            raise _refuse(group, f"the attached operation '{obj.name}' (e.g. run_regularly)", _SUPPORTED_OBJECTS)


def _split_currents(group):
    """The membrane variable and the current variables of a group with several differential equations:
    the currents are those whose equation depends on no other state variable; exactly one variable (the
    membrane) may depend on others. Returns (variable, [current names])."""
    names = sorted(group.equations.diff_eq_names)
    states = {_symbol(n) for n in names}
    coupled = [n for n in names if (_model_expression(group, n).free_symbols & states) - {_symbol(n)}]
    if len(coupled) != 1:
        raise _refuse(
            group,
            f"{len(names)} differential equations ({names}) of which {len(coupled)} depend on other state "
            "variables (exactly one may: the membrane variable, driven by currents that decay on their own)",
            _SUPPORTED_MODELS,
        )
    return coupled[0], [n for n in names if n != coupled[0]]


def _current_terms(group, variable, currents, evaluator):
    """For a membrane equation dx/dt = f(x) + sum k_c c: f (a sympy expression of x) and the evaluated
    per-neuron coefficients k_c and time constants tau_c of the currents (dc/dt = -c/tau_c), or refuse."""
    expr = _model_expression(group, variable)
    states = [_symbol(variable)] + [_symbol(c) for c in currents]
    coefficients, taus = {}, {}
    for name in currents:
        c = _symbol(name)
        k = sympy.diff(expr, c)
        if any(not _is_zero(sympy.diff(k, s)) for s in states):
            raise _refuse(
                group,
                f"d{variable}/dt = {expr}, which is not linear in '{name}' with a constant coefficient",
                _SUPPORTED_MODELS,
            )
        if _is_zero(k):
            raise _refuse(group, f"the current '{name}', which does not enter d{variable}/dt", _SUPPORTED_MODELS)
        coefficients[name] = evaluator.evaluate(k, f"the equation for '{variable}'")
        taus[name] = _decay_tau(group, name, evaluator)
        expr = expr - k * c
    return sympy.expand(expr), coefficients, taus


def _decay_tau(group, name, evaluator):
    """The time constant (s, per neuron) of a current or conductance with dc/dt = -c/tau, or refuse."""
    c = _symbol(name)
    own = _model_expression(group, name)
    rate = sympy.diff(own, c)
    if not (_is_zero(own.subs(c, 0)) and _is_zero(sympy.diff(rate, c))):
        raise _refuse(
            group,
            f"d{name}/dt = {own}, which is not an exponential decay d{name}/dt = -{name}/tau",
            _SUPPORTED_MODELS,
        )
    if "unless refractory" in group.user_equations[name].flags:
        raise _refuse(
            group,
            f"the current '{name}' held during refractoriness ('(unless refractory)')",
            "the currents integrate and take their inputs also while the neuron is refractory",
        )
    rate = evaluator.evaluate(rate, f"the equation for '{name}'")
    if not (np.all(rate < 0) and np.all(np.isfinite(rate))):
        raise ValueError(
            f"NeuronGroup '{group.name}': d{name}/dt = -{name}/tau_{name} needs tau_{name} > 0, found: "
            f"tau_{name} = {-1 / rate}"
        )
    return -1.0 / rate


def _conductance_terms(group, variable, currents, evaluator):
    """For a membrane equation dx/dt = f(x) + sum c (alpha_c + beta_c x) (conductances c, Brian2's COBA form):
    f (a sympy expression of x) and, per conductance, the evaluated per-neuron beta_c (< 0), reversal
    potential E_c = -alpha_c / beta_c and time constant (dc/dt = -c/tau_c); None if some coefficient of a
    current does not depend on x (not this form); refuses what is not linear in c and x."""
    expr = _model_expression(group, variable)
    x = _symbol(variable)
    states = [x] + [_symbol(c) for c in currents]
    if all(_is_zero(sympy.diff(expr, _symbol(name), x)) for name in currents):
        return None
    betas, reversals, taus = {}, {}, {}
    for name in currents:
        c = _symbol(name)
        k = sympy.diff(expr, c)
        beta = sympy.diff(k, x)
        if any(not _is_zero(sympy.diff(beta, s)) for s in states) or any(
            not _is_zero(sympy.diff(k, s)) for s in states if s != x
        ):
            raise _refuse(
                group,
                f"d{variable}/dt = {expr}, which is neither linear in '{name}' with a constant coefficient (a "
                f"current) nor of the form {name}*(E - {variable})/tau (a conductance)",
                _SUPPORTED_MODELS,
            )
        b = np.broadcast_to(evaluator.evaluate(beta, f"the equation for '{variable}'"), (len(group),))
        if not (np.all(b < 0) and np.all(np.isfinite(b))):
            raise ValueError(
                f"NeuronGroup '{group.name}': the conductance '{name}' must drive '{variable}' towards a reversal "
                f"potential, {name}*(E - {variable}) with a positive factor, found d/d{variable} of its "
                f"coefficient: {b}"
            )
        alpha = evaluator.evaluate(k.subs(x, 0), f"the equation for '{variable}'")
        betas[name], reversals[name] = b, -alpha / b
        taus[name] = np.broadcast_to(_decay_tau(group, name, evaluator), (len(group),))
        expr = expr - k * c
    if len(currents) == 2:
        t1, t2 = (taus[name] for name in currents)
        if np.any(t1 != t2):
            i = int(np.argmax(t1 != t2))
            raise NotImplementedError(
                f"NeuronGroup '{group.name}': the conductances {list(currents)} decay with different time "
                f"constants ({t1[i]} s and {t2[i]} s for neuron {i}); conductance synapses run exactly when "
                "both share one time constant (tau_e == tau_i: the closed form in incomplete gamma functions, "
                "Brette 2006): unequal time constants are not supported"
            )
    return sympy.expand(expr), betas, reversals, taus


def _recognise_group(group, offset, run_namespace, t=0.0):
    """Model, per-neuron parameters and state mapping of one NeuronGroup: one of the one-dimensional models
    or 'lif_exp', else a linear model (`_recognise_linear`); if neither applies, both refusals."""
    try:
        return _recognise_one_dimensional(group, offset, run_namespace, t)
    except NotImplementedError as refusal:
        try:
            return _recognise_linear(group, offset, run_namespace, t)
        except _LinearRefusal as linear:
            raise NotImplementedError(f"{refusal} As a linear model: {linear} ({_SUPPORTED_LINEAR}).") from None
        except NotImplementedError as linear:  # a construct the linear models refuse as well, named
            raise NotImplementedError(f"{refusal} As a linear model: {linear}") from None


def _linear_terms(group, expr, symbols, evaluator, construct):
    """The per-neuron coefficients of a sympy expression linear in ``symbols`` (list of arrays) and its
    constant term, or refuse."""
    coefficients = []
    for sym in symbols:
        k = sympy.diff(expr, sym)
        if any(not _is_zero(sympy.diff(k, other)) for other in symbols):
            raise _LinearRefusal(f"{construct} {expr}, which is not linear in '{sym}'", _SUPPORTED_MODELS)
        coefficients.append(evaluator.evaluate(k, construct) if not _is_zero(k) else None)
    const = evaluator.evaluate(expr.subs({sym: 0 for sym in symbols}), construct)
    return coefficients, const


def _recognise_linear(group, offset, run_namespace, t=0.0):
    """A linear model (`brian2_sparseprop.spiking.linear.LinearModel`): dx/dt = A x + b with constant
    coefficients, a threshold linear in the state, a reset that sets one variable and increments or sets
    the others; or refuse. TimedArray calls in the constant terms make b piecewise constant (its value at the
    run's start ``t``; `GroupSpec.linear_b_at` gives it at any time)."""
    from ..spiking.linear import LinearModel

    _check_group_constructs(group, max_equations=4, relay=True)
    group.equations.check_units(group, run_namespace=run_namespace)
    names = sorted(group.equations.diff_eq_names)
    relay = not names
    if relay:  # a relay: the variables its reset sets, constant between events (dx/dt = 0)
        names = _relay_variables(group)
    n, d = len(group), len(names)
    symbols = [_symbol(x) for x in names]
    evaluator = _Evaluator(group, run_namespace, set(names), n)
    timed, terms = [], {}
    if relay:
        rows = {x: ([None] * d, np.zeros(n)) for x in names}
    else:
        original = [_model_expression(group, x) for x in names]
        exprs, timed, called = _timed_calls(group, original, run_namespace)
        _check_timed_shapes(group, timed, evaluator)
        names_t = {_symbol(name) for name, _, _ in timed}
        for x, expr, orig in zip(names, exprs, original):
            varying = [str(y) for y in symbols if names_t & sympy.diff(expr, y).free_symbols]
            if varying:
                raise _LinearRefusal(
                    f"the TimedArray(s) {called} multiplying the state variable(s) {varying} in d{x}/dt = {orig} "
                    "(a time-varying A)",
                    "TimedArray inputs are supported in the constant terms of a linear model's equations "
                    "(dx/dt = A x + b(t), 'f(t)' or 'f(t, i)' not multiplied by a state variable)",
                )
            terms[x] = expr.subs({y: 0 for y in symbols})
        rows = {x: _linear_terms(group, expr, symbols, evaluator, f"d{x}/dt =") for x, expr in zip(names, exprs)}
    # order: each variable after those it depends on (a cycle: not lower triangular)
    order, left = [], list(names)
    while left:
        ready = [x for x in left if all(rows[x][0][names.index(y)] is None for y in left if y != x)]
        if not ready:
            raise _LinearRefusal(
                f"the coupled equations of {left} (each must depend on itself and on variables "
                "that do not depend on it)",
                _SUPPORTED_MODELS,
            )
        order.append(ready[0])
        left.remove(ready[0])
    perm = [names.index(x) for x in order]
    A, b = np.zeros((n, d, d)), np.zeros((n, d))
    for i, x in enumerate(order):
        coefficients, const = rows[x]
        b[:, i] = const
        for j, k in enumerate(coefficients[p] for p in perm):
            if k is not None:
                A[:, i, j] = k
    code = group.events.get("spike")
    g, cond = _linear_threshold(group)
    coefficients, const = _linear_terms(group, g, [symbols[p] for p in perm], evaluator, "the threshold")
    c = {}
    for x, k in zip(order, coefficients):
        if k is not None:
            if np.ptp(k) != 0:
                raise _LinearRefusal(
                    f"the threshold '{code}' with a coefficient of '{x}' that differs between neurons",
                    "the threshold's coefficients must be constants",
                )
            c[x] = float(k[0])
    if not c:
        raise _LinearRefusal(
            f"the threshold '{code}', which does not depend on {order}",
            _SUPPORTED_RELAY if relay else "the threshold must be linear in the state variables",
        )
    reset_v, v, others = None, None, {}
    supported_reset = (
        "supported are resets that set one variable to a constant ('v = value') and increment or "
        "set others by constants ('vt += value')"
    )
    for line, var, op, rhs in _reset_statements(group):
        if var not in order or rhs.free_symbols & set(symbols) or op not in ("=", "+=", "-="):
            raise _LinearRefusal(f"the reset statement '{line}'", supported_reset)
        value = evaluator.evaluate(rhs, "the reset")
        if op == "=" and reset_v is None:
            v, reset_v = var, value
            continue
        if np.ptp(value) != 0:
            raise _LinearRefusal(
                f"the reset statement '{line}' with values that differ between neurons", supported_reset
            )
        others[var] = (0.0, float(value[0])) if op == "=" else (1.0, float(value[0]) * (1 if op == "+=" else -1))
    if v is None:
        raise _LinearRefusal(f"the reset '{group.event_codes.get('spike', '')}'", supported_reset)
    for x in order:
        if x != v and "unless refractory" in group.user_equations[x].flags:
            raise _LinearRefusal(f"'{x}' held during refractoriness", f"only the reset variable '{v}' may be held")
    refractory = _refractory_value(group, evaluator, run_namespace)
    if np.any(refractory < 0) or not np.all(np.isfinite(refractory)):
        raise ValueError(f"NeuronGroup '{group.name}': refractory must be >= 0 s, found: {refractory}")
    integrate = "unless refractory" not in group.user_equations[v].flags and bool(np.any(refractory > 0))
    init = {x: np.asarray(group.variables[x].get_value(), dtype=float) for x in order}
    theta = -const
    cvec = np.array([c.get(x, 0.0) for x in order])
    spec = GroupSpec(group=group, offset=offset, model="linear", variable=v, shift=np.zeros(n), refractory=refractory)
    if timed:  # b at the run's start t; `linear_b_at` gives it at any time
        spec.timed = dict(calls=timed, terms=[terms[x] for x in order], evaluator=evaluator, scale=1.0)
        b = spec.linear_b_at(t)
    # d(c @ x)/dt = 0 (at all times: not with a TimedArray input)
    still = relay or not (np.einsum("j,nji->ni", cvec, A).any() or (b @ cvec).any() or timed)
    if still and isinstance(cond, (sympy.StrictGreaterThan, sympy.StrictLessThan)):
        # the engine fires at c @ x >= theta; where c @ x changes only at events (relays, 'dv/dt = 0'), 'v > 1'
        # must not fire at 1, at the start or after an input: the next double above theta makes >= the strict
        # comparison exactly
        theta = np.nextafter(theta, np.inf)
    try:
        model = LinearModel(order, A, b, c, theta=theta, v=v, reset=reset_v, reset_others=others, pulse=v, init=init)
    except (ValueError, NotImplementedError) as exc:
        raise type(exc)(f"NeuronGroup '{group.name}': {exc}") from None
    spec.linear = dict(model=model, variables=order, pulses={})
    params = dict(
        tau=np.ones(n),
        drive=np.zeros(n),
        threshold=np.broadcast_to(theta, (n,)),
        reset=np.broadcast_to(reset_v, (n,)),
        refractory=refractory,
        v_init=init[v],
        integrate_refractory=np.full(n, integrate),
    )
    return spec, params


def _linear_threshold(group):
    """The threshold 'lhs > rhs' of a linear model as the sympy expression lhs - rhs (a spike when it
    reaches 0, from below) and the condition; or refuse."""
    code = group.events.get("spike")
    if code is None:
        raise _LinearRefusal("a linear group without threshold", _SUPPORTED_PASSIVE)
    cond = str_to_sympy(str(code))
    if isinstance(cond, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        return cond.lhs - cond.rhs, cond
    if isinstance(cond, (sympy.StrictLessThan, sympy.LessThan)):
        return cond.rhs - cond.lhs, cond
    raise _LinearRefusal(
        f"the threshold condition '{code}'", "supported are thresholds 'lhs > rhs', linear in the state"
    )


def _reset_statements(group):
    """The statements of a group's reset as (line, variable, operator, right-hand side as sympy)."""
    statements = []
    for line in _code_lines(group.event_codes.get("spike", "")):
        var, op, expr, _ = parse_statement(line)
        statements.append((line, var, op, str_to_sympy(expr)))
    return statements


def _relay_variables(group):
    """The variables of a group without differential equations that its reset sets (sorted): parameters
    that are constant between events (``v : 1`` with ``reset='v = 0'``), or refuse."""
    code = group.event_codes.get("spike")
    if "spike" not in group.events or not code:
        what = "threshold" if "spike" not in group.events else "reset"
        raise _LinearRefusal(f"a group without differential equations and without {what}", _SUPPORTED_RELAY)
    params = {
        name
        for name, eq in group.equations.items()
        if eq.type == PARAMETER and not ({"constant", "shared", "linked"} & set(eq.flags))
    }
    names = sorted({parse_statement(line)[0] for line in _code_lines(code)})
    if not names or not set(names) <= params:
        raise _LinearRefusal(
            f"a group without differential equations whose reset '{code}' sets {names}", _SUPPORTED_RELAY
        )
    return names


def _network_linear_model(spec):
    """One `LinearModel` for all linear groups of the network (arrays over all engine neurons), or refuse
    groups whose forms differ."""
    from ..spiking.linear import LinearModel

    groups = [g for g in spec.groups if g.linear]
    if not groups:
        return
    first = groups[0].linear["model"]
    d = len(first.variables)
    for g in groups[1:]:
        m = g.linear["model"]
        same = (
            len(m.variables) == d
            and m.v == first.v
            and np.array_equal(m.c, first.c)
            and np.array_equal(m.reset_scale, first.reset_scale)
            and np.array_equal(m.reset_offset, first.reset_offset)
        )
        if not same:
            raise _refuse(
                g.group,
                f"a linear model other than that of '{groups[0].group.name}'",
                "one linear form per network (threshold coefficients and resets of the other variables equal)",
            )
    # the variables that take inputs, with the signs of their inputs: one variable takes both signs; of two, one
    # takes the inputs >= 0, the other those <= 0 (the engine sends a pulse by its sign, as for 'lif_exp' currents)
    signs = {}
    for g in groups:
        for x, s in g.linear["pulses"].items():
            signs.setdefault(g.linear["variables"].index(x), set()).update(s)
    pulses = sorted({(g.linear["variables"].index(x), g.group.name, x) for g in groups for x in g.linear["pulses"]})
    if len(signs) == 2:
        pos, neg = sorted(signs, key=lambda k: (min(signs[k] or {0}), k), reverse=True)
    if len(signs) > 2 or (len(signs) == 2 and (-1 in signs[pos] or 1 in signs[neg])):
        raise _refuse(
            groups[0].group,
            "synaptic inputs into several variables of linear groups ("
            + ", ".join(f"'{x}' of '{name}'" for _, name, x in pulses)
            + ")"
            + (
                ""
                if len(signs) > 2
                else " with inputs of both signs into one"
                if any(len(s) == 2 for s in signs.values())
                else " with inputs of one sign into both"
            ),
            "the inputs of linear groups go into one variable (of both signs), or into two variables of which one "
            "takes only inputs >= 0 and the other only inputs <= 0",
        )
    if len(signs) == 2:
        pulse = (first.variables[pos], first.variables[neg])
    else:
        pulse = first.variables[next(iter(signs))] if signs else first.variables[first.v]
    n = spec.n
    A, b, theta, reset, x0 = np.zeros((n, d, d)), np.zeros((n, d)), np.zeros(n), np.zeros(n), np.zeros((n, d))
    for g in groups:
        part = slice(g.offset, g.offset + g.n)
        A[part], b[part], theta[part], reset[part], x0[part] = g.linear["model"].per_neuron(g.n)
    others = {first.variables[k]: (first.reset_scale[k], first.reset_offset[k]) for k in range(d) if k != first.v}
    spec.linear = LinearModel(
        first.variables,
        A,
        b,
        dict(zip(first.variables, first.c)),
        theta=theta,
        v=first.variables[first.v],
        reset=reset,
        reset_others=others,
        pulse=pulse,
        init={x: x0[:, k] for k, x in enumerate(first.variables)},
    )


def _recognise_one_dimensional(group, offset, run_namespace, t=0.0):
    """One of the one-dimensional models, or 'lif_exp' (see the module's docstring), or refuse."""
    _check_group_constructs(group)
    group.equations.check_units(group, run_namespace=run_namespace)
    if len(group.equations.diff_eq_names) == 1:
        variable, currents = next(iter(group.equations.diff_eq_names)), []
    else:
        variable, currents = _split_currents(group)
    eq = group.user_equations[variable]
    n = len(group)
    changing = {variable, *currents}
    evaluator = _Evaluator(group, run_namespace, changing, n)
    conductances = _conductance_terms(group, variable, currents, evaluator) if currents else None
    if conductances is not None:
        own, betas, reversals, tau_currents = conductances
        model, coeffs = _classify(group, variable, own)
        if model != "lif":
            raise _refuse(group, f"a {model} neuron with synaptic conductances {currents}", _SUPPORTED_MODELS)
        timed = []
    elif currents:
        own, k_currents, tau_currents = _current_terms(group, variable, currents, evaluator)
        model, coeffs = _classify(group, variable, own)
        if model != "lif":
            raise _refuse(group, f"a {model} neuron with synaptic currents {currents}", _SUPPORTED_MODELS)
        timed = []
    else:
        (expr,), timed, called = _timed_calls(group, [_model_expression(group, variable)], run_namespace)
        model, coeffs = _classify(group, variable, expr)
    if timed:
        names = {_symbol(name) for name, _, _ in timed}
        if model != "lif" or any(names & coeffs[k].free_symbols for k in coeffs if k != "a0"):
            raise _refuse(
                group,
                f"the TimedArray(s) {called} in the equation of a {model} neuron other than in its drive",
                "TimedArray inputs are supported in the drive of one-dimensional LIF equations "
                "(dv/dt = (El - v + R*I)/tau with I = f(t) or f(t, i)) and in the constant terms of linear models "
                "(dx/dt = A x + b(t)), which then change at the steps of the TimedArray; not in QIF, EIF or theta "
                "equations, tau, the threshold or the reset",
            )
    values = {k: evaluator.evaluate(v, f"the equation for '{variable}'") for k, v in coeffs.items() if k != "a0"}
    _check_timed_shapes(group, timed, evaluator)
    if "a0" in coeffs:
        values["a0"] = evaluator.evaluate(coeffs["a0"], f"the equation for '{variable}'")
    shift, scale = np.zeros(n), None
    if model == "lif":
        if np.any(values["a1"] >= 0) or not np.all(np.isfinite(values["a1"])):
            raise ValueError(
                f"NeuronGroup '{group.name}': d{variable}/dt = (drive - {variable})/tau needs tau > 0, "
                f"found: tau = {-1 / values['a1']}"
            )
        tau = -1.0 / values["a1"]
        drive = values["a0"] * tau
    elif model == "qif":
        a = values["a"]
        if np.any(a <= 0) or not np.all(np.isfinite(a)):
            raise ValueError(
                f"NeuronGroup '{group.name}': the quadratic coefficient of d{variable}/dt must be > 0, found: {a}"
            )
        tau = 1.0 / a
        shift = values["b"] / (2 * a)
        drive = (values["c"] - values["b"] ** 2 / (4 * a)) / a
    elif model == "eif":
        # dx/dt = a0 + a1 x + k e^{alpha x}: with tau = -1/a1 and y = alpha x - gamma,
        # gamma = -log(alpha tau k), tau dy/dt = alpha tau a0 - gamma - y + e^y
        a0, a1, k, alpha = (np.broadcast_to(values[c], (n,)).astype(float) for c in ("a0", "a1", "k", "alpha"))
        bad = ~((a1 < 0) & (k > 0) & (alpha > 0) & np.isfinite(a0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"NeuronGroup '{group.name}': an EIF neuron d{variable}/dt = a0 + a1*{variable} + "
                f"k*exp(alpha*{variable}) needs a1 < 0 (tau > 0), k > 0 and alpha > 0 (DeltaT > 0), found for "
                f"neuron {i}: a0 = {a0[i]}, a1 = {a1[i]}, k = {k[i]}, alpha = {alpha[i]}"
            )
        tau = -1.0 / a1
        gamma = -np.log(alpha * tau * k)
        drive = alpha * tau * a0 - gamma
        shift, scale = -gamma / alpha, alpha
    else:
        alpha = values["fpi"] / 2
        if np.any(alpha <= 0) or not np.all(np.isfinite(alpha)):
            raise ValueError(
                f"NeuronGroup '{group.name}': theta neurons need d{variable}/dt > 0 at {variable} = pi "
                f"(tau > 0), found: {values['fpi']}"
            )
        tau = 1.0 / alpha
        drive = values["f0"] / values["fpi"]
    if "spike" not in group.events:  # a passive neuron: it never spikes, exactly (engine threshold +inf)
        if model != "lif":
            raise _refuse(group, f"a {model} neuron without threshold", _SUPPORTED_PASSIVE)
        threshold, reset = np.full(n, np.inf), np.zeros(n)
    else:
        threshold = _threshold_value(group, variable, evaluator)
        reset = _reset_value(group, variable, evaluator, model)
    if model == "theta":
        if not np.allclose(threshold, np.pi, rtol=0, atol=1e-12):
            raise _refuse(
                group, f"a theta-neuron threshold at {threshold[0]}", "theta neurons spike at pi ('theta > pi')"
            )
        if not np.allclose(reset, -np.pi, rtol=0, atol=1e-12):
            raise _refuse(group, f"a theta-neuron reset to {reset[0]}", "theta neurons reset to -pi")
    else:
        threshold = threshold + shift
        reset = reset + shift
        if scale is not None:
            threshold, reset = threshold * scale, reset * scale
    refractory = _refractory_value(group, evaluator, run_namespace)
    if np.any(refractory < 0) or not np.all(np.isfinite(refractory)):
        raise ValueError(f"NeuronGroup '{group.name}': refractory must be >= 0 s, found: {refractory}")
    if model != "theta":
        bad = np.flatnonzero(~(reset < threshold) & (refractory == 0))
        if len(bad):
            i = bad[0]
            raise ValueError(
                f"NeuronGroup '{group.name}': without refractoriness the reset must lie below the threshold, "
                f"found for neuron {i}: "
                f"reset {reset[i] / (1 if scale is None else scale[i]) - shift[i]} >= threshold "
                f"{threshold[i] / (1 if scale is None else scale[i]) - shift[i]}"
            )
    integrate = "unless refractory" not in eq.flags and bool(np.any(refractory > 0))
    if integrate and model != "lif":
        raise _refuse(
            group,
            f"integrating a {model} neuron during its refractory period",
            "refractory QIF, EIF and theta neurons must use '(unless refractory)'",
        )
    spec = GroupSpec(
        group=group, offset=offset, model=model, variable=variable, shift=shift, refractory=refractory, scale=scale
    )
    if timed:  # the drive at the run's start t; `drive_at` gives it at any time
        spec.timed = dict(calls=timed, terms=[coeffs["a0"]], evaluator=evaluator, scale=np.broadcast_to(tau, (n,)))
        drive = spec.drive_at(t)
    if conductances is not None:
        spec.model = "coba"
        # the conductance with the higher reversal potential is the excitatory one (engine column 0)
        order = sorted(currents, key=lambda c: (-float(np.mean(reversals[c])), c))
        spec.currents = {
            c: dict(
                tau=tau_currents[c],
                scale=np.broadcast_to(-betas[c] * tau * (1 if col == 0 else -1), (n,)),
                E=np.broadcast_to(reversals[c], (n,)),
                columns=(col,),
            )
            for col, c in enumerate(order)
        }
    elif currents:
        spec.model = "lif_exp"
        spec.currents = {
            c: dict(tau=np.broadcast_to(tau_currents[c], (n,)), scale=np.broadcast_to(k_currents[c] * tau, (n,)))
            for c in currents
        }
    v_init = spec.to_engine(group.variables[variable].get_value())
    if model == "theta":
        v_init = np.mod(v_init + np.pi, 2 * np.pi) - np.pi
    params = dict(
        tau=tau,
        drive=drive,
        threshold=threshold,
        reset=reset,
        refractory=refractory,
        v_init=v_init,
        integrate_refractory=np.full(n, integrate),
    )
    return spec, params


def _input_targets(spec):
    """The variables of a group that inputs may change: its state variable, its currents ('lif_exp') or the
    variables of its linear model."""
    return [spec.variable, *spec.currents, *[x for x in (spec.linear or {}).get("variables", ()) if x != spec.variable]]


def _input_target(obj, spec, name, statement):
    """The current of a 'lif_exp' group that an input statement changes (None for the state variable of
    the other models; for linear models the variable, noted in ``spec.linear['pulses']`` with the signs of its
    inputs, `_note_signs`); refuses input into the membrane variable of a 'lif_exp' group."""
    if spec.linear is not None:
        spec.linear["pulses"].setdefault(name, set())
        return name
    if not spec.currents:
        return None
    if name in spec.currents:
        return name
    raise _refuse(
        obj,
        f"{statement} into '{spec.variable}' of a neuron with synaptic currents",
        f"neurons with currents take their inputs into the currents {sorted(spec.currents)} ('c += w')",
    )


def _kick_values(syn, target_spec, run_namespace, index_arrays, size):
    """Per-synapse kick (engine units) of a Synapses' on_pre code, and the current it goes into (None for
    models without currents)."""
    kick, current, evaluator = _kick_expression(syn, target_spec, run_namespace, index_arrays, size)
    kick = evaluator.evaluate(kick, "the on_pre code")
    kick = kick * target_spec.factor(current, index_arrays["_postsynaptic_idx"])
    return kick, current


def _kick_expression(syn, target_spec, run_namespace, index_arrays, size):
    """The kick of a Synapses' on_pre code as a sympy expression (in the units of the variable it
    changes), the current it goes into (None for models without currents) and the `_Evaluator` of its
    symbols."""
    if not hasattr(syn, "pre") or list(syn._pathways) != [syn.pre]:
        names = [p.name for p in syn._pathways]
        raise _refuse(syn, f"the pathways {names}", "exactly one pathway, on_pre, is supported")
    if syn.pre.event != "spike":
        raise _refuse(syn, f"on_pre triggered by the event '{syn.pre.event}'", "only spikes trigger on_pre")
    lines = _code_lines(syn.pre.code)
    if len(lines) != 1:
        raise _refuse(syn, f"the on_pre code '{syn.pre.code}'", _SUPPORTED_ON_PRE)
    name, op, rhs = _additive_statement(lines[0])
    targets = _input_targets(target_spec)
    changed = [v for v in targets if syn.variables.get(name) is target_spec.group.variables[v]]
    if not changed:
        raise _refuse(syn, f"the on_pre statement '{lines[0]}' (it changes '{name}')", _SUPPORTED_ON_PRE)
    current = _input_target(syn, target_spec, changed[0], "synaptic input")
    x = _symbol(name)
    changing = {name} | {f"{v}{suffix}" for v in targets for suffix in ("", "_post", "_pre")}
    evaluator = _Evaluator(syn, run_namespace, changing, size, index_arrays)
    if target_spec.model == "theta":
        kick = None
        if op == "=" and isinstance(rhs, sympy.Mul) and len(rhs.args) == 2 and 2 in rhs.args:
            inner = [a for a in rhs.args if a != 2][0]
            if isinstance(inner, sympy.atan) or str(inner.func) == "atan":
                kick = sympy.simplify(inner.args[0] - sympy.tan(x / 2))
        if kick is None or x in kick.free_symbols:
            raise _refuse(
                syn,
                f"the on_pre statement '{lines[0]}' onto theta neurons",
                f"theta neurons take delta-current kicks '{name} = 2*arctan(tan({name}/2) + w)'",
            )
    elif op == "+=":
        kick = rhs
    elif op == "=" and x not in sympy.simplify(rhs - x).free_symbols:
        kick = sympy.simplify(rhs - x)
    else:
        raise _refuse(syn, f"the on_pre statement '{lines[0]}'", _SUPPORTED_ON_PRE)
    return kick, current, evaluator


def _constant_value(evaluator, expr, syn, construct):
    """The value of an expression that must be one constant for all synapses (a float)."""
    values = evaluator.evaluate(expr, construct)
    values = values[:1] if values.strides == (0,) else values
    if len(values) and not np.all(values == values[0]):
        raise _refuse(syn, f"{construct} differs between synapses", _SUPPORTED_STDP)
    return float(values[0]) if len(values) else 0.0


def _increment(name, op, rhs, changing):
    """d of a statement 'name += d' or 'name = name + d' (d constant during a run), else None."""
    if op == "=":
        rhs = sympy.simplify(rhs - _symbol(name))
    elif op != "+=":
        return None
    return None if rhs.free_symbols & {_symbol(n) for n in changing} else rhs


def _weight_update(syn, line, weight, trace, evaluator):
    """(k, w_min, w_max) of a statement 'w = clip(w + k*trace, w_min, w_max)', 'w = w + k*trace' or
    'w += k*trace'; None if the statement has another form."""
    name, op, rhs = _additive_statement(line)
    w, a = _symbol(weight), _symbol(trace)
    lo, hi = -np.inf, np.inf
    if op == "=" and getattr(rhs.func, "__name__", "") == "clip" and len(rhs.args) == 3:
        lo = _constant_value(evaluator, rhs.args[1], syn, f"the lower bound of '{line}'")
        hi = _constant_value(evaluator, rhs.args[2], syn, f"the upper bound of '{line}'")
        rhs = rhs.args[0]
    if op == "+=":
        rhs = w + rhs
    elif op != "=":
        return None
    k = sympy.simplify((rhs - w) / a)
    if name != weight or k.free_symbols & {w, a} or sympy.expand(rhs - w - k * a) != 0:
        return None
    return _constant_value(evaluator, k, syn, f"the factor of '{trace}' in '{line}'"), lo, hi


def _stdp_values(syn, target_spec, run_namespace, index_arrays, size):
    """The per-synapse kick (engine units), its current, and the engine's STDP rule of a Synapses in Brian2's
    STDP form (see `_SUPPORTED_STDP`), or a refusal naming what is supported."""
    paths = list(syn._pathways)
    if paths != [getattr(syn, "pre", None), getattr(syn, "post", None)] or {p.event for p in paths} != {"spike"}:
        raise _refuse(syn, f"the pathways {[p.name for p in paths]} with plasticity", _SUPPORTED_STDP)
    post_delay = np.asarray(syn.post.variables["delay"].get_value(), dtype=float)
    if np.any(post_delay != 0):
        raise _refuse(syn, "a delay of the on_post pathway", _SUPPORTED_STDP)
    traces = {}
    event_driven = syn.event_driven
    for name in sorted(event_driven.diff_eq_names) if event_driven is not None else ():
        eq = event_driven[name]
        x = _symbol(name)
        rate = sympy.simplify(str_to_sympy(eq.expr.code) / x)
        if rate.free_symbols & ({x} | {_symbol(n) for n in event_driven.diff_eq_names}):
            raise _refuse(syn, f"the event-driven equation 'd{name}/dt = {eq.expr.code}'", _SUPPORTED_STDP)
        traces[name] = rate
    if len(traces) != 2:
        raise _refuse(syn, f"the event-driven variables {sorted(traces)}", _SUPPORTED_STDP)
    changing = set(traces) | set(syn.equations.parameter_names) | {"lastupdate"}
    changing |= {f"{v}{suffix}" for v in (target_spec.variable, *target_spec.currents) for suffix in ("", "_post")}
    evaluator = _Evaluator(syn, run_namespace, changing, size, index_arrays)
    targets = _input_targets(target_spec)
    found = {}
    for path in ("pre", "post"):
        code = getattr(syn, path).code
        for pos, line in enumerate(_code_lines(code)):
            name, op, rhs = _additive_statement(line)
            changed = [v for v in targets if syn.variables.get(name) is target_spec.group.variables[v]]
            if changed and path == "pre":
                key, value = "kick", (pos, changed[0], name, op, rhs, line)
            elif name in traces and _increment(name, op, rhs, changing) is not None:
                key, value = f"{path} trace", (name, _increment(name, op, rhs, changing))
            elif name in syn.equations.parameter_names:
                key, value = f"{path} update", (pos, name, line)
            else:
                key = None
            if key is None or key in found:
                raise _refuse(syn, f"the on_{path} statement '{line}'", _SUPPORTED_STDP)
            found[key] = value
    needed = ("kick", "pre trace", "post trace", "pre update", "post update")
    if any(key not in found for key in needed) or found["pre trace"][0] == found["post trace"][0]:
        missing = [key for key in needed if key not in found] or ["distinct traces"]
        raise _refuse(syn, f"plasticity without {', '.join(missing)}", _SUPPORTED_STDP)
    apre, apost = found["pre trace"][0], found["post trace"][0]
    weight = found["pre update"][1]
    if found["post update"][1] != weight:
        raise _refuse(syn, f"the weights '{weight}' and '{found['post update'][1]}'", _SUPPORTED_STDP)
    updates = {}
    for path, trace in (("pre", apost), ("post", apre)):
        pos, _, line = found[f"{path} update"]
        parsed = _weight_update(syn, line, weight, trace, evaluator)
        if parsed is None or parsed[0] == 0:
            raise _refuse(syn, f"the on_{path} statement '{line}'", _SUPPORTED_STDP)
        updates[path] = parsed
    if updates["pre"][1:] != updates["post"][1:]:
        raise _refuse(syn, "different bounds of the weight in on_pre and on_post", _SUPPORTED_STDP)
    pos, current, name, op, rhs, line = found["kick"]
    x = _symbol(name)
    kick = rhs if op == "+=" else sympy.simplify(rhs - x) if op == "=" else None
    factor = None if kick is None or x in kick.free_symbols else sympy.simplify(kick / _symbol(weight))
    if factor is None or factor.free_symbols & {_symbol(n) for n in changing}:
        raise _refuse(
            syn, f"the on_pre statement '{line}'", f"the kick must be 'x_post += c*{weight}'; {_SUPPORTED_STDP}"
        )
    c = evaluator.evaluate(factor, "the on_pre code")
    current = _input_target(syn, target_spec, current, "synaptic input")
    c = c * target_spec.factor(current, index_arrays["_postsynaptic_idx"])
    c = c[:1] if c.strides == (0,) else c
    if len(c) and not (np.all(c == c[0]) and c[0] > 0):
        raise _refuse(syn, f"the kick factor of '{line}' (found {c[0]}; it must be one constant > 0)", _SUPPORTED_STDP)
    c = float(c[0]) if len(c) else 1.0
    taus = {}
    for name in (apre, apost):
        rate = _constant_value(evaluator, traces[name], syn, f"the decay rate of '{name}'")
        if not rate < 0:
            raise _refuse(
                syn, f"the event-driven equation of '{name}' (it must decay: rate {rate} >= 0)", _SUPPORTED_STDP
            )
        taus[name] = -1.0 / rate
    k_pre, k_post = updates["pre"][0], updates["post"][0]
    lo, hi = updates["pre"][1:]
    if not lo <= hi:
        raise ValueError(f"Synapses '{syn.name}': the bounds of '{weight}' must be lower <= upper, found {lo}, {hi}")
    d_pre = _constant_value(evaluator, found["pre trace"][1], syn, f"the increment of '{apre}'")
    d_post = _constant_value(evaluator, found["post trace"][1], syn, f"the increment of '{apost}'")
    plastic = dict(
        kind="stdp",
        synapses=syn,
        weight=weight,
        traces=(apre, apost),
        # engine weight = c w; engine traces: k_post c Apre (added to w at postsynaptic spikes), k_pre c Apost
        scales=(c, k_post * c, k_pre * c),
        rule=dict(
            tau_pre=taus[apre],
            tau_post=taus[apost],
            d_pre=k_post * c * d_pre,
            d_post=k_pre * c * d_post,
            w_min=c * lo,
            w_max=c * hi,
            update_first=found["pre update"][0] < pos,
        ),
    )
    values = np.broadcast_to(np.asarray(syn.variables[weight].get_value(), dtype=float), (size,))
    return values * c, current, plastic


def _relaxation(syn, name, expr, variables, evaluator):
    """(tau, rest) per synapse of an event-driven equation 'dv/dt = (rest - v)/tau', linear in v with
    constant coefficients; None if it has another form."""
    v = _symbol(name)
    rhs = str_to_sympy(expr)
    slope = sympy.simplify(sympy.diff(rhs, v))
    offset = sympy.simplify(rhs.subs(v, 0))
    if (slope.free_symbols | offset.free_symbols) & {_symbol(n) for n in variables}:
        return None
    if sympy.expand(rhs - slope * v - offset) != 0 or slope == 0:
        return None
    rate = evaluator.evaluate(slope, f"the event-driven equation of '{name}'")
    if not np.all(rate < 0):
        raise _refuse(
            syn, f"the event-driven equation 'd{name}/dt = {expr}' (it must relax: rate >= 0)", _SUPPORTED_STP
        )
    return -1.0 / rate, evaluator.evaluate(-offset / slope, f"the fixed point of '{name}'")


def _stp_values(syn, target_spec, run_namespace, index_arrays, size):
    """The per-synapse kick (engine units), its current, and the engine's short-term plasticity rule of a
    Synapses in the Tsodyks-Markram form (see `_SUPPORTED_STP`), or a refusal naming what is supported."""
    if list(syn._pathways) != [syn.pre] or syn.pre.event != "spike":
        raise _refuse(syn, f"the pathways {[p.name for p in syn._pathways]} with plasticity", _SUPPORTED_STP)
    variables = sorted(syn.event_driven.diff_eq_names)
    targets = _input_targets(target_spec)
    changing = set(variables) | {"lastupdate"} | {f"{v}{suffix}" for v in targets for suffix in ("", "_post")}
    evaluator = _Evaluator(syn, run_namespace, changing, size, index_arrays)
    relax = {}
    for name in variables:
        relax[name] = _relaxation(syn, name, syn.event_driven[name].expr.code, variables, evaluator)
        if relax[name] is None:
            code = syn.event_driven[name].expr.code
            raise _refuse(syn, f"the event-driven equation 'd{name}/dt = {code}'", _SUPPORTED_STP)
    symbols = {_symbol(n) for n in variables}
    order, roles, kick = [], {}, None
    for line in _code_lines(syn.pre.code):
        name, op, expr, _ = parse_statement(line)
        rhs = str_to_sympy(expr)
        # literal numbers as exact rationals (the same doubles when evaluated), so that 0.2*(1 - u) / (1 - u)
        # cancels to 0.2 as U*(1 - u) / (1 - u) cancels to U
        rhs = rhs.xreplace({f: sympy.Rational(f) for f in rhs.atoms(sympy.Float)})
        v = _symbol(name)
        changed = [t for t in targets if syn.variables.get(name) is target_spec.group.variables[t]]
        new = {"+=": v + rhs, "-=": v - rhs, "*=": v * rhs, "=": rhs}.get(op)
        if new is None or name in roles or (changed and kick is not None):
            raise _refuse(syn, f"the on_pre statement '{line}'", _SUPPORTED_STP)
        if changed:
            kick = (changed[0], name, sympy.simplify(new - v), line)
            if v in kick[2].free_symbols:
                raise _refuse(syn, f"the on_pre statement '{line}'", _SUPPORTED_STP)
            order.append("kick")
            continue
        if name not in variables:
            raise _refuse(syn, f"the on_pre statement '{line}'", _SUPPORTED_STP)
        others = symbols - {v}
        frac = sympy.simplify((new - v) / (1 - v))  # u += U*(1 - u)
        loss = sympy.simplify((v - new) / v)  # x -= u*x (facilitation) or x -= U*x (depression only)
        if not frac.free_symbols & symbols and sympy.expand(new - v - frac * (1 - v)) == 0:
            roles[name] = ("u", frac)
        elif (
            not loss.free_symbols & {v}
            and sympy.expand(new - v + loss * v) == 0
            and (loss in others or not loss.free_symbols & others)
        ):
            roles[name] = ("x", loss)
        else:
            raise _refuse(syn, f"the on_pre statement '{line}'", _SUPPORTED_STP)
        order.append(roles[name][0])
    u = [n for n in roles if roles[n][0] == "u"]
    x = [n for n in roles if roles[n][0] == "x"]
    if kick is None or len(roles) != len(variables) or len(u) > 1 or len(x) > 1:
        missing = "the kick" if kick is None else f"the updates of {sorted(set(variables) - set(roles))}"
        raise _refuse(syn, f"short-term plasticity without {missing} (or with two of one kind)", _SUPPORTED_STP)
    u, x = (u[0] if u else None), (x[0] if x else None)
    if x is not None and u is not None and roles[x][1] != _symbol(u):
        raise _refuse(syn, f"the depression of '{x}' (it must be '{x} -= {u}*{x}')", _SUPPORTED_STP)
    if x is not None and u is None and roles[x][1] in symbols:
        raise _refuse(syn, f"the depression of '{x}'", _SUPPORTED_STP)
    current, name, increment, line = kick
    factor = sympy.simplify(increment / sympy.Mul(*(_symbol(n) for n in variables)))
    if factor.free_symbols & symbols or factor.free_symbols & {_symbol(n) for n in changing - set(variables)}:
        product = "*".join(["w", *variables])
        raise _refuse(syn, f"the on_pre statement '{line}' (the kick must be '{name} += {product}')", _SUPPORTED_STP)
    weights = evaluator.evaluate(factor, "the on_pre code")
    rule = {"order": tuple(order)}
    if u is not None:
        rule["U"] = evaluator.evaluate(roles[u][1], f"the facilitation of '{u}'")
        rule["tau_f"], rule["u_rest"] = relax[u]
    else:  # depression only: the kick is (w U) x, the engine's w*u*x with u = U
        rule["U"] = evaluator.evaluate(roles[x][1], f"the depression of '{x}'")
        if not np.all(rule["U"] > 0):
            raise _refuse(syn, f"the depression of '{x}' by {rule['U'].min()} (it must be > 0)", _SUPPORTED_STP)
        weights = weights / rule["U"]
    if x is not None:
        rule["tau_d"], rest = relax[x]
        if not np.all(rest == 1):
            raise _refuse(syn, f"the recovery of '{x}' to {rest.min()} (it must recover to 1)", _SUPPORTED_STP)
    current = _input_target(syn, target_spec, current, "synaptic input")
    weights = weights * target_spec.factor(current, index_arrays["_postsynaptic_idx"])
    plastic = dict(kind="stp", synapses=syn, variables=(u, x), rule=rule)
    return weights, current, plastic


def _check_synapse_constructs(syn):
    eqs = syn.equations
    if eqs.diff_eq_names:
        raise _refuse(
            syn, f"synaptic dynamics (differential equations for {sorted(eqs.diff_eq_names)})", _SUPPORTED_ON_PRE
        )
    if syn.summed_updaters:
        raise _refuse(syn, f"summed variables {sorted(syn.summed_updaters)}", _SUPPORTED_ON_PRE)
    if any(eq.type == SUBEXPRESSION for eq in eqs.values()):
        raise _refuse(syn, "synaptic subexpressions", _SUPPORTED_ON_PRE)
    known = set(syn._pathways) | set(getattr(syn, "summed_updaters", {}).values())
    if getattr(syn, "state_updater", None) is not None:
        known.add(syn.state_updater)
    for obj in syn.contained_objects:
        if obj not in known:
            raise _refuse(syn, f"the attached operation '{obj.name}' (e.g. run_regularly)", _SUPPORTED_OBJECTS)


def _recognise_synapses(syn, group_specs, run_namespace):
    """(pre, global post, kick, delay) arrays of one Synapses object; pre is local to its source root."""
    _check_synapse_constructs(syn)
    target_root = _root(syn.target)
    if target_root.name not in group_specs:
        raise _refuse(
            syn, f"the target {type(target_root).__name__} '{target_root.name}'", "Synapses must target a NeuronGroup"
        )
    target_spec = group_specs[target_root.name]
    pre = np.asarray(syn.variables["_synaptic_pre"].get_value())
    post = np.asarray(syn.variables["_synaptic_post"].get_value())
    size = len(pre)
    index_arrays = {"_presynaptic_idx": pre, "_postsynaptic_idx": post}  # per-synapse values are in order
    plastic = None
    if hasattr(syn, "post"):
        if syn.event_driven is not None and len(syn.event_driven.diff_eq_names) > 2:
            raise _refuse(
                syn,
                f"STDP combined with short-term plasticity (event-driven variables "
                f"{sorted(syn.event_driven.diff_eq_names)} and an on_post pathway)",
                f"one form per Synapses: {_SUPPORTED_STDP}; or {_SUPPORTED_STP}",
            )
        kick, current, plastic = _stdp_values(syn, target_spec, run_namespace, index_arrays, size)
    elif syn.event_driven is not None:
        kick, current, plastic = _stp_values(syn, target_spec, run_namespace, index_arrays, size)
    else:
        kick, current = _kick_values(syn, target_spec, run_namespace, index_arrays, size)
    kick = _constant(kick)
    _note_signs(target_spec, current, kick)
    # the delay belongs to the pathway: Brian2 2.10 keeps it only there, 2.11 also names it in syn.variables;
    # one value (size 1) when given as Synapses(..., delay=d), else one per synapse, 0 s unless set
    delay = np.broadcast_to(np.asarray(syn.pre.variables["delay"].get_value(), dtype=float).reshape(-1), (size,))
    if size == 0:
        delay = np.zeros(0)
    delay = _constant(delay)
    checked = delay[:1] if delay.strides == (0,) else delay
    # two reductions instead of boolean temporaries of the synapses' size; NaN fails both
    if len(checked) and not (checked.min() >= 0 and checked.max() < np.inf):
        k = int(np.argmax(~((checked >= 0) & (checked < np.inf))))
        raise ValueError(f"Synapses '{syn.name}': delays must be finite and >= 0 s, found: {checked[k]} s")
    return pre, (target_spec.offset + post) if target_spec.offset else post, kick, delay, plastic


def _note_signs(spec, current, kicks):
    """Record the signs of the engine kicks into a current of a 'lif_exp' group (in ``spec.currents``) or into a
    variable of a linear group (``spec.linear['pulses']``)."""
    if current is None or len(kicks) == 0:
        return
    kicks = kicks[:1] if kicks.strides == (0,) else kicks
    if spec.linear is not None:
        signs = spec.linear["pulses"][current]
    else:
        signs = spec.currents[current].setdefault("signs", set())
    if kicks.max() > 0:
        signs.add(1)
    if kicks.min() < 0:
        signs.add(-1)


def _assign_currents(spec):
    """The engine currents (0: excitatory, 1: inhibitory) of each current variable of a 'lif_exp' group,
    from the signs of its inputs (the engine sends a pulse to a current by its sign): a single current is
    the sum of both, with one time constant; of two, one takes the pulses >= 0, the other those <= 0.
    Stored as ``columns`` in ``spec.currents``; refuses inputs that no assignment can take."""
    if spec.model == "coba":  # columns fixed by the reversal potentials: the pulses must not decrease a conductance
        for name, c in spec.currents.items():
            if (-1 if c["columns"] == (0,) else 1) in c.get("signs", ()):
                raise _refuse(
                    spec.group,
                    f"inputs that decrease the conductance '{name}'",
                    "conductance synapses take increments >= 0 ('g += w' with w >= 0)",
                )
        return
    names = sorted(spec.currents, key=lambda c: (min(spec.currents[c].get("signs", {0})), c), reverse=True)
    if len(names) == 1:
        spec.currents[names[0]]["columns"] = (0, 1)
        return
    first, second = (spec.currents[c].get("signs", set()) for c in names)
    if -1 in first or 1 in second:
        mixed = [c for c in names if len(spec.currents[c].get("signs", ())) == 2] or names
        raise _refuse(
            spec.group,
            f"inputs of both signs into the current '{mixed[0]}' (in units of '{spec.variable}')"
            if mixed != names
            else f"inputs of one sign into both currents {names}",
            "with two currents, one must take only excitatory inputs (>= 0 in its effect on "
            f"'{spec.variable}') and the other only inhibitory ones (<= 0); a single current may take both",
        )
    spec.currents[names[0]]["columns"] = (0,)
    spec.currents[names[1]]["columns"] = (1,)


def _constant(values):
    """A per-synapse array whose elements are all bitwise equal as a read-only broadcast of one value.

    Brian2 stores a delay or weight set to one value as one value per synapse; given as a constant
    (broadcast), the engine needs no per-synapse array and no sort by delay, and the device no copy.
    Bitwise equality keeps results identical (``0.0`` and ``-0.0`` stay distinct).
    """
    values = np.asarray(values)
    if values.ndim != 1 or len(values) < 2 or values.strides == (0,) or values.dtype != np.float64:
        return values
    if not values.flags.c_contiguous:
        return values
    bits = values.view(np.int64)
    first = bits[0]
    chunk = 1 << 16  # min and max of a block that stays in cache: one pass over memory, early exit
    for start in range(0, len(bits), chunk):
        block = bits[start : start + chunk]
        if block.min() != first or block.max() != first:
            return values
    return np.broadcast_to(values[:1].copy(), values.shape)


def _concatenate(parts):
    """Concatenation that keeps a single part (or equal constant parts) without copying."""
    if len(parts) == 1:
        return parts[0]
    constants = all(p.ndim == 1 and p.strides == (0,) for p in parts)
    if constants and len({np.float64(p[0]).tobytes() for p in parts if len(p)}) <= 1:  # bitwise equal
        value = next((p[0] for p in parts if len(p)), 0.0)
        return np.broadcast_to(np.asarray(value, dtype=float), (sum(len(p) for p in parts),))
    return np.concatenate(parts)


def _scalar_if_constant(values):
    """A float if an array is a broadcast constant, else the array (the engine takes both)."""
    values = np.asarray(values)
    if values.ndim == 1 and len(values) and values.strides == (0,):
        return float(values[0])
    return values


def _csr(n_sources, pre, post, weights, delays):
    """CSR arrays from synapse lists, keeping the order of the synapses of each source."""
    if len(pre) < 2 or np.all(pre[1:] >= pre[:-1]):
        order = None
    else:
        order = np.argsort(pre, kind="stable")
        pre, post, weights, delays = pre[order], post[order], weights[order], delays[order]
    indptr = np.searchsorted(pre, np.arange(n_sources + 1, dtype=pre.dtype)).astype(np.int64)
    return indptr, post, weights, delays


def _csr_positions(pre):
    """The position of each synapse in the CSR order that `_csr` gives synapses with these sources."""
    if len(pre) < 2 or np.all(pre[1:] >= pre[:-1]):
        return np.arange(len(pre))
    positions = np.empty(len(pre), np.int64)
    positions[np.argsort(pre, kind="stable")] = np.arange(len(pre))
    return positions


def _poisson_input(pin, group_specs, run_namespace):
    target = pin._group
    root = _root(target)
    if root.name not in group_specs:
        raise _refuse(pin, f"the target {type(root).__name__} '{root.name}'", "PoissonInput must target a NeuronGroup")
    spec = group_specs[root.name]
    if pin._target_var not in _input_targets(spec):
        raise _refuse(
            pin,
            f"the target variable '{pin._target_var}'",
            f"PoissonInput must target the state variable '{spec.variable}'"
            + (f" or a current {sorted(spec.currents)}" if spec.currents else "")
            + (" or a variable of its linear model" if spec.linear else ""),
        )
    current = _input_target(pin, spec, pin._target_var, "PoissonInput")
    if spec.model == "theta":
        raise _refuse(pin, "input onto theta neurons", "PoissonInput is supported for LIF and QIF neurons")
    rate = pin._rate
    if isinstance(rate, str):
        raise _refuse(pin, f"the rate expression '{rate}'", "PoissonInput rates must be constant quantities")
    local = _local_indices(target)
    evaluator = _Evaluator(root, run_namespace, set(_input_targets(spec)), len(local), {"_idx": local})
    weight = pin._weight
    if isinstance(weight, str):
        weight_values = evaluator.evaluate(str_to_sympy(weight), "the PoissonInput weight")
    else:
        weight_values = np.full(len(local), float(np.asarray(weight)))
    weight_values = weight_values * spec.factor(current, local)
    if current is not None:
        _note_signs(spec, current, weight_values)
    if len(weight_values) and not np.allclose(weight_values, weight_values[0], rtol=0, atol=0):
        weight_arg = weight_values
    else:
        weight_arg = float(weight_values[0]) if len(weight_values) else 0.0
    return dict(
        rate=float(pin._N) * float(rate),
        weight=weight_arg,
        targets=spec.offset + local,
        name=pin.name,
        group=root,
        weight_code=weight if isinstance(weight, str) else None,
        pin=pin,
    )


def _source_rates(group):
    if isinstance(group, PoissonGroup):
        if isinstance(group._rates, str):
            raise _refuse(
                group, f"the rate expression '{group._rates}'", "PoissonGroup rates must be constant quantities"
            )
        return np.asarray(group.variables["rates"].get_value(), dtype=float).copy()
    return None


def recognise_network(objects, run_namespace=None, t=0.0):
    """Translate the objects of a Brian2 network into an `EngineSpec`, or refuse them.

    Parameters
    ----------
    objects : iterable of brian2.BrianObject
        The network's top-level objects (``Network.objects``); inactive objects are ignored.
    run_namespace : dict, optional
        Namespace for external names (the locals and globals of the caller of ``run``).
    t : float, optional
        The time (s) at which the run starts: the drive of a group driven by a TimedArray is its value then
        (`EngineSpec.drive_at` gives it at any time, `EngineSpec.drive_changes` the times it changes).

    Returns
    -------
    EngineSpec
        Neuron parameters, connectivity, inputs and monitors as plain arrays.

    Raises
    ------
    NotImplementedError
        For a valid Brian2 construct that the exact engine cannot run; the message names the object,
        the construct and what is supported.
    ValueError
        For parameters outside the models' domain (e.g. tau <= 0, reset above threshold).

    Examples
    --------
    >>> from brian2 import NeuronGroup, ms
    >>> G = NeuronGroup(3, 'dv/dt = (1.1 - v)/(10*ms) : 1', threshold='v > 1', reset='v = 0')
    >>> spec = recognise_network([G])
    >>> spec.groups[0].model, float(spec.tau[0]), float(spec.drive[0])
    ('lif', 0.01, 1.1)
    """
    run_namespace = {} if run_namespace is None else run_namespace
    objects = [obj for obj in objects if obj.active]
    contained = {id(sub) for obj in objects for sub in obj.contained_objects}
    objects = sorted((obj for obj in objects if id(obj) not in contained), key=_natural_key)
    kinds = {
        "neurons": [],
        "synapses": [],
        "poisson_inputs": [],
        "sources": [],
        "spike_monitors": [],
        "state_monitors": [],
        "rate_monitors": [],
    }
    for obj in objects:
        if isinstance(obj, (PoissonGroup, SpikeGeneratorGroup)):
            kinds["sources"].append(obj)
        elif isinstance(obj, NeuronGroup):
            kinds["neurons"].append(obj)
        elif isinstance(obj, Synapses):
            kinds["synapses"].append(obj)
        elif isinstance(obj, PoissonInput):
            kinds["poisson_inputs"].append(obj)
        elif isinstance(obj, SpikeMonitor):
            kinds["spike_monitors"].append(obj)
        elif isinstance(obj, StateMonitor):
            kinds["state_monitors"].append(obj)
        elif isinstance(obj, PopulationRateMonitor):
            kinds["rate_monitors"].append(obj)
        elif isinstance(obj, Subgroup):
            continue
        else:
            raise _refuse(obj, f"the object type {type(obj).__name__}", _SUPPORTED_OBJECTS)

    static = [group for group in kinds["neurons"] if _is_static(group)]
    static_names = {group.name for group in static}
    for group in static:
        _check_static(group)
    for obj in kinds["synapses"] + kinds["poisson_inputs"] + kinds["spike_monitors"] + kinds["rate_monitors"]:
        for end in ("source", "target", "_group"):
            root = _root(getattr(obj, end)) if hasattr(obj, end) else None
            if root is not None and root.name in static_names:
                raise _refuse(obj, f"the {end.strip('_')} '{root.name}', a static group", _SUPPORTED_STATIC)
    group_specs = {}
    params = []
    offset = 0
    for group in (g for g in kinds["neurons"] if g.name not in static_names):
        spec, p = _recognise_group(group, offset, run_namespace, t)
        group_specs[group.name] = spec
        params.append(p)
        offset += spec.n
    n = offset

    def concat(key):
        return np.concatenate([p[key] for p in params]) if params else np.zeros(0)

    model = np.concatenate([np.full(s.n, s.model) for s in group_specs.values()]) if params else np.zeros(0, str)

    neuron_pre, neuron_post, neuron_w, neuron_d = [], [], [], []
    source_parts = {}
    plasticity = []
    placed = []
    for syn in kinds["synapses"]:
        source_root = _root(syn.source)
        pre, post, kick, delay, plastic = _recognise_synapses(syn, group_specs, run_namespace)
        if source_root.name in group_specs:
            start = sum(len(p) for p in neuron_pre)
            offset_pre = group_specs[source_root.name].offset
            neuron_pre.append(offset_pre + pre if offset_pre else pre)
            neuron_post.append(post)
            neuron_w.append(kick)
            neuron_d.append(delay)
        elif isinstance(source_root, (PoissonGroup, SpikeGeneratorGroup)):
            start = sum(len(p[0]) for p in source_parts.get(source_root.name, []))
            source_parts.setdefault(source_root.name, []).append((pre, post, kick, delay))
        else:
            raise _refuse(syn, f"the source {type(source_root).__name__} '{source_root.name}'", _SUPPORTED_OBJECTS)
        part = None if source_root.name in group_specs else source_root.name
        placed.append(dict(synapses=syn, part=part, slice=slice(start, start + len(pre))))
        if plastic is not None:
            plastic["part"] = part
            plastic["placed"] = placed[-1]
            plasticity.append(plastic)
    csr_positions = {}
    for entry in placed:  # where the synapses are in the CSR order of their part
        part = entry["part"]
        if part not in csr_positions:
            pre = neuron_pre if part is None else [p[0] for p in source_parts[part]]
            csr_positions[part] = _csr_positions(np.concatenate(pre))
        entry["positions"] = csr_positions[part][entry.pop("slice")]
    for plastic in plasticity:
        plastic["positions"] = plastic.pop("placed")["positions"]
    if neuron_pre:
        indptr, indices, weights, delays = _csr(
            n, *(_concatenate(parts) for parts in (neuron_pre, neuron_post, neuron_w, neuron_d))
        )
    else:
        indptr, indices, weights, delays = np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)

    spec = EngineSpec(
        model=model,
        tau=concat("tau"),
        drive=concat("drive"),
        threshold=concat("threshold"),
        reset=concat("reset"),
        refractory=concat("refractory"),
        integrate_refractory=concat("integrate_refractory").astype(bool),
        v_init=concat("v_init"),
        indptr=indptr,
        indices=indices,
        weights=weights,
        delays=delays,
        groups=list(group_specs.values()),
        plasticity=plasticity,
        synapses=placed,
        static_groups=static,
    )
    for source in kinds["sources"]:
        parts = source_parts.get(source.name, [])
        if parts:
            csr = _csr(len(source), *(_concatenate([p[k] for p in parts]) for k in range(4)))
        else:
            csr = (np.zeros(len(source) + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        entry = SourceSpec(source, *csr)
        if isinstance(source, PoissonGroup):
            rates = _source_rates(source)
            if np.any(rates < 0) or not np.all(np.isfinite(rates)):
                raise ValueError(f"PoissonGroup '{source.name}': rates must be finite and >= 0 Hz, found: {rates}")
            spec.poisson_sources.append(entry)
        else:
            spec.spike_generators.append(entry)
    for pin in kinds["poisson_inputs"]:
        spec.poisson_inputs.append(_poisson_input(pin, group_specs, run_namespace))
    _current_arrays(spec)
    _network_linear_model(spec)
    for mon in kinds["spike_monitors"]:
        _check_spike_monitor(mon, group_specs)
        spec.spike_monitors.append(mon)
    for mon in kinds["state_monitors"]:
        spec.monitor_plans[mon.name] = _check_state_monitor(mon, group_specs, static_names, run_namespace)
        spec.state_monitors.append(mon)
    for mon in kinds["rate_monitors"]:
        if _root(mon.source).name not in group_specs:
            raise _refuse(mon, f"recording from '{mon.source.name}'", "PopulationRateMonitor must record a NeuronGroup")
        spec.rate_monitors.append(mon)
    return spec


def _current_arrays(spec):
    """Time constants and initial values of the engine currents (``spec.tau_e`` ...), once the inputs of
    every 'lif_exp' group are known (other neurons keep the engine's defaults, which they ignore)."""
    if not any(g.currents for g in spec.groups):
        return
    spec.tau_e, spec.tau_i = np.full(spec.n, 0.005), np.full(spec.n, 0.01)
    spec.i_e_init, spec.i_i_init = np.zeros(spec.n), np.zeros(spec.n)
    spec.E_e, spec.E_i = np.zeros(spec.n), np.zeros(spec.n)
    for g in spec.groups:
        if not g.currents:
            continue
        _assign_currents(g)
        part = slice(g.offset, g.offset + g.n)
        if g.model == "coba":  # the defaults for a missing conductance: tau of the other, reversal E_L
            c0 = next(iter(g.currents.values()))
            spec.tau_e[part], spec.tau_i[part] = c0["tau"], c0["tau"]
            spec.E_i[part] = spec.drive[part]
        for name, c in g.currents.items():
            for col, (tau, init, rev) in enumerate(
                ((spec.tau_e, spec.i_e_init, spec.E_e), (spec.tau_i, spec.i_i_init, spec.E_i))
            ):
                if col in c["columns"]:
                    tau[part] = c["tau"]
                    scale = np.abs(c["scale"]) if g.model == "coba" else c["scale"]
                    if col == c["columns"][0]:
                        init[part] = scale * np.asarray(g.group.variables[name].get_value(), dtype=float)
                    if g.model == "coba":
                        rev[part] = c["E"]


def _check_spike_monitor(mon, group_specs):
    root = _root(mon.source)
    if mon.event != "spike":
        raise _refuse(mon, f"recording the event '{mon.event}'", "only spikes can be recorded")
    extra = set(mon.record_variables) - {"i", "t"}
    if extra:
        raise _refuse(mon, f"recording the variables {sorted(extra)} at spikes", "SpikeMonitor records spike times")
    if root.name not in group_specs and not isinstance(root, (SpikeGeneratorGroup, PoissonGroup)):
        raise _refuse(
            mon,
            f"recording from {type(root).__name__} '{root.name}'",
            "SpikeMonitor records NeuronGroups, PoissonGroups and SpikeGeneratorGroups",
        )


@dataclass
class MonitorPlan:
    """How the device fills a StateMonitor: for each recorded name, ``("state", name)`` (a variable the engine
    evolves, see `GroupSpec.state_variables`), ``("constant", None)`` (a parameter: constant during a run) or
    ``("expression", (function, arguments))`` (a subexpression: a numpy function of ``arguments``, each
    ``("t", None)``, ``("state", name)`` or ``("value", array or scalar)``); ``extra``: whether the engine must
    record more than the state variable (`brian2_sparseprop.EventNetwork.record_states`)."""

    recorded: dict
    extra: bool


def _numpy_function(mon, group, name, run_namespace, construct):
    """The numpy implementation of a function that a subexpression calls (Brian2's mathematical functions,
    TimedArrays, user functions with one); random numbers are refused (they change at every step)."""
    supported = "a recorded subexpression may call deterministic functions that have a numpy implementation"
    try:  # (Brian2's sympy form names its function 'int' 'int_')
        function = group._resolve("int" if name == "int_" else name, run_namespace)
    except KeyError as error:
        raise _refuse(mon, f"{construct}: it calls '{name}' ({error})", supported) from None
    if not getattr(function, "stateless", True):
        raise _refuse(mon, f"{construct}: it draws random numbers ({name})", supported)
    try:
        return function.implementations[NumpyCodeObject].get_code(group)
    except (KeyError, AttributeError):
        raise _refuse(mon, f"{construct}: it calls '{name}', which has no numpy implementation", supported) from None


def _monitor_plan(mon, spec, run_namespace):
    """The `MonitorPlan` of a StateMonitor of the group of ``spec`` (None: a static group)."""
    root = _root(mon.source)
    eqs = root.equations
    evolved = spec.state_variables() if spec is not None else []
    recorded, used = {}, set()
    for name in mon.record_variables:
        if name in evolved:
            recorded[name] = ("state", name)
            used.add(name)
        elif name in eqs.parameter_names:
            recorded[name] = ("constant", None)
        elif name in eqs.subexpr_names:
            expr = _model_expression(root, name)
            construct = f"recording the subexpression '{name}'"
            evaluator = _Evaluator(root, run_namespace, evolved, len(root))
            # calls of functions that sympy does not define (Brian2's own, TimedArrays, user functions)
            calls = {
                str(c.func) for c in expr.atoms(sympy.Function) if not (type(c).__module__ or "").startswith("sympy")
            }
            functions = {name: _numpy_function(mon, root, name, run_namespace, construct) for name in calls}
            symbols = sorted(expr.free_symbols, key=str)
            arguments = []
            for x in symbols:
                if str(x) == "t":
                    arguments.append(("t", None))
                elif str(x) in evolved:
                    arguments.append(("state", str(x)))
                    used.add(str(x))
                else:  # per-neuron values in their own type (an index 'i' stays an integer)
                    value = evaluator.values(str(x), construct)
                    var = root.variables.get(str(x))
                    raw = isinstance(var, ArrayVariable) and not var.scalar
                    arguments.append(("value", np.asarray(var.get_value()) if raw else value))
            recorded[name] = ("expression", (sympy.lambdify(symbols, expr, modules=[functions, "numpy"]), arguments))
        else:
            raise _refuse(
                mon,
                f"recording '{name}'",
                f"StateMonitor records the variables {evolved}, parameters and subexpressions of '{root.name}'",
            )
    return MonitorPlan(recorded, extra=bool(used - set(evolved[:1])))


def _is_static(group):
    """True for a NeuronGroup whose variables never change during a run: no differential equations, no
    threshold, reset or other event (Brian2's own tests evaluate expressions with such groups)."""
    return not group.equations.diff_eq_names and not group.events


def _check_static(group):
    _check_attached(group)
    if group._linked_variables:
        raise _refuse(group, f"the linked variable(s) {sorted(group._linked_variables)}", _SUPPORTED_STATIC)
    if group.subexpression_updater is not None:
        raise _refuse(group, "subexpressions flagged '(constant over dt)'", _SUPPORTED_STATIC)


def _check_state_monitor(mon, group_specs, static_names, run_namespace):
    if not isinstance(mon.clock, Clock):
        raise _refuse(
            mon,
            f"recording on the {type(mon.clock).__name__} '{mon.clock.name}'",
            "StateMonitor records on a clock of regular steps (its own dt or the default clock)",
        )
    if mon.when not in ("start", "after_start", "before_groups"):
        raise _refuse(
            mon,
            f"recording at when='{mon.when}'",
            "StateMonitor records the state at the start of each step, before the step's events "
            "(when='start', Brian2's default, 'after_start' or 'before_groups')",
        )
    root = _root(mon.source)
    if root.name in static_names:
        return _monitor_plan(mon, None, run_namespace)
    if root.name not in group_specs:
        raise _refuse(mon, f"recording from {type(root).__name__} '{root.name}'", "StateMonitor records NeuronGroups")
    return _monitor_plan(mon, group_specs[root.name], run_namespace)
