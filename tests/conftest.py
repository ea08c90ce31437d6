import os

import numpy as np
import pytest


def _seeds(spec):
    """Seeds named by SPARSEPROP_SEEDS: unset -> 0, 1, 2; 'all' -> 0 .. 99; '7'; '1,4,9'; '0-19' (ranges inclusive)."""
    spec = spec.strip()
    if not spec:
        return [0, 1, 2]
    if spec == "all":
        return list(range(100))
    seeds = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        try:
            seeds.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise pytest.UsageError(
                f"SPARSEPROP_SEEDS must be 'all' or integers and ranges like '0-19,42', found: {spec!r}"
            ) from None
    return seeds


SEEDS = _seeds(os.environ.get("SPARSEPROP_SEEDS", ""))


@pytest.fixture(params=SEEDS)
def seed(request):
    """Seeds for randomised tests: every seed must pass. Rotate them with the environment variable
    SPARSEPROP_SEEDS (e.g. ``SPARSEPROP_SEEDS=0-19`` or ``all`` for 0 .. 99), as scikit-learn's
    ``global_random_seed``."""
    return request.param


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture
def numpy_target():
    """Brian2's numpy code generation target for one test: nothing is compiled (with the default target,
    each string expression a script assigns is compiled with Cython on a fresh machine, seconds each)."""
    from brian2 import prefs

    old = prefs.codegen.target
    prefs.codegen.target = "numpy"
    yield
    prefs.codegen.target = old


@pytest.fixture
def taped(numpy_target):
    """The sparseprop device with the tape of the backward pass (``gradients=True``), Brian2's state reset
    before and after (the device gradient tests)."""
    from brian2 import set_device, start_scope
    from brian2.devices.device import reset_device

    set_device("sparseprop", gradients=True)
    start_scope()
    yield
    reset_device()


@pytest.fixture
def exact(numpy_target):
    """The sparseprop device for one test, Brian2's state reset before and after."""
    from brian2 import set_device, start_scope
    from brian2.devices.device import reset_device

    set_device("sparseprop")
    start_scope()
    yield
    reset_device()


@pytest.fixture
def on_both_devices(numpy_target):
    """``both(run) -> (exact, clocked)``: ``run(device)`` with the sparseprop device, then with Brian2's
    runtime (numpy target), Brian2's device reset after each."""
    from brian2 import set_device
    from brian2.devices.device import reset_device

    def both(run):
        results = []
        for device in ("sparseprop", "runtime"):
            set_device(device)
            try:
                results.append(run(device))
            finally:
                reset_device()
        return tuple(results)

    return both


def pytest_report_header(config):
    return f"SPARSEPROP_SEEDS: {SEEDS if len(SEEDS) <= 10 else f'{SEEDS[0]} .. {SEEDS[-1]} ({len(SEEDS)} seeds)'}"


def pytest_configure(config):
    # Recognition tests build Brian2 objects without running them on purpose; Brian2 would log a warning for
    # each when it is garbage-collected (after the test summary).
    from brian2.utils.logger import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")


@pytest.fixture(autouse=True)
def brian2_default_dt():
    """Every test starts at Brian2's default time step, 0.1 ms (some tests set ``defaultclock.dt``)."""
    from brian2 import defaultclock, ms

    defaultclock.dt = 0.1 * ms
