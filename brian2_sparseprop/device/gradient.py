"""Exact gradients of a loss through a Brian2 run with the sparseprop device, by the Brian2 variables.

With ``set_device('sparseprop', gradients=True)`` every exact run records the tape of the backward pass
(`brian2_sparseprop.EventNetwork.run` with ``record_tape=True``); `SparsePropDevice.gradient` then
differentiates a loss of a SpikeMonitor's spikes and of a StateMonitor's recorded states
(`brian2_sparseprop.spiking.gradients.lif_gradient`) and maps the derivatives by the engine's parameters
back to the Brian2 variables they were computed from: the chain rule through the model's equations
(LIF, LIF with exponential currents, QIF with its shift of the state, theta, and linear models
dx/dt = A x + b through each entry of A and b), threshold, reset, ``on_pre`` code and PoissonInput weights
(sympy derivatives of the expressions that `brian2_sparseprop.device.recognition` reads), in Brian2's order
of neurons and synapses and in Brian2's units (dL/dw in 1/volt for a weight in volt, the loss being a
number).
"""

from dataclasses import dataclass, field

import numpy as np
import sympy
from brian2 import PoissonGroup, Quantity, SpikeMonitor, StateMonitor, Subgroup, get_dimensions

from ._brian2 import ArrayVariable, get_identifiers, str_to_sympy
from .device import _generator_order, _poisson_position
from .recognition import (
    _classify,
    _Evaluator,
    _kick_expression,
    _model_expression,
    _reset_expression,
    _root,
    _symbol,
    _threshold_expression,
)

__all__ = ["BrianGradient"]


class GradientVariables(dict):
    """The gradients of one Brian2 object, by variable name; a variable without a gradient raises a
    KeyError that says why."""

    def __init__(self, values, missing):
        super().__init__({name: value for name, value in values.items() if name not in missing})
        self.missing = dict(missing)

    def __missing__(self, key):
        if key in self.missing:
            raise KeyError(f"no gradient by '{key}': {self.missing[key]}")
        raise KeyError(f"no gradient by '{key}': the variables with a gradient are {sorted(self)}")


@dataclass(frozen=True)
class BrianGradient:
    """The gradient of a loss L by the variables of the Brian2 objects of a run (`SparsePropDevice.gradient`).

    ``grad[S]['w']`` (or ``grad['synapses']['w']``, by the object's name) is dL/dw, a Brian2 Quantity
    shaped like the variable (one value per synapse in Brian2's order of ``S.w``, one per neuron for a
    per-neuron parameter, one value for a shared one) in the units 1/(units of the variable).

    Attributes
    ----------
    variables : dict
        Object name -> `GradientVariables` (variable name -> Quantity). For a NeuronGroup: each of its
        real parameters (``G.tau``, ``G.I``, ..., zero where the model does not use it) and its state
        variable (``G.v``: the derivative by its values at the start of the recorded run), and for LIF
        groups with exponential currents their current variables (``G.ge``, at the start of the run), for
        groups run as linear models every state variable (``G.vt``, at the start of the run). For a
        Synapses: each of its real parameters that its ``on_pre`` code uses (``S.w``) and ``'delay'``. For
        a SpikeGeneratorGroup: ``'spike_time'``, by each of its given spike times (0 for a spike before the
        run; with a period, summed over the repetitions). For a PoissonInput with a constant weight:
        ``'weight'`` (a weight expression passes its derivative to the group's parameters it uses).
    loss : float or None
        The loss's value when it was given as a callable.
    n_pulse_triggered, n_coincident, n_unresolved : int
        As in `brian2_sparseprop.spiking.gradients.SpikeGradient`: spikes caused by a pulse, events where
        the loss is not differentiable (the result is a one-sided derivative there), and bugs.
    engine : SpikeGradient
        The gradient by the parameters of the engine (`brian2_sparseprop.EventNetwork`) behind the run.
    """

    variables: dict
    loss: float | None
    n_pulse_triggered: int
    n_coincident: int
    n_unresolved: int
    engine: object = field(repr=False)

    def __getitem__(self, obj):
        name = obj if isinstance(obj, str) else obj.name
        if name not in self.variables:
            raise KeyError(f"no gradient for '{name}': the objects with gradients are {sorted(self.variables)}")
        return self.variables[name]


