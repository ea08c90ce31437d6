"""What ``import brian2_sparseprop`` loads, the lazy public names, and where private Brian2 names are imported."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import brian2.only
import pytest

import brian2_sparseprop
import brian2_sparseprop.rate

PACKAGE = Path(brian2_sparseprop.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
PRIVATE_NAMES_MODULE = PACKAGE / "device" / "_brian2.py"
#: what ``from brian2 import *`` gives: Brian2's public scripting namespace
PUBLIC_BRIAN2 = set(brian2.only.__all__)


def _modules_after(statement):
    """The module names in sys.modules after running ``statement`` in a fresh interpreter."""
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement", ["import brian2_sparseprop", "from brian2_sparseprop.spiking import EventNetwork"]
)
def test_import_loads_no_analysis_module(statement):
    loaded = _modules_after(statement)
    assert "brian2_sparseprop.device.device" in loaded  # the device is registered
    heavy = ("jax", "elephant", "neo", "scipy.integrate", "scipy.signal", "scipy.optimize", "brian2_sparseprop.neo")
    assert not {m for m in loaded if m.split(".")[0] == "jax" or m in heavy}
    assert not {m for m in loaded if m.startswith("brian2_sparseprop.rate.")}
    assert not {m for m in loaded if m.startswith("brian2_sparseprop.experiments")}


def test_import_registers_the_device():
    loaded = subprocess.run(
        [
            sys.executable,
            "-P",
            "-c",
            "import brian2_sparseprop; from brian2 import set_device, get_device; set_device('sparseprop');"
            "print(type(get_device()).__name__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "SparsePropDevice"


def test_rate_names_import_their_module_only():
    loaded = _modules_after("from brian2_sparseprop import RateNetwork")
    assert "brian2_sparseprop.rate.lyapunov" in loaded
    assert "brian2_sparseprop.rate.meanfield" not in loaded
    assert "jax" not in loaded


@pytest.mark.parametrize("package", [brian2_sparseprop, brian2_sparseprop.rate], ids=lambda p: p.__name__)
def test_every_public_name_resolves_to_its_definition(package):
    for name in package.__all__:
        value = getattr(package, name)
        assert getattr(importlib.import_module(value.__module__), name) is value
        assert name in dir(package)


@pytest.mark.parametrize("package", [brian2_sparseprop, brian2_sparseprop.rate], ids=lambda p: p.__name__)
def test_unknown_names_raise_attribute_error(package):
    with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_submodules_are_attributes():
    assert brian2_sparseprop.rate.meanfield.__name__ == "brian2_sparseprop.rate.meanfield"
    assert brian2_sparseprop.experiments.__name__ == "brian2_sparseprop.experiments"


def _brian2_imports(path):
    """(line, text) of every import from Brian2 in a source file that is not a public top-level name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if a.name.startswith("brian2.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("brian2."):
                found.append((node.lineno, f"from {node.module} import ..."))
            elif node.module == "brian2":
                private = [a.name for a in node.names if a.name not in PUBLIC_BRIAN2 or a.name == "all_devices"]
                found += [(node.lineno, f"from brian2 import {name}") for name in private]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "brian2":
            if node.attr not in PUBLIC_BRIAN2:
                found.append((node.lineno, f"brian2.{node.attr}"))
    return found


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p != PRIVATE_NAMES_MODULE], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_private_brian2_names_come_from_one_module(path):
    assert _brian2_imports(path) == [], f"import these through {PRIVATE_NAMES_MODULE.relative_to(PACKAGE.parent)}"


def test_the_check_finds_private_imports():
    assert [text for _, text in _brian2_imports(PRIVATE_NAMES_MODULE)][:2] == [
        "from brian2.codegen.runtime.numpy_rt import ...",
        "from brian2.core.magic import ...",
    ]


def test_the_engine_api_imports_nothing_from_brian2():
    spiking = importlib.import_module("brian2_sparseprop.spiking")
    for info in pkgutil.iter_modules(spiking.__path__):
        path = PACKAGE / "spiking" / f"{info.name}.py"
        if not path.exists():
            continue  # compiled engine modules
        tree = ast.parse(path.read_text())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0]
        assert not [m for m in modules if m.split(".")[0] == "brian2"], path
