"""Every runnable example in the package's docstrings runs and shows what it claims: public and private
modules, compiled ones included (their docstrings hold the examples of the engine's Python access)."""

import doctest
import importlib
import pkgutil

import pytest

import brian2_sparseprop

MODULES = sorted(m.name for m in pkgutil.walk_packages(brian2_sparseprop.__path__, "brian2_sparseprop."))
COMPILED = [
    "brian2_sparseprop.spiking._delay_queue",
    "brian2_sparseprop.spiking._engine",
    "brian2_sparseprop.spiking._heap",
]


def test_compiled_modules_are_collected():
    assert set(COMPILED) <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # optional extras (e.g. jax) may be missing
        pytest.skip(f"{name} needs an optional dependency: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if result.attempted == 0:
        pytest.skip(f"{name} has no docstring examples")
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