# the families of neuron models whose groups one backward pass differentiates together
_FAMILY = {"lif": "lif", "lif_exp": "lif_exp", "qif": "qif", "theta": "qif", "linear": "linear"}


def tape_refusal(spec):
    """The reason (an exception to raise at `SparsePropDevice.gradient`) why the run of ``spec`` has no
    exact gradient, or None."""
    if spec.plasticity:
        names = [f"{p['synapses'].name} ({p['kind'].upper()})" for p in spec.plasticity]
        return NotImplementedError(
            f"Synapses {names} are plastic: gradients are implemented for networks with fixed weights "
            "(no STDP or short-term plasticity)"
        )
    for g in spec.groups:
        if g.model not in _FAMILY:
            return NotImplementedError(
                f"NeuronGroup '{g.group.name}' is a {g.model!r} neuron: gradients are implemented for LIF neurons "
                "(dx/dt = (drive - x)/tau, delta-pulse synapses, or with exponential currents as in Brian2's CUBA), "
                "for QIF (dx/dt quadratic in x) and theta neurons (dx/dt = A + B*cos(x)) with delta pulses, and for "
                "linear models (dx/dt = A x + b in up to 4 state variables: adaptive thresholds, alpha currents, ...)"
            )
        if _FAMILY[g.model] != _FAMILY[spec.groups[0].model]:
            return NotImplementedError(
                f"NeuronGroups '{spec.groups[0].group.name}' ({spec.groups[0].model!r}) and '{g.group.name}' "
                f"({g.model!r}): gradients are implemented for networks of neurons of one kind: all LIF with delta "
                "pulses, all LIF with exponential currents, all QIF and theta neurons, or all linear models"
            )
        if spec.integrate_refractory[g.offset]:
            return NotImplementedError(
                f"NeuronGroup '{g.group.name}' integrates its state during the refractory period: gradients are "
                "implemented for neurons held at the reset while refractory (flag '(unless refractory)')"
            )
    level = np.asarray(spec.v_init, dtype=float)
    if spec.linear is not None:  # linear models: the threshold's combination c @ x of the initial states
        x0 = spec.linear.per_neuron(spec.n)[4]
        linear = np.asarray(spec.model) == "linear"
        level = np.where(linear, x0 @ spec.linear.c, level)
    above = np.flatnonzero(level >= spec.threshold)
    if len(above):
        g = next(g for g in spec.groups if g.offset <= above[0] < g.offset + g.n)
        return NotImplementedError(
            f"NeuronGroup '{g.group.name}': neuron {above[0] - g.offset} starts at or above its threshold and "
            "fires at the start of the run, a spike the backward pass does not differentiate; start every "
            "neuron below threshold"
        )
    return None


def derivative_map(spec, namespace, t_offset, quantum=0.0):
    """The derivatives of the engine's parameters by the Brian2 variables, at the values of the start of a
    run at Brian2 time ``t_offset``: a list of entries for `brian2_gradient`, and the variables without a
    gradient (object name -> variable name -> reason)."""
    missing = {}
    n_linear = sum(g.model == "linear" for g in spec.groups)
    entries = [_group_entry(g, namespace, missing, n_linear) for g in spec.groups]
    for placed in spec.synapses:
        entries.append(_synapses_entry(spec, placed, namespace, missing))
    for k, source in enumerate(spec.spike_generators):  # the engine's spikes of each, in Brian2's order
        positions = _generator_order(source.group, t_offset, None, quantum)[3]
        entries.append(dict(kind="generator", object=source.group, k=k, positions=positions))
    for k, entry in enumerate(spec.poisson_inputs):
        entries.append(_poisson_input_entry(spec, k, entry, namespace, missing))
    return entries, missing


