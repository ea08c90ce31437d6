"""Exact vs clock-driven comparison: the function, the metrics and the command line."""

import numpy as np
import pytest
from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms, run

from brian2_sparseprop.device.compare import compare
from brian2_sparseprop.experiments.compare import main

SCRIPT = """
from brian2 import NeuronGroup, SpikeMonitor, run, ms
G = NeuronGroup(8, 'dv/dt = (I - v)/(10*ms) : 1\\nI : 1', threshold='v > 1', reset='v = 0')
G.I = '1.2 + 0.1*i'
spikes = SpikeMonitor(G)
run(30*ms)
"""


def feedforward():
    """A non-chaotic network: drives from rand(), a generator input with delays, refractoriness."""
    group = NeuronGroup(
        100,
        "dv/dt = (I - v)/(10*ms) : 1 (unless refractory)\nI : 1",
        threshold="v > 1",
        reset="v = 0",
        refractory=1 * ms,
    )
    group.I = "1.05 + 2*rand()"
    generator = SpikeGeneratorGroup(1, [0, 0], [13.37, 31.1] * ms)
    syn = Synapses(generator, group, on_pre="v += 0.2", delay=0.5 * ms)
    syn.connect()
    spikes = SpikeMonitor(group)
    run(60 * ms)
    return {"group": spikes}


def test_error_falls_linearly_with_dt(seed):
    dts = [4e-4, 1e-4]
    result = compare(feedforward, dt=dts, seed=seed, target="numpy")
    first = np.array([r["first_spike_error"] for r in result.rows])
    # Brian2 stamps a spike with the start of the step in which it happens: the first-spike error is
    # uniform in [0, dt), mean dt/2; over 100 neurons the mean has a relative sd of about 6 %
    np.testing.assert_allclose(first / np.array(dts), 0.5, rtol=0.3)
    slope = np.log(first[0] / first[1]) / np.log(dts[0] / dts[1])
    assert 0.7 < slope < 1.3, slope
    mean_error = np.array([r["spike_time_error"] for r in result.rows])
    assert np.all(np.diff(mean_error) < 0)
    for row in result.rows:
        # clock-driven ISIs are rounded up to whole steps: the error grows from spike to spike
        assert row["last_spike_error"] > row["first_spike_error"]
    for row in result.rows:
        assert row["rate_exact"] == pytest.approx(row["rate_clock"], rel=0.1)


def test_a_failed_run_before_does_not_change_the_names(numpy_target):
    """A magic run() that failed leaves its objects in Brian2's magic network until the next magic run; the
    comparison drops them first, so that both legs name their objects alike (else the networks differ)."""

    def failing():
        group = NeuronGroup(1, "dv/dt = -v/tau_undefined : 1")  # noqa: F841 (collected by run())
        run(1 * ms)

    with pytest.raises(Exception, match="tau_undefined"):
        failing()
    result = compare(feedforward, dt=[4e-4], seed=0, target="numpy")
    assert result.same_network


def grid_generator():
    generator = SpikeGeneratorGroup(3, [0, 1, 2, 0, 2], [1, 2, 3, 4.5, 7] * ms)
    spikes = SpikeMonitor(generator)
    run(10 * ms)
    return spikes


def test_identical_spikes_give_zero_errors():
    # spike times on the grid of every dt: clock-driven and exact runs agree exactly
    result = compare(grid_generator, dt=[5e-4, 1e-4], target="numpy")
    for row in result.rows:
        assert row["first_spike_error"] == 0
        assert row["spike_time_error"] == 0
        assert row["last_spike_error"] == 0
        assert row["count_difference"] == 0
        assert row["van_rossum"] == pytest.approx(0, abs=1e-12)
        assert row["divergence_time"] == np.inf


def test_divergence_time_reports_the_first_mismatch():
    result = compare(feedforward, dt=[1e-3], target="numpy", tolerance=0.5e-3)
    row = result.rows[0]
    times, indices, n, _ = result.exact["group"]
    assert 0 < row["divergence_time"] < 0.06
    assert np.any(np.isclose(times, row["divergence_time"])) or np.any(
        np.isclose(result.clock[1e-3]["group"][0], row["divergence_time"])
    )


def test_command_line_with_plot(tmp_path, capsys):
    script = tmp_path / "model.py"
    script.write_text(SCRIPT)
    figure = tmp_path / "comparison.png"
    assert main([str(script), "--dt", "0.2", "0.1", "--target", "numpy", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "spikes" in out and "diverge (ms)" in out
    assert len(out.strip().splitlines()) == 2 + 2 + 1
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": 42}, TypeError, "model must be a script path or a callable, found: int"),
        ({"model": "/no/such/script.py"}, ValueError, "model script not found: /no/such/script.py"),
        ({"dt": [1e-4, 0.0]}, ValueError, r"dt must be > 0, found: 0.0"),
        ({"tolerance": -1}, ValueError, r"tolerance must be > 0, found: -1"),
        ({"time_constant": 0}, ValueError, r"time_constant must be > 0, found: 0"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs = dict({"model": grid_generator}, **kwargs)
    with pytest.raises(error, match=match):
        compare(**kwargs)


def no_monitor():
    group = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")  # noqa: F841 (run() collects it)
    run(1 * ms)
    return []


def wrong_return():
    return 3


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (no_monitor, ValueError, "the model recorded no spikes"),
        (wrong_return, TypeError, "must return a SpikeMonitor, a list or a dict of them, found: int"),
    ],
)
def test_bad_models(model, error, match):
    with pytest.raises(error, match=match):
        compare(model, dt=[1e-4], target="numpy")
