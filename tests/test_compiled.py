"""The compiled modules' interfaces: struct dtypes, engine codes, the delay queue against ``heapq``, the
growth of the engine's buffers when memory runs out, and a module that cimports the engine."""

import heapq
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking import _delay_queue, _engine

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------- layouts and codes
def test_neuron_dtype_is_the_16_byte_record_of_the_c_struct():
    dt = _engine.NEURON_DTYPE
    assert dt.names == ("x", "pos", "flags", "spare")
    assert [dt.fields[k][0] for k in dt.names] == [np.dtype(np.float64), np.dtype(np.int32), np.dtype(np.uint16)] + [
        np.dtype(np.uint16)
    ]
    assert [dt.fields[k][1] for k in dt.names] == [0, 8, 12, 14]
    assert dt.itemsize == 16


def test_delay_event_dtype_is_read_alike_by_both_modules():
    dt = _engine.DELAY_EVENT_DTYPE
    assert dt == _delay_queue.DELAY_EVENT_DTYPE
    assert dt.names == ("t_arr", "t_spk", "syn", "src", "seq", "k")
    assert dt.itemsize == 48  # 4 bytes of padding after the int32 src, as C lays the struct out


def test_flag_bits_kinds_and_classes_do_not_overlap():
    F, K = _engine.FLAG_CODES, _engine.KIND_CODES
    bits = [F[k] for k in ("refractory", "integrate_refractory", "theta", "record", "rate")]
    assert all(b & (b - 1) == 0 for b in bits) and len(set(bits)) == len(bits)
    assert max(bits) < 1 << F["kind_shift"] < 1 << F["class_shift"]
    assert max(K.values()) < 1 << (F["class_shift"] - F["kind_shift"])
    assert F["class_shift"] + F["class_bits"] == 16
    assert len(set(K.values())) == len(K)  # distinct codes (each model's file adds its own)
    assert set(_engine.STATUS_CODES) == {"done", "budget"}