def _poisson_input_entry(spec, k, entry, namespace, missing):
    """A PoissonInput (the engine's Poisson input k): its targets in the root group, the engine units per SI
    unit of its weight (``factor``), its weight in SI per target, the current it kicks (or None), and the
    derivatives of the weight by the target group's parameters (a weight given as an expression)."""
    pin = entry["pin"]
    g = spec.group_spec(entry["group"])
    local = np.asarray(entry["targets"]) - g.offset
    current = pin._target_var if pin._target_var in g.currents else None
    factor = np.broadcast_to(g.factor(current, local), local.shape)
    weight = np.broadcast_to(np.asarray(entry["weight"], dtype=float), local.shape) / factor
    params = {}
    code = entry["weight_code"]
    if code is not None:
        evaluator = _Evaluator(g.group, namespace, {g.variable, *g.currents}, len(local), {"_idx": local})
        expr = sympy.sympify(str_to_sympy(code))
        for name in set(get_identifiers(code)) & set(_float_parameters(g.group)):
            params[name] = evaluator.evaluate(sympy.diff(expr, _symbol(name)), "the PoissonInput weight")
        missing.setdefault(pin.name, {})["weight"] = (
            f"the weight is the expression '{code}': its derivatives go to the variables it uses "
            f"({sorted(params) or 'none of the group'})"
        )
    return dict(kind="poisson_input", object=pin, k=k, group=g.group.name, local=local, factor=factor,
                weight=weight, current=current, params=params,
                weight_dim=None if code else get_dimensions(pin._weight))  # fmt: skip


def _float_parameters(obj):
    """The parameters of a group or synapses that have real values (not integers or booleans)."""
    return [
        name
        for name in obj.equations.parameter_names
        if isinstance(obj.variables[name], ArrayVariable) and np.dtype(obj.variables[name].dtype).kind == "f"
    ]


def _differentiable_parameters(group, missing):
    """The real parameters of a NeuronGroup with a derivative; those its refractory period depends on go to
    ``missing`` with the reason (the engine has no derivative by refractory periods)."""
    ref = group._refractory
    in_refractory = set(get_identifiers(ref)) if isinstance(ref, str) else set()
    names = _float_parameters(group)
    for name in (x for x in names if x in in_refractory):
        missing.setdefault(group.name, {})[name] = (
            "the refractory period depends on it, and the engine has no derivative by refractory periods"
        )
    if "lastspike" in names:
        missing.setdefault(group.name, {})["lastspike"] = (
            "it is Brian2's time of each neuron's last spike (for refractoriness), not a parameter of the model"
        )
    return [name for name in names if name not in in_refractory and name != "lastspike"]


def _group_entries_by_name(entries):
    return {e["object"].name: e for e in entries if e["kind"] == "group"}


