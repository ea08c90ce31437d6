"""Recognition of Brian2 objects into engine arrays, and every refusal path."""

import numpy as np
import pytest
from brian2 import (
    Hz,
    Mohm,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    ms,
    mV,
    nA,
    network_operation,
    prefs,
)

from brian2_sparseprop.device.recognition import recognise_network

TAU = 10 * ms


@pytest.fixture(autouse=True)
def numpy_target():
    """Setting values with strings must not compile code in these tests."""
    old = prefs.codegen.target
    prefs.codegen.target = "numpy"
    yield
    prefs.codegen.target = old


def recognise(*objects, **namespace):
    return recognise_network(objects, dict(namespace, tau=TAU))


@pytest.mark.parametrize(
    ("equations", "drive", "tau"),
    [
        ("dv/dt = (v0 - v)/tau : volt", -0.05, 0.01),
        ("dv/dt = v0/tau - v/tau : volt", -0.05, 0.01),
        ("dv/dt = (2*v0 - 2*v)/(2*tau) : volt", -0.05, 0.01),
        ("dv/dt = -(v - v0)/(tau/2) : volt (unless refractory)", -0.05, 0.005),
        ("dv/dt = (El - v + R*I)/tau : volt\nI = 2*nA : amp", -0.07 + 0.02, 0.01),
        ("dv/dt = -v/tau : volt", 0.0, 0.01),
    ],
)
def test_lif_forms(equations, drive, tau):
    group = NeuronGroup(3, equations, threshold="v > -40*mV", reset="v = -60*mV", refractory=1 * ms)
    group.v = -60 * mV
    spec = recognise(group, v0=-50 * mV, El=-70 * mV, R=10 * Mohm)
    assert spec.groups[0].model == "lif"
    np.testing.assert_allclose(spec.drive, drive, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(spec.tau, tau, rtol=1e-12)
    np.testing.assert_allclose(spec.threshold, -0.04, rtol=1e-12)
    np.testing.assert_allclose(spec.reset, -0.06, rtol=1e-12)
    np.testing.assert_allclose(spec.refractory, 0.001, rtol=1e-12)
    np.testing.assert_array_equal(spec.integrate_refractory, "unless refractory" not in equations)


@pytest.mark.parametrize("how", ["index", "string", "array"])
def test_lif_per_neuron_parameters(how):
    group = NeuronGroup(
        4,
        "dv/dt = (v0 - v)/tau_m : volt (unless refractory)\nv0 : volt\ntau_m : second\nvt : volt\nref : second",
        threshold="v > vt",
        reset="v = -65*mV",
        refractory="ref",
    )
    expected_v0 = np.array([-50.0, -49.0, -48.0, -47.0]) * 1e-3
    if how == "index":
        for k in range(4):
            group.v0[k] = expected_v0[k] * 1000 * mV
    elif how == "string":
        group.v0 = "(-50 + i)*mV"
    else:
        group.v0 = expected_v0 * 1000 * mV
    group.tau_m = "(10 + i)*ms"
    group.vt = -45 * mV
    group.ref = "i*ms"
    group.v = "-60*mV + i*mV"
    spec = recognise(group)
    np.testing.assert_allclose(spec.drive, expected_v0, rtol=1e-12)
    np.testing.assert_allclose(spec.tau, (10 + np.arange(4)) * 1e-3, rtol=1e-12)
    np.testing.assert_allclose(spec.refractory, np.arange(4) * 1e-3, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(spec.v_init, (-60 + np.arange(4)) * 1e-3, rtol=1e-12)
    np.testing.assert_allclose(spec.threshold, -0.045, rtol=1e-12)


def test_qif_shift_and_drive():
    # dv/dt = a v^2 + b v + c with a = 200/s, b = 200/s, c = 100/s: y = v + 1/2, 5 ms dy/dt = y^2 + 1/4
    group = NeuronGroup(2, "dv/dt = (v**2 + 0.5)/(5*ms) + 0.2*v/ms : 1", threshold="v > 10", reset="v = -10")
    group.v = [0.0, 1.0]
    spec = recognise(group)
    assert spec.groups[0].model == "qif"
    np.testing.assert_allclose(spec.tau, 0.005, rtol=1e-12)
    np.testing.assert_allclose(spec.drive, 0.25, rtol=1e-12)
    np.testing.assert_allclose(spec.threshold, 10.5, rtol=1e-12)
    np.testing.assert_allclose(spec.reset, -9.5, rtol=1e-12)
    np.testing.assert_allclose(spec.v_init, [0.5, 1.5], rtol=1e-12)
    np.testing.assert_allclose(spec.groups[0].from_engine(spec.v_init), [0.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize(
    ("equations", "reset"),
    [
        ("dtheta/dt = ((1 - cos(theta)) + (1 + cos(theta))*I)/tau : 1\nI : 1", "theta = -pi"),
        ("dtheta/dt = (1 - cos(theta))/tau + (1 + cos(theta))*I/tau : 1\nI : 1", "theta -= 2*pi"),
        ("dtheta/dt = (1 + I + (I - 1)*cos(theta))/tau : 1\nI : 1", "theta = theta - 2*pi"),
    ],
)
def test_theta_forms(equations, reset):
    group = NeuronGroup(2, equations, threshold="theta > pi", reset=reset)
    group.I = [0.1, -0.2]
    target = NeuronGroup(2, "dtheta/dt = (1 - cos(theta))/tau : 1", threshold="theta > pi", reset="theta = -pi")
    syn = Synapses(group, target, "w : 1", on_pre="theta_post = 2*arctan(tan(theta_post/2) + w)")
    syn.connect(j="i")
    syn.w = [0.5, -0.25]
    spec = recognise(group, target, syn)
    assert [g.model for g in spec.groups] == ["theta", "theta"]
    np.testing.assert_allclose(spec.drive[spec.neuron_indices(group)], [0.1, -0.2], rtol=1e-12)
    np.testing.assert_allclose(spec.tau, 0.01, rtol=1e-12)
    np.testing.assert_allclose(spec.weights, [0.5, -0.25], rtol=1e-12)


def test_synapses_weights_delays_and_subgroups():
    exc = NeuronGroup(5, "dv/dt = (1.2 - v)/tau : 1", threshold="v > 1", reset="v = 0")
    inh = NeuronGroup(3, "dv/dt = (1.1 - v)/tau : 1", threshold="v > 1", reset="v = 0")
    s_lit = Synapses(exc[1:3], inh, on_pre="v_post += 0.1", delay=1.5 * ms)
    s_lit.connect()
    s_ext = Synapses(inh, exc[2:5], on_pre="v += -g*J")
    s_ext.connect(i=[0, 2], j=[0, 2])
    s_syn = Synapses(exc, exc, "w : 1", on_pre="v_post = v_post + w")
    s_syn.connect(i=[4, 0], j=[1, 3])
    s_syn.w = "0.01*(i + 1)"
    s_syn.delay = "j*0.25*ms"
    spec = recognise(exc, inh, s_lit, s_ext, s_syn, g=4, J=0.05)
    pre = np.repeat(np.arange(spec.n), np.diff(spec.indptr))
    triples = sorted(zip(pre, spec.indices, np.round(spec.weights, 12), np.round(spec.delays, 12)))
    e, i = spec.neuron_indices(exc)[0], spec.neuron_indices(inh)[0]  # group order follows Brian2's names
    expected = sorted(
        [(e + k, i + j, 0.1, 0.0015) for k in (1, 2) for j in range(3)]
        + [(i, e + 2, -0.2, 0.0), (i + 2, e + 4, -0.2, 0.0)]
        + [(e + 4, e + 1, 0.05, 0.00025), (e, e + 3, 0.01, 0.00075)]
    )
    assert triples == expected
    np.testing.assert_array_equal(spec.neuron_indices(exc[2:5]), e + np.array([2, 3, 4]))
    np.testing.assert_array_equal(spec.neuron_indices(inh), i + np.array([0, 1, 2]))


def test_inputs():
    group = NeuronGroup(4, "dv/dt = (0.5 - v)/tau : 1\nw_in : 1", threshold="v > 1", reset="v = 0")
    group.w_in = "0.1*i"
    pin = PoissonInput(group[1:3], "v", 20, 5 * Hz, weight="w_in")
    poisson = PoissonGroup(2, [3, 4] * Hz)
    s_p = Synapses(poisson, group, on_pre="v += 0.2")
    s_p.connect(j="i")
    gen = SpikeGeneratorGroup(2, [0, 1, 1], [1, 2, 3] * ms, period=10 * ms)
    s_g = Synapses(gen, group, on_pre="v += 0.3", delay=2 * ms)
    s_g.connect(i=[1], j=[3])
    spec = recognise(group, pin, poisson, s_p, gen, s_g)
    assert spec.poisson_inputs[0]["rate"] == pytest.approx(100.0)
    np.testing.assert_array_equal(spec.poisson_inputs[0]["targets"], [1, 2])
    np.testing.assert_allclose(spec.poisson_inputs[0]["weight"], [0.1, 0.2])
    np.testing.assert_array_equal(spec.poisson_sources[0].indptr, [0, 1, 2])
    np.testing.assert_array_equal(spec.poisson_sources[0].indices, [0, 1])
    source = spec.spike_generators[0]
    np.testing.assert_array_equal(source.indptr, [0, 0, 1])
    np.testing.assert_array_equal(source.indices, [3])
    np.testing.assert_allclose(source.delays, [0.002])


def lif(n=3, **kwargs):
    kwargs.setdefault("threshold", "v > 1")
    kwargs.setdefault("reset", "v = 0")
    return NeuronGroup(n, kwargs.pop("model", "dv/dt = (1.2 - v)/tau : 1"), **kwargs)


def refusal_cases():
    """(builder, error type, message pattern) for every refusal path."""

    def nonlinear():
        return [lif(model="dv/dt = (-v + v**3)/tau : 1")]

    def two_dimensional():
        # coupled both ways (an adaptation current driven by v); w decaying on its own is model 'lif_exp'
        return [lif(model="dv/dt = (w - v)/tau : 1\ndw/dt = (v - w)/tau : 1")]

    def stochastic():
        return [lif(model="dv/dt = (1.2 - v)/tau + xi/sqrt(tau) : 1")]

    def time_dependent():
        return [lif(model="dv/dt = (1.2 + sin(t/ms) - v)/tau : 1")]

    def timed_array():
        stim = TimedArray([1.0, 2.0], dt=1 * ms)
        return [lif(model="dv/dt = (v**2 + stim(t))/tau : 1")], {"stim": stim}

    def custom_event():
        return [lif(events={"burst": "v > 0.5"})]

    def run_regularly():
        group = lif()
        group.run_regularly("v = 0")
        return [group]

    def linked():
        source = lif()
        group = lif(model="dv/dt = (I - v)/tau : 1\nI : 1 (linked)")
        group.I = __import__("brian2").linked_var(source, "v")
        return [source, group]

    def reset_other():
        return [lif(model="dv/dt = (I - v)/tau : 1\nI : 1", reset="v = 0; I = 2")]

    def reset_relative():
        return [lif(reset="v -= 0.5")]

    def threshold_compound():
        return [lif(threshold="v > 1 and v < 2")]

    def refractory_condition():
        return [lif(refractory="v > 0.5")]

    def synaptic_dynamics():
        group = lif()
        syn = Synapses(group, group, "dg/dt = -g/tau : 1 (clock-driven)", on_pre="v += g")
        syn.connect()
        return [group, syn]

    def on_post():
        group = lif()
        syn = Synapses(group, group, "w : 1", on_pre="v_post += w", on_post="w += 0.1")
        syn.connect()
        return [group, syn]

    def two_statements():
        group = lif()
        syn = Synapses(group, group, "w : 1", on_pre="v_post += w\nw = 0")
        syn.connect()
        return [group, syn]

    def state_dependent_kick():
        group = lif()
        syn = Synapses(group, group, on_pre="v_post += 0.1*v_post")
        syn.connect()
        return [group, syn]

    def theta_additive_kick():
        group = NeuronGroup(2, "dtheta/dt = (1 - cos(theta))/tau : 1", threshold="theta > pi", reset="theta = -pi")
        syn = Synapses(group, group, on_pre="theta_post += 0.1")
        syn.connect()
        return [group, syn]

    def poisson_string_rates():
        group = lif()
        poisson = PoissonGroup(3, rates="(1 + i)*Hz")
        syn = Synapses(poisson, group, on_pre="v += 0.1")
        syn.connect(j="i")
        return [group, poisson, syn]

    def poisson_input_theta():
        group = NeuronGroup(2, "dtheta/dt = (1 - cos(theta))/tau : 1", threshold="theta > pi", reset="theta = -pi")
        return [group, PoissonInput(group, "theta", 10, 1 * Hz, weight=0.1)]

    def state_monitor_synapses():
        group = lif()
        syn = Synapses(group, group, "w : 1", on_pre="v_post += w")
        syn.connect()
        return [group, syn, StateMonitor(syn, "w", record=True)]

    def spike_monitor_variables():
        group = lif()
        return [group, SpikeMonitor(group, variables="v")]

    def network_op():
        @network_operation
        def noop():
            pass

        return [lif(), noop]

    def qif_integrating_refractory():
        return [lif(model="dv/dt = (v**2 + 1)/tau : 1", refractory=1 * ms)]

    def rate_monitor_generator():
        gen = SpikeGeneratorGroup(1, [0], [1] * ms)
        return [lif(), gen, PopulationRateMonitor(gen)]

    return [
        (nonlinear, NotImplementedError, r"non-linear equation dv/dt .*supported are one-dimensional LIF"),
        (two_dimensional, NotImplementedError, r"2 differential equations"),
        (stochastic, NotImplementedError, r"stochastic variable\(s\) \['xi'\]"),
        (time_dependent, NotImplementedError, r"depends on 't', which changes during a run"),
        (timed_array, NotImplementedError, r"the TimedArray\(s\) \['stim'\] in the equation of a qif neuron"),
        (custom_event, NotImplementedError, r"custom event\(s\) \['burst'\]"),
        (run_regularly, NotImplementedError, r"attached operation .*run_regularly"),
        (linked, NotImplementedError, r"linked variable\(s\) \['I'\]"),
        (reset_other, NotImplementedError, r"the reset 'v = 0; I = 2'"),
        (reset_relative, NotImplementedError, r"reset statement 'v -= 0.5'"),
        (threshold_compound, NotImplementedError, r"threshold condition 'v > 1 and v < 2'"),
        (refractory_condition, NotImplementedError, r"refractory condition 'v > 0.5'"),
        (synaptic_dynamics, NotImplementedError, r"synaptic dynamics"),
        (on_post, NotImplementedError, r"supported plasticity is Brian2's STDP form"),
        (two_statements, NotImplementedError, r"(?s)on_pre code .*supported is a single statement"),
        (state_dependent_kick, NotImplementedError, r"depends on 'v_post', which changes during a run"),
        (theta_additive_kick, NotImplementedError, r"theta neurons take delta-current kicks"),
        (poisson_string_rates, NotImplementedError, r"PoissonGroup rates must be constant"),
        (poisson_input_theta, NotImplementedError, r"input onto theta neurons"),
        (state_monitor_synapses, NotImplementedError, r"StateMonitor '.*': recording from Synapses"),
        (spike_monitor_variables, NotImplementedError, r"recording the variables \['v'\] at spikes"),
        (network_op, NotImplementedError, r"the object type NetworkOperation"),
        (qif_integrating_refractory, NotImplementedError, r"integrating a qif neuron during its refractory"),
        (rate_monitor_generator, NotImplementedError, r"PopulationRateMonitor must record a NeuronGroup"),
    ]


@pytest.mark.parametrize(("build", "error", "match"), refusal_cases(), ids=lambda c: getattr(c, "__name__", ""))
def test_refusals(build, error, match):
    built = build()
    objects, namespace = built if isinstance(built, tuple) else (built, {})
    with pytest.raises(error, match=match) as info:
        recognise(*objects, **namespace)
    if error is NotImplementedError:
        assert "fallback=True" in str(info.value)


@pytest.mark.parametrize(
    ("model", "threshold", "reset", "match"),
    [
        ("dv/dt = (1.2 + v)/tau : 1", "v > 1", "v = 0", r"needs tau > 0, found: tau = \[-0.01"),
        (
            "dv/dt = (1.2 - v)/tau : 1",
            "v > 1",
            "v = 2",
            r"reset must lie below the threshold, found for neuron 0: reset 2.0 >= threshold 1.0",
        ),
        ("dv/dt = (-v**2 + 1)/tau : 1", "v > 1", "v = 0", r"quadratic coefficient .* must be > 0"),
        ("dv/dt = (-1 + cos(v))/tau : 1", "v > pi", "v = -pi", r"theta neurons need dv/dt > 0 at v = pi"),
    ],
)
def test_bad_parameters(model, threshold, reset, match):
    with pytest.raises(ValueError, match=match):
        recognise(NeuronGroup(2, model, threshold=threshold, reset=reset))


def test_theta_threshold_must_be_pi():
    group = NeuronGroup(2, "dtheta/dt = (1 - cos(theta))/tau : 1", threshold="theta > 3", reset="theta = -pi")
    with pytest.raises(NotImplementedError, match=r"theta-neuron threshold at 3.0.*spike at pi"):
        recognise(group)


def test_negative_refractory():
    group = lif(model="dv/dt = (1.2 - v)/tau : 1\nref : second", refractory="ref")
    group.ref = -1 * ms
    with pytest.raises(ValueError, match=r"refractory must be >= 0 s, found: \[-0.001"):
        recognise(group)


def test_unit_mismatch_is_reported():
    group = NeuronGroup(2, "dv/dt = (v0 - v)/tau : volt", threshold="v > 1*mV", reset="v = 0*mV")
    with pytest.raises(Exception, match="v0"):
        recognise(group, v0=1 * nA)


@pytest.mark.parametrize(
    ("weight", "delay", "constant_weight", "constant_delay"),
    [
        ("-0.05", "0.7*ms", True, True),
        ("-0.05*(i + 1)", "0.7*ms", False, True),
        ("0.1", "j*0.1*ms", True, False),
        ("0", "0*ms", True, True),
    ],
)
def test_uniform_per_synapse_values_become_constants(weight, delay, constant_weight, constant_delay):
    # Brian2 stores one value per synapse; the engine gets a scalar when all of them are equal
    group = lif(n=4)
    syn = Synapses(group, group, "w : 1", on_pre="v_post += w")
    syn.connect(condition="i != j")
    syn.w = weight
    syn.delay = delay
    kwargs = recognise(group, syn).engine_kwargs()
    assert isinstance(kwargs["weights"], float) == constant_weight
    assert isinstance(kwargs["delays"], float) == constant_delay
    pre, post = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    order = np.lexsort((post, pre))
    np.testing.assert_array_equal(np.broadcast_to(kwargs["weights"], (12,)), np.asarray(syn.w[:])[order])
    np.testing.assert_array_equal(np.broadcast_to(kwargs["delays"], (12,)), np.asarray(syn.delay[:] / ms)[order] * 1e-3)


def _set_delay(how):
    """A Synapses object 0->1, 1->2, 2->0 with its delay given in one of Brian2's ways."""
    group = lif(n=3)
    keyword = {"delay": 1.5 * ms} if how == "keyword" else {}
    syn = Synapses(group, group, on_pre="v_post += 0.1", **keyword)
    syn.connect(i=[0, 1, 2], j=[1, 2, 0])
    if how == "assigned":
        syn.delay = 0.7 * ms
    elif how == "array":
        syn.delay = [0.25, 0.0, 3.0] * ms
    elif how == "string":
        syn.delay = "j*0.5*ms"
    return group, syn


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("none", [0.0, 0.0, 0.0]),
        ("keyword", [0.0015] * 3),
        ("assigned", [0.0007] * 3),
        ("array", [0.00025, 0.0, 0.003]),
        ("string", [0.0005, 0.001, 0.0]),
    ],
)
def test_delays_as_brian2_uses_them(how, expected):
    # Brian2 2.10 keeps the delay only in the pathway (syn.pre.variables), 2.11 also in syn.variables; the
    # keyword form stores one value, the others one per synapse, and no delay means 0 s
    group, syn = _set_delay(how)
    spec = recognise(group, syn)
    np.testing.assert_array_equal(spec.indices, [1, 2, 0])  # one synapse per source, in source order
    np.testing.assert_allclose(spec.delays, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(spec.delays, np.broadcast_to(syn.delay_[:], (3,)))  # Brian2 s value


def test_signed_zero_weights_stay_per_synapse():
    # 0.0 and -0.0 compare equal but are different kicks (v + -0.0 keeps v = -0.0): bitwise equality decides
    group = lif(n=3)
    syn = Synapses(group, group, "w : 1", on_pre="v_post += w")
    syn.connect(i=[0, 1], j=[1, 2])
    syn.w = [0.0, -0.0]
    weights = recognise(group, syn).engine_kwargs()["weights"]
    assert not isinstance(weights, float)
    np.testing.assert_array_equal(np.signbit(weights), [False, True])


@pytest.mark.parametrize(("delays", "found"), [([1, -1], "-0.001 s"), ([np.nan, 1], "nan s"), ([1, np.inf], "inf s")])
def test_bad_delays(delays, found):
    group = lif(n=2)
    syn = Synapses(group, group, on_pre="v_post += 0.1")
    syn.connect(i=[0, 1], j=[1, 0])
    syn.delay = np.array(delays) * ms
    with pytest.raises(ValueError, match=rf"Synapses '{syn.name}': delays must be finite and >= 0 s, found: {found}"):
        recognise(group, syn)
