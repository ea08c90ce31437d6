import numpy as np
import pytest


@pytest.fixture(params=[0, 1, 2])
def seed(request):
    """Seeds for randomised tests: every seed must pass."""
    return request.param


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


def pytest_configure(config):
    # Recognition tests build Brian2 objects without running them on purpose; Brian2 would log a warning for
    # each when it is garbage-collected (after the test summary).
    from brian2.utils.logger import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")