def _linear_group_entry(g, namespace, missing, n_linear_groups):
    """The derivatives of the engine's linear model of a group's neurons (model 'linear', dx/dt = A x + b,
    a spike when c @ x reaches theta, then v = reset and x = scale x + offset for the others) by its
    parameters: per neuron ``A`` (n, d, d), ``b`` (n, d), ``threshold`` and ``reset`` (n,), and the
    network's one ``offset`` (d,) of the reset maps (or None), in the order of the model's variables.

    The entries are sympy derivatives of the expressions that `brian2_sparseprop.device.recognition` reads
    (A[i, j] = d(dx_i/dt)/dx_j, b the rest of dx_i/dt, theta = rhs - lhs of 'lhs > rhs' without the state,
    the reset's right-hand sides), evaluated per neuron. A parameter in a threshold coefficient c (the
    engine has no derivative by c), or in a reset offset that is not a shared variable of the network's only
    linear group (the engine's offsets are one per network), goes to ``missing`` with the reason."""
    from .recognition import _linear_threshold, _reset_statements

    group, n = g.group, g.n
    order = list(g.linear["variables"])
    d = len(order)
    symbols = [_symbol(x) for x in order]
    at_zero = {s: 0 for s in symbols}
    evaluator = _Evaluator(group, namespace, set(order), n)
    A_expr = [[sympy.S.Zero] * d for _ in range(d)]
    b_expr = [sympy.S.Zero] * d
    if group.equations.diff_eq_names:  # (a relay: dx/dt = 0)
        for i, x in enumerate(order):
            rhs = _model_expression(group, x)
            b_expr[i] = rhs.subs(at_zero)
            A_expr[i] = [sympy.diff(rhs, s) for s in symbols]
    lhs, _ = _linear_threshold(group)
    c_expr = [sympy.diff(lhs, s) for s in symbols]
    theta_expr = -lhs.subs(at_zero)
    reset_expr, offsets = None, {}
    for line, var, op, rhs in _reset_statements(group):
        if op == "=" and reset_expr is None:
            reset_expr = rhs
        else:
            offsets[var] = (line, -rhs if op == "-=" else rhs)
    params = {}
    for name in _differentiable_parameters(group, missing):
        if name in order:  # a relay's variable: a state, with the gradient by its initial value
            continue
        s = _symbol(name)
        if any(s in c.free_symbols for c in c_expr):
            missing.setdefault(group.name, {})[name] = (
                f"the threshold's coefficient of a state variable depends on it ('{group.events['spike']}'), and "
                "the engine has no derivative by the threshold's coefficients"
            )
            continue

        def derivative(expr, s=s):
            dexpr = sympy.diff(expr, s)
            return None if dexpr == 0 else evaluator.evaluate(dexpr, "the derivative of the model")

        dA, db = np.zeros((n, d, d)), np.zeros((n, d))
        for i in range(d):
            for j in range(i + 1):
                if (value := derivative(A_expr[i][j])) is not None:
                    dA[:, i, j] = value
            if (value := derivative(b_expr[i])) is not None:
                db[:, i] = value
        offset, refusal = np.zeros(d), None
        for var, (line, expr) in offsets.items():
            if (value := derivative(expr)) is None:
                continue
            if not group.variables[name].scalar or n_linear_groups > 1:
                refusal = (
                    f"the reset statement '{line}' uses it: the engine has one offset of the reset of '{var}' for "
                    "the network, with a derivative by a shared variable of its only linear group (declare it "
                    f"'{name} : ... (shared)')"
                )
            offset[order.index(var)] = float(value[0])  # (one value: the reset offsets are one per network)
        if refusal is not None:
            missing.setdefault(group.name, {})[name] = refusal
            continue
        zero = np.zeros(n)
        d_theta, d_reset = derivative(theta_expr), derivative(reset_expr)
        params[name] = dict(
            A=dA,
            b=db,
            threshold=zero if d_theta is None else d_theta,
            reset=zero if d_reset is None else d_reset,
            offset=offset if offset.any() else None,
        )
    return dict(
        kind="group", object=group, slice=slice(g.offset, g.offset + n), variable=g.variable, params=params,
        currents={}, linear=order,
    )  # fmt: skip


def _group_entry(g, namespace, missing, n_linear_groups=0):
    """The derivatives of tau, drive, threshold and reset of a LIF group's neurons by its parameters, and
    for a group with exponential currents (dx/dt = (drive - x)/tau + sum k_c c, dc/dt = -c/tau_c; engine
    current = scale_c c, scale_c = k_c tau) those of each current's tau_c and scale_c. QIF and theta groups:
    `_qif_group_entry`."""
    if g.model in ("qif", "theta"):
        return _qif_group_entry(g, namespace, missing)
    if g.model == "linear":
        return _linear_group_entry(g, namespace, missing, n_linear_groups)
    group, variable, n = g.group, g.variable, g.n
    currents = sorted(g.currents) if g.currents else []
    evaluator = _Evaluator(group, namespace, {variable, *currents}, n)
    own = _model_expression(group, variable)
    exprs = {}
    for c in currents:
        k = sympy.diff(own, _symbol(c))
        exprs[f"k_{c}"] = k
        exprs[f"rate_{c}"] = sympy.diff(_model_expression(group, c), _symbol(c))
        own = own - k * _symbol(c)
    _, coeffs = _classify(group, variable, sympy.expand(own))
    passive = "spike" not in group.events  # (a readout group without threshold: it never spikes)
    exprs.update(
        a1=coeffs["a1"],
        a0=coeffs["a0"],
        threshold=sympy.S.Zero if passive else _threshold_expression(group, variable),
        reset=sympy.S.Zero if passive else _reset_expression(group, variable, g.model),
    )
    tau = -1.0 / evaluator.evaluate(exprs["a1"], "the equation")
    drive = evaluator.evaluate(exprs["a0"], "the equation") * tau
    k_c = {c: evaluator.evaluate(exprs[f"k_{c}"], "the equation") for c in currents}
    tau_c = {c: -1.0 / evaluator.evaluate(exprs[f"rate_{c}"], "the equation") for c in currents}
    params = {}
    for name in _differentiable_parameters(group, missing):
        s = _symbol(name)
        d = {k: evaluator.evaluate(sympy.diff(e, s), "the derivative of the model") for k, e in exprs.items()}
        # tau = -1/a1, drive = -a0/a1, tau_c = -1/rate_c, scale_c = k_c tau
        params[name] = dict(
            tau=tau**2 * d["a1"],
            drive=tau * d["a0"] + drive * tau * d["a1"],
            threshold=d["threshold"],
            reset=d["reset"],
            **{f"tau_{c}": tau_c[c] ** 2 * d[f"rate_{c}"] for c in currents},
            **{f"scale_{c}": d[f"k_{c}"] * tau + k_c[c] * tau**2 * d["a1"] for c in currents},
        )
    cur = {
        c: dict(
            columns=g.currents[c]["columns"],
            scale=np.broadcast_to(k_c[c] * tau, (n,)),
            initial=np.array(group.variables[c].get_value(), dtype=float),  # at the start of the run
        )
        for c in currents
    }
    return dict(
        kind="group", object=group, slice=slice(g.offset, g.offset + n), variable=variable, params=params, currents=cur
    )


