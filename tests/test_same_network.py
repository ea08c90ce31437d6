"""One script, one seed, one network: with and without the device, and in every run of a comparison (issue 14, item 1).

The device builds connect() with the code generation target Brian2's runtime chooses (Cython when it is
available) and draws rand()/randn() from the runtime's buffers; `compare` gives each run a device of its own,
takes a network digest at every network's first run() and refuses runs whose networks differ.
"""

import numpy as np
import pytest
from brian2 import (
    Hz,
    NeuronGroup,
    PoissonInput,
    SpikeMonitor,
    Synapses,
    get_device,
    ms,
    prefs,
    run,
    seed as brian_seed,
    set_device,
    start_scope,
)
from brian2.devices.device import all_devices, reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop.device.compare import DifferentNetworksError, compare
from brian2_sparseprop.device.device import SparsePropDevice, share_random_numbers
from brian2_sparseprop.device.digest import NetworkDigest, network_digest
from brian2_sparseprop.experiments.compare import main

# rand() and randn() in assignments, connect(p=...) with the jump method (p < 0.25) and without it, rand() in
# a connect condition; argparse, set_device and defaultclock.dt as users write them
SCRIPT = """
import argparse
import brian2_sparseprop
from brian2 import *

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=40)
args = parser.parse_args()

set_device("sparseprop")
defaultclock.dt = 0.05 * ms
group = NeuronGroup(args.n, "dv/dt = (I - v)/(10*ms) : 1\\nI : 1", threshold="v > 1", reset="v = 0", name="g")
group.v = "rand()"
group.I = "1.1 + 0.1*rand()"
syn = Synapses(group, group, "w : 1", on_pre="v += w", name="s")
syn.connect(p=0.1)
syn.w = "-0.05*rand()"
syn.delay = "rand()*ms"
spikes = SpikeMonitor(group)
print(f"built {len(syn)} synapses")
run(40 * ms)
"""