# ---------------------------------------------------------------------------------------- delay queue
events = st.lists(
    st.tuples(st.sampled_from([0.0, 1e-3, 2e-3, 2.5e-3]) | st.floats(0, 1, allow_nan=False), st.booleans()),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(program=events)
def test_delay_queue_matches_heapq(program):
    # each step pushes an event or (True) pops the first; ties in arrival time go to the event sent first
    q, ref, seq = _delay_queue.EventQueue(), [], 0
    for t_arr, pop in program:
        if pop and ref:
            t, s = heapq.heappop(ref)
            assert q.pop()[0::4] == (t, s)
        else:
            q.push(t_arr, -t_arr, seq % 7, seq)
            heapq.heappush(ref, (t_arr, seq))
            seq += 1
        assert len(q) == len(ref)
    assert sorted(q.events()[["t_arr", "seq"]].tolist()) == sorted(ref)


def test_delay_queue_grows_geometrically_and_keeps_its_events():
    q = _delay_queue.EventQueue()
    caps = set()
    for k in range(1000):
        q.push(float(1000 - k), 0.0, 0, k)
        caps.add(q.capacity)
    assert sorted(caps) == [64, 128, 256, 512, 1024]
    assert [q.pop()[0] for _ in range(1000)] == [float(t) for t in range(1, 1001)]


def test_delay_queue_beyond_its_limit_raises_and_stays_unchanged():
    q = _delay_queue.EventQueue(limit=100)
    for k in range(100):
        q.push(float(k), 0.0, 0, k)
    with pytest.raises(MemoryError, match="cannot grow the queue of delayed spikes beyond 100 events"):
        q.push(-1.0, 0.0, 0, 100)
    assert len(q) == 100 and q.pop()[0] == 0.0


def test_delay_queue_shift_keeps_the_order():
    q = _delay_queue.EventQueue()
    for k, t in enumerate([3.0, 1.0, 2.0, 1.0]):
        q.push(t, t - 0.5, k, k)
    q.shift(1.0)
    assert [q.pop() for _ in range(4)] == [
        (0.0, -0.5, 1, 1, 1),
        (0.0, -0.5, 3, 3, 3),
        (1.0, 0.5, 2, 2, 2),
        (2.0, 1.5, 0, 0, 0),
    ]


def test_empty_delay_queue_pop_is_an_index_error():
    with pytest.raises(IndexError, match="empty queue"):
        _delay_queue.EventQueue().pop()


# ---------------------------------------------------------------------------------------- out of memory
def delayed_network(seed):
    """Excitatory/inhibitory LIF with delays and Poisson input: many spikes and many delayed events."""
    rng = np.random.default_rng(seed)
    n, k = 200, 20
    indices = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    net = EventNetwork(
        n,
        tau=0.01,
        drive=0.9,
        refractory=2e-3,
        v_init=rng.uniform(0, 1, n),
        indptr=np.arange(0, n * k + 1, k),
        indices=indices,
        weights=np.where(np.repeat(np.arange(n) < 160, k), 0.05, -0.2),
        delays=rng.uniform(1e-3, 5e-3, n * k),
        seed=seed,
    )
    net.add_poisson_input(rate=2000.0, weight=0.05)
    return net


@pytest.mark.parametrize(("record", "delayed", "what"), [(1500, 10**9, "spike record"), (10**9, 80, "delayed spikes")])
def test_buffer_that_cannot_grow_raises_keeps_the_spikes_and_the_run_continues(seed, record, delayed, what):
    # a limit makes the growth fail as a failed allocation does; every failure must leave the engine
    # consistent, so that the continued run is the uninterrupted one, spike for spike
    t_end = 0.5
    reference = delayed_network(seed)
    reference.run(t_end)
    assert reference.spike_times.size > 3 * 1500
    net = delayed_network(seed)
    net.run(0.0)
    net._engine.set_memory_limits(record, delayed)
    failures = 0
    while True:
        try:
            net.run(t_end - net.t)
            break
        except MemoryError as exc:
            assert what in str(exc)
            failures += 1
            assert net.spike_times.size == 0 or net.spike_times.max() <= net.t
            if what == "delayed spikes":
                net._engine.set_memory_limits(record, 10**9)  # memory freed
    assert failures >= (3 if what == "spike record" else 1)
    np.testing.assert_array_equal(net.spike_times, reference.spike_times)
    np.testing.assert_array_equal(net.spike_indices, reference.spike_indices)


def test_memory_limits_below_the_current_sizes_are_refused():
    net = delayed_network(0)
    net.run(0.0)
    with pytest.raises(ValueError, match="limits must be >= 1"):
        net._engine.set_memory_limits(0, 10)


# ---------------------------------------------------------------------------------------- cimport
def test_a_module_can_cimport_the_engine(tmp_path):
    """What the adjoint and the tangent-space code will do: cimport `Engine` and the kernels under the
    package's name, compile, and run against the installed engine's objects."""
    pytest.importorskip("Cython")
    include = tmp_path / "include" / "brian2_sparseprop"
    include.mkdir(parents=True)
    (include / "spiking").symlink_to(ROOT / "cython_src", target_is_directory=True)
    (tmp_path / "probe.pyx").write_text(
        textwrap.dedent(
            """
            from brian2_sparseprop.spiking._engine cimport Engine, KIND, F_RECORD
            from brian2_sparseprop.spiking._models cimport KIND_LIF_U, model_advance, KIND_LIF

            def probe(Engine eng, int i):
                return eng.n_spikes, KIND(eng.nrn[i].flags) == KIND_LIF_U, eng.value(i, eng.t)

            def advance_lif(double v, double dt):
                return model_advance(KIND_LIF, v, dt, 1.0, 2.0)
            """
        )
    )
    (tmp_path / "setup.py").write_text(
        textwrap.dedent(
            f"""
            import numpy as np
            from Cython.Build import cythonize
            from setuptools import Extension, setup
            ext = Extension("probe", ["probe.pyx"], include_dirs=[np.get_include()])
            setup(ext_modules=cythonize([ext], include_path=[{str(include.parent)!r}], language_level=3))
            """
        )
    )
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tmp_path, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-3000:]
    so = next(tmp_path.glob("probe*.so"))
    spec = importlib.util.spec_from_file_location("probe", so)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)

    net = EventNetwork(1, tau=0.01, drive=1.1)
    net.run(0.05)
    n_spikes, shared, v = probe.probe(net._engine, 0)
    assert (n_spikes, shared) == (net.n_spikes, True) and n_spikes == net.spike_times.size > 0
    assert v == net.v[0]
    assert probe.advance_lif(0.0, 1.0) == pytest.approx(2.0 * (1 - np.exp(-1.0)), rel=1e-15)
    with pytest.raises(TypeError, match="Engine"):
        probe.probe(object(), 0)