def _qif_group_entry(g, namespace, missing):
    """The derivatives of the engine's tau, drive, threshold and reset of a QIF or theta group's neurons by
    its parameters, and of the QIF's shift (engine state y = x + shift).

    QIF, dx/dt = a x**2 + b x + c: tau = 1/a, shift s = b/(2 a), drive = c/a - b**2/(4 a**2); the engine's
    threshold, reset and initial state are the Brian2 values plus s, its states minus s the Brian2 values
    (so a parameter in a or b also acts through every readout and the initial state). Theta,
    dx/dt = A + B cos(x) with f0 = A + B and fpi = A - B: tau = 2/fpi, drive = f0/fpi, threshold and reset
    fixed (pi, -pi)."""
    group, variable, n = g.group, g.variable, g.n
    evaluator = _Evaluator(group, namespace, {variable}, n)
    _, coeffs = _classify(group, variable, sympy.expand(_model_expression(group, variable)))
    exprs = dict(coeffs)
    if g.model == "qif":
        exprs.update(threshold=_threshold_expression(group, variable), reset=_reset_expression(group, variable, "qif"))
    val = {k: evaluator.evaluate(e, "the equation") for k, e in coeffs.items()}
    params = {}
    for name in _differentiable_parameters(group, missing):
        sym = _symbol(name)
        d = {k: evaluator.evaluate(sympy.diff(e, sym), "the derivative of the model") for k, e in exprs.items()}
        if g.model == "qif":
            a, b, c = val["a"], val["b"], val["c"]
            d_shift = d["b"] / (2 * a) - b * d["a"] / (2 * a**2)
            params[name] = dict(
                tau=-d["a"] / a**2,
                drive=d["c"] / a - c * d["a"] / a**2 - b * d["b"] / (2 * a**2) + b**2 * d["a"] / (2 * a**3),
                threshold=d["threshold"] + d_shift,
                reset=d["reset"] + d_shift,
                shift=d_shift,
            )
        else:
            f0, fpi = val["f0"], val["fpi"]
            zero = np.zeros(n)
            params[name] = dict(
                tau=-2 * d["fpi"] / fpi**2, drive=d["f0"] / fpi - f0 * d["fpi"] / fpi**2, threshold=zero, reset=zero
            )
    return dict(
        kind="group", object=group, slice=slice(g.offset, g.offset + n), variable=variable, params=params, currents={}
    )