def build():
    """The network of SCRIPT and more random draws, without running it: (arrays by name)."""
    group = NeuronGroup(60, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", name="g")
    group.v = "rand()"
    group.I = "1.1 + 0.1*randn()"
    sparse = Synapses(group, group, "w : 1", on_pre="v += w", name="s")
    sparse.connect(p=0.1)
    sparse.w = "-0.05*rand()"
    sparse.delay = "rand()*ms"
    dense = Synapses(group, group, on_pre="v += 0.01", name="s2")
    dense.connect(p=0.5)
    conditional = Synapses(group, group, on_pre="v += 0.01", name="s3")
    conditional.connect("i != j and rand() < 0.2")
    arrays = {"v": group.v[:], "I": group.I[:], "w": sparse.w[:], "delay": sparse.delay[:]}
    for syn in (sparse, dense, conditional):
        arrays[f"{syn.name}.i"], arrays[f"{syn.name}.j"] = syn.i[:], syn.j[:]
    return {name: np.array(values) for name, values in arrays.items()}


def built_on(device, seed):
    set_device(device)
    try:
        start_scope()
        assert prefs.codegen.target == "auto"  # Brian2's default: Cython where it is available
        brian_seed(seed)
        return build()
    finally:
        reset_device()


@pytest.mark.parametrize("first", ["runtime", "sparseprop"])
def test_same_network_with_and_without_the_device(seed, first):
    # Before: the device built connect() with numpy's template (other draws than Cython's) and seed() did
    # not empty the buffers the Cython code drew from, so the counts differed (4092 against 3999 synapses)
    second = "sparseprop" if first == "runtime" else "runtime"
    a, b = built_on(first, seed), built_on(second, seed)
    assert len(a["s.i"]) > 0 and len(a["s2.i"]) > 0 and len(a["s3.i"]) > 0
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_the_device_draws_from_the_runtime_buffers():
    device = all_devices["sparseprop"]
    runtime = all_devices["runtime"]
    for name in ("rand_buffer", "rand_buffer_index", "randn_buffer", "randn_buffer_index"):
        assert getattr(device, name) is getattr(runtime, name), name
    other = type(runtime)()
    share_random_numbers(other)
    assert other.randn_buffer is runtime.randn_buffer


def test_digest_sees_every_part_of_the_network():
    start_scope()
    group = NeuronGroup(5, "dv/dt = -v/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", name="dg")
    syn = Synapses(group, group, "w : 1", on_pre="v += w", name="ds")
    syn.connect(j="i")
    noise = PoissonInput(group, "v", 10, 5 * Hz, weight=0.1)
    monitor = SpikeMonitor(group)
    digest = network_digest([group, syn, noise, monitor])
    assert {"NeuronGroup 'dg' v", "NeuronGroup 'dg' I", "Synapses 'ds' i", "Synapses 'ds' j", "Synapses 'ds' w"} <= set(
        digest.parts
    )
    assert any(name.startswith("PoissonInput") for name in digest.parts)
    assert not [
        name for name in digest.parts if "SpikeMonitor" in name or name.split()[-1] in ("t", "dt", "lastupdate")
    ]
    for change, part in [
        (lambda: setattr(group, "I", 0.5), "NeuronGroup 'dg' I differs (5 values)"),
        (lambda: syn.connect(i=0, j=1), "Synapses 'ds' i differs (5 values against 6)"),
    ]:
        before = network_digest([group, syn, noise])
        change()
        after = network_digest([group, syn, noise])
        assert part in before.differences(after)
        assert before.hexdigest != after.hexdigest
    missing = network_digest([group, syn]).differences(network_digest([group]))
    assert "Synapses 'ds' j is missing from the other network" in missing
    assert len(missing) == len(network_digest([syn]).parts)


def test_digest_is_bitwise():
    a = NetworkDigest({"x": ("1", 1)})
    assert a.differences(NetworkDigest({"x": ("1", 1)})) == []
    start_scope()
    group = NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", name="bg")
    group.v = [0.0, 0.1, 0.2]
    before = network_digest([group])
    group.v = [0.0, 0.1, np.nextafter(0.2, 1)]
    assert before.differences(network_digest([group])) == ["NeuronGroup 'bg' v differs (3 values)"]


def test_compare_runs_the_script_as_it_is_and_the_same_network_on_every_run(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(SCRIPT)
    lines = []
    result = compare(script, dt=[2e-4, 1e-4], target="numpy", args=["--n", "30"], progress=lines.append)
    # the script's argument reached it, and every run built one network, the same
    assert result.exact["spikes"][2] == 30
    assert result.same_network
    assert len(result.digests) == 3 and len({tuple(d) for d in result.digests.values()}) == 1
    # clock-driven, not exact against exact (the script's set_device was overruled): errors grow with dt
    first = [row["first_spike_error"] for row in result.rows]
    assert first[0] > first[1] > 0
    # the tool's dt, not the script's 0.05 ms: the error at dt = 0.2 ms is about dt/2
    assert 0.2 * 2e-4 < first[0] < 2e-4
    assert any("defaultclock.dt = 50. us" in note for note in result.notes)
    assert any("calls set_device()" in note for note in result.notes)
    # one start and one end line per run, the script's print once per run with the run's label
    for label in ("exact", "dt=0.2 ms", "dt=0.1 ms"):
        assert sum(line.startswith(f"[{label}] start") for line in lines) == 1
        assert sum(line.startswith(f"[{label}] done in") for line in lines) == 1
        assert sum(line.startswith(f"[{label}] built ") for line in lines) == 1
    assert sum("built " in line for line in lines) == 3


def test_command_line_passes_script_arguments_and_labels_output(tmp_path, capsys):
    script = tmp_path / "model.py"
    script.write_text(SCRIPT)
    assert main([str(script), "--dt", "0.1", "--target", "numpy", "--", "--n", "12"]) == 0
    captured = capsys.readouterr()
    assert "note: the script sets defaultclock.dt" in captured.out
    assert "built " not in captured.out  # the script's prints go, labelled, to stderr
    built = [line for line in captured.err.splitlines() if "built " in line]
    assert [line.split("]")[0] for line in built] == ["[exact", "[dt=0.1 ms"]
    assert "(the exact run's)" in captured.err


def branching_model():
    """A model whose network depends on the device: a different initial state in the clock-driven runs."""
    group = NeuronGroup(4, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", name="bm")
    group.v = 0.5 if isinstance(get_device(), SparsePropDevice) else 0.25
    spikes = SpikeMonitor(group)
    run(20 * ms)
    return spikes


def test_different_networks_are_refused_before_the_clock_driven_run():
    with pytest.raises(DifferentNetworksError, match=r"at 0\.1 ms .* another network .* NeuronGroup 'bm' v differs"):
        compare(branching_model, dt=[1e-4], target="numpy", progress=lambda line: None)


def test_different_networks_are_reported_on_request():
    result = compare(branching_model, dt=[1e-4], target="numpy", same_network="report", progress=lambda line: None)
    assert not result.same_network
    assert result.digests["exact"] != result.digests["dt=0.1 ms"]
    assert any(note.startswith("DIFFERENT NETWORKS") and "'bm' v differs" in note for note in result.notes)
    assert "DIFFERENT NETWORKS" in result.summary()


def test_command_line_stops_on_different_networks(tmp_path, capsys):
    script = tmp_path / "branching.py"
    script.write_text(
        "from brian2 import *\n"
        "from brian2_sparseprop.device.device import SparsePropDevice\n"
        "group = NeuronGroup(4, 'dv/dt = (1.5 - v)/(10*ms) : 1', threshold='v > 1', reset='v = 0', name='bm')\n"
        "group.v = 0.5 if isinstance(get_device(), SparsePropDevice) else 0.25\n"
        "spikes = SpikeMonitor(group)\n"
        "run(20*ms)\n"
    )
    with pytest.raises(SystemExit) as stop:
        main([str(script), "--dt", "0.1", "--target", "numpy"])
    assert stop.value.code == 2
    assert "NeuronGroup 'bm' v differs" in capsys.readouterr().err


def poisson_model():
    group = NeuronGroup(10, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", name="pm")
    group.v = "rand()"
    noise = PoissonInput(group, "v", 20, 50 * Hz, weight=0.3)  # noqa: F841 (run() collects it)
    spikes = SpikeMonitor(group)
    run(50 * ms)
    return spikes


def test_poisson_input_compares_statistics_only():
    result = compare(poisson_model, dt=[1e-4], target="numpy", progress=lambda line: None)
    assert result.same_network
    assert all(row["statistics_only"] for row in result.rows)
    assert any(
        "PoissonInput" in note and "only the rates, CVs and Fano factors compare" in note for note in result.notes
    )
    assert result.summary().splitlines()[2].startswith("spikes *")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"args": ["--n", "3"]}, ValueError, r"args are passed to a script model only, found args \['--n', '3'\]"),
        ({"args": "--n"}, TypeError, "args must be a sequence of strings, found: '--n'"),
        ({"same_network": "ignore"}, ValueError, "same_network must be one of 'refuse', 'report', found: 'ignore'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        compare(poisson_model, **kwargs)
