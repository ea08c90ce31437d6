"""Every runnable example in the package's docstrings runs and shows what it claims."""

import doctest
import importlib
import pkgutil

import pytest

import brian2_sparseprop

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(brian2_sparseprop.__path__, "brian2_sparseprop.")
    if not m.name.rsplit(".", 1)[1].startswith("_")
)


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