def _synapses_entry(spec, placed, namespace, missing):
    """The derivatives of the kicks of a Synapses by its parameters, and where its synapses are in the engine."""
    syn = placed["synapses"]
    target = spec.group_spec(syn.target)
    pre = np.asarray(syn.variables["_synaptic_pre"].get_value())
    post = np.asarray(syn.variables["_synaptic_post"].get_value())
    index_arrays = {"_presynaptic_idx": pre, "_postsynaptic_idx": post}
    kick, current, evaluator = _kick_expression(syn, target, namespace, index_arrays, len(pre))
    used = {str(symbol) for symbol in kick.free_symbols}
    own = [name for name in _float_parameters(syn) if name in used]
    for name in used - set(own):
        var = syn.variables.get(name)
        owner = getattr(var, "owner", None)
        if isinstance(var, ArrayVariable) and owner is not None and owner.name != syn.name:
            base = name.rsplit("_", 1)[0] if name.endswith(("_pre", "_post")) else name
            missing.setdefault(owner.name, {})[base] = (
                f"the on_pre code of Synapses '{syn.name}' uses it; derivatives through a neuron variable in "
                "on_pre are not implemented"
            )
    params = {name: evaluator.evaluate(sympy.diff(kick, _symbol(name)), "the on_pre code") for name in own}
    part = placed["part"]
    if part is None:
        where = ("network", 0)
    elif isinstance(_root(syn.source), PoissonGroup):
        where = ("poisson", _poisson_position(spec, part))
    else:
        where = ("generator", [s.group.name for s in spec.spike_generators].index(part))
    entry = dict(kind="synapses", object=syn, where=where, positions=placed["positions"], params=params)
    # engine kick = scale_c (of the target) times the kick into the current c of a 'lif_exp' group (a linear
    # group's input variable has the group's own scale)
    if current is not None and current in target.currents:
        kick_value = np.broadcast_to(evaluator.evaluate(kick, "the on_pre code"), (len(pre),))
        entry.update(target=target.group.name, current=current, post=post, kick=kick_value,
                     scale=target.currents[current]["scale"][post])  # fmt: skip
    return entry


def _engine_part(eg, where, name):
    """The engine's per-synapse gradient of one part ('weights' or 'delays')."""
    kind, k = where
    if kind == "network":
        return np.asarray(getattr(eg, name))
    return np.asarray(getattr(eg, f"{kind}_{name}")[k])


def _shaped(obj, name, values):
    """A gradient as a Quantity shaped like the variable, in 1/(its units)."""
    var = obj.variables[name]
    shape = np.shape(var.get_value())
    values = np.asarray(values, dtype=float)
    if values.shape != shape:  # a shared variable: the sum over its uses
        values = np.full(shape, values.sum())
    return Quantity(values, dim=var.dim**-1)


def _per_neuron(eg, name, sl):
    a = np.asarray(getattr(eg, name), dtype=float)
    return np.broadcast_to(a, (sl.stop,))[sl] if a.ndim == 0 else a[sl]


def _linear_group_values(eg, entry, through_inputs):
    """The gradients of a linear group's parameters and of the initial values of its state variables from
    the engine's dL/dA, dL/db, dL/dtheta, dL/dreset, dL/d(reset offsets) and dL/dx(0)."""
    obj, sl, values = entry["object"], entry["slice"], {}
    g_A, g_b = np.asarray(eg.A, dtype=float)[sl], np.asarray(eg.b, dtype=float)[sl]
    g_thr, g_reset = _per_neuron(eg, "threshold", sl), _per_neuron(eg, "reset", sl)
    for name, d in entry["params"].items():
        total = np.einsum("nij,nij->n", g_A, d["A"]) + np.einsum("ni,ni->n", g_b, d["b"])
        total = total + g_thr * d["threshold"] + g_reset * d["reset"] + through_inputs.get((obj.name, name), 0.0)
        if d["offset"] is not None:  # a shared variable: one value, the sum over its uses
            total = total.sum() + float(np.asarray(eg.reset_offset, dtype=float) @ d["offset"])
        values[name] = _shaped(obj, name, total)
    g_x0 = np.asarray(eg.x0, dtype=float)[sl]
    for k, x in enumerate(entry["linear"]):
        values[x] = _shaped(obj, x, g_x0[:, k])
    return values


