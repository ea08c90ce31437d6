import numpy as np
import pytest


@pytest.fixture(params=[0, 1, 2])
def seed(request):
    """Seeds for randomised tests: every seed must pass."""
    return request.param


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)