def brian2_gradient(eg, entries, missing, readout_sums=None):
    """The `BrianGradient` of the engine's gradient ``eg`` (a SpikeGradient) through the derivative map;
    ``readout_sums`` (per engine neuron, or None) is the sum of dL/d(readout) over each neuron's readouts in
    Brian2's units (readouts of QIF groups move with the shift of their state)."""
    by_object = {}
    groups = _group_entries_by_name(entries)
    # the kicks into currents, by target group and current: dL/d(scale_c) of each target neuron
    d_scale = {}
    # the derivatives through a PoissonInput's weight expression, by (group, parameter)
    through_inputs = {}
    for entry in entries:
        if entry["kind"] == "synapses" and "current" in entry:
            g_kick = _engine_part(eg, entry["where"], "weights")[entry["positions"]]
            n_target = len(groups[entry["target"]]["object"])
            key = (entry["target"], entry["current"])
            d_scale[key] = d_scale.get(key, 0.0) + np.bincount(
                entry["post"], weights=g_kick * entry["kick"], minlength=n_target
            )
        elif entry["kind"] == "poisson_input":
            g_eng = np.broadcast_to(np.asarray(eg.poisson_weights[entry["k"]], dtype=float), entry["local"].shape)
            n_target = len(groups[entry["group"]]["object"])
            if entry["current"] is not None:
                key = (entry["group"], entry["current"])
                d_scale[key] = d_scale.get(key, 0.0) + np.bincount(
                    entry["local"], weights=g_eng * entry["weight"], minlength=n_target
                )
            g_si = g_eng * entry["factor"]  # dL/d(weight) in SI, per target
            for name, d in entry["params"].items():
                key = (entry["group"], name)
                through_inputs[key] = through_inputs.get(key, 0.0) + np.bincount(
                    entry["local"], weights=g_si * d, minlength=n_target
                )
            values = {}
            if entry["weight_dim"] is not None:
                values["weight"] = Quantity(float(g_si.sum()), dim=entry["weight_dim"] ** -1)
            by_object[entry["object"].name] = GradientVariables(values, missing.get(entry["object"].name, {}))
    for entry in entries:
        obj, values = entry["object"], {}
        if entry["kind"] == "poisson_input":
            continue
        if entry["kind"] == "group" and "linear" in entry:
            values = _linear_group_values(eg, entry, through_inputs)
        elif entry["kind"] == "group":
            sl = entry["slice"]
            engine = {k: _per_neuron(eg, k, sl) for k in ("tau", "drive", "threshold", "reset")}
            cols = {0: ("tau_e", "i_e0"), 1: ("tau_i", "i_i0")}
            g_cur = {k: _per_neuron(eg, k, sl) for c in entry["currents"] for k in ("tau_e", "tau_i", "i_e0", "i_i0")}
            for c, info in entry["currents"].items():
                g_init = g_cur[cols[info["columns"][0]][1]]
                d_scale[(obj.name, c)] = d_scale.get((obj.name, c), 0.0) + g_init * info["initial"]
                values[c] = _shaped(obj, c, g_init * info["scale"])
            g_v0 = np.asarray(eg.v0)[sl]
            ro = 0.0 if readout_sums is None else readout_sums[sl]
            for name, d in entry["params"].items():
                total = sum(engine[k] * d[k] for k in engine)
                for c, info in entry["currents"].items():
                    total = total + sum(g_cur[cols[col][0]] for col in info["columns"]) * d[f"tau_{c}"]
                    total = total + d_scale.get((obj.name, c), 0.0) * d[f"scale_{c}"]
                if "shift" in d:  # QIF: the engine's initial state is x0 + shift, a Brian2 readout y - shift
                    total = total + d["shift"] * (g_v0 - ro)
                total = total + through_inputs.get((obj.name, name), 0.0)
                values[name] = _shaped(obj, name, total)
            values[entry["variable"]] = _shaped(obj, entry["variable"], np.asarray(eg.v0)[sl])
        elif entry["kind"] == "generator":
            g_times = np.zeros(len(obj.variables["spike_time"].get_value()))
            g_times[entry["positions"]] = eg.generator_times[entry["k"]]
            values["spike_time"] = _shaped(obj, "spike_time", g_times)
        else:
            pos = entry["positions"]
            g_kick = _engine_part(eg, entry["where"], "weights")[pos] * entry.get("scale", 1.0)
            for name, d in entry["params"].items():
                values[name] = _shaped(obj, name, g_kick * d)
            delay = obj.pre.variables["delay"]
            g_delay = _engine_part(eg, entry["where"], "delays")[pos]
            shape = np.shape(delay.get_value())
            values["delay"] = Quantity(
                g_delay if shape == g_delay.shape else np.full(shape, g_delay.sum()), dim=delay.dim**-1
            )
        by_object[obj.name] = GradientVariables(values, missing.get(obj.name, {}))
    return BrianGradient(
        variables=by_object,
        loss=eg.loss,
        n_pulse_triggered=eg.n_pulse_triggered,
        n_coincident=eg.n_coincident,
        n_unresolved=eg.n_unresolved,
        engine=eg,
    )


def monitor_spikes(spec, engine, monitor):
    """The engine's spikes that a SpikeMonitor of a NeuronGroup records: a mask over the engine's spikes,
    and the first engine index of the monitored neurons."""
    if not isinstance(monitor, SpikeMonitor):
        raise TypeError(f"monitor must be a SpikeMonitor, found {type(monitor).__name__}")
    if all(m is not monitor for m in spec.spike_monitors):
        raise ValueError(f"SpikeMonitor '{monitor.name}' is not part of the network that ran")
    root = _root(monitor.source)
    if all(g.group.name != root.name for g in spec.groups):
        raise ValueError(
            f"SpikeMonitor '{monitor.name}' records '{root.name}', not a NeuronGroup: the loss must depend on "
            "the spikes of neurons"
        )
    first = int(spec.neuron_indices(monitor.source)[0])
    idx = np.asarray(engine.spike_indices)
    keep = (idx >= first) & (idx < first + len(monitor.source))
    return keep, first


def state_readouts(session, monitor):
    """Where a StateMonitor's recorded values of a group's state variable are among the engine's readouts:
    the readout row of each of its times, the readout column of each recorded neuron, the engine's scale
    per recorded neuron (engine state = scale (x + shift)) and the variable's name."""
    spec = session.spec
    if not isinstance(monitor, StateMonitor):
        raise TypeError(f"state_monitor must be a StateMonitor, found {type(monitor).__name__}")
    if all(m is not monitor for m in spec.state_monitors):
        raise ValueError(f"StateMonitor '{monitor.name}' is not part of the network that ran")
    root = _root(monitor.source)
    if all(g.group.name != root.name for g in spec.groups):
        raise ValueError(f"StateMonitor '{monitor.name}' records '{root.name}', not a NeuronGroup")
    g = spec.group_spec(monitor.source)
    if g.variable not in monitor.record_variables:
        raise ValueError(
            f"StateMonitor '{monitor.name}' does not record '{g.variable}', the state variable of "
            f"'{root.name}': the loss may depend on the recorded state variable"
        )
    engine = session.engine
    start = monitor.source.start if isinstance(monitor.source, Subgroup) else 0
    local = np.asarray(monitor.record, dtype=np.int64) + start
    columns = np.searchsorted(session.state_indices, g.offset + local)
    times = np.asarray(monitor.variables["t"].get_value(), dtype=float)
    engine_times = np.asarray(engine.state_times, dtype=float) + session.t_offset
    tol = 1e-12 * max(1.0, float(np.abs(times).max()) if times.size else 1.0)
    rows = np.minimum(np.searchsorted(engine_times, times - tol), max(engine_times.size - 1, 0))
    if times.size and (engine_times.size == 0 or np.any(np.abs(engine_times[rows] - times) > tol)):
        n_run = int(np.sum(times >= (engine_times[0] - tol))) if engine_times.size else 0
        raise ValueError(
            f"StateMonitor '{monitor.name}' holds {times.size} times, of which {n_run} from the recorded run: "
            "the loss's values must be of the recorded run only (restore() the monitor with the network)"
        )
    scale = np.ones(local.size) if g.scale is None else np.broadcast_to(g.scale, (g.n,))[local]
    return rows, columns, np.asarray(scale, dtype=float), g.variable
