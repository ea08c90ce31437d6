"""The console scripts behave as tools (issue 14, item 4): ``--help`` prints help with the defaults of the
mode asked for and runs nothing, ``--quick`` makes a small run, and output goes to the current directory
or the one chosen, never into docs/."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def _console(name, *args):
    """The command line of console script ``name`` with ``args`` (run through its entry point)."""
    module, func = SCRIPTS[name].split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())", *args]


def _run(cmd, cwd, timeout=600):
    env = {**os.environ, "COLUMNS": "200"}  # help lines unwrapped, so a default is found on one line
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _files(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_help_runs_nothing(name, tmp_path):
    out = _run(_console(name, "--help"), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:")
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["sparseprop-demo", "--help"], ["--quick", "(default: 100000)", "(default: output/demo_s1.png)"]),
        (["sparseprop-demo", "--quick", "--help"], ["(default: 2000)", "(default: 0.5)"]),
        (["sparseprop-floss", "--help"], ["--quick", "(default: 80)", "(default: flossing_experiment)"]),
        (["sparseprop-floss", "--quick", "--help"], ["(default: 20)", "(default: [5, 10])"]),
        (["sparseprop-balanced", "lyapunov", "--help"], ["--quick", "(default: 5000)", "(default: 0:20:20)"]),
        (
            ["sparseprop-balanced", "--quick", "learning", "--help"],
            ["(default: 500)", "(default: 0,5)", "(default: 60.0)"],
        ),
        (["sparseprop-balanced", "critical", "--quick", "--help"], ["(default: 5.0)", "(default: balanced_results)"]),
    ],
    ids=["demo", "demo-quick", "floss", "floss-quick", "balanced", "balanced-quick", "balanced-quick-after"],
)
def test_console_script_help_shows_the_defaults_of_its_mode(args, shown, tmp_path):
    out = _run(_console(*args), tmp_path)
    assert out.returncode == 0, out.stderr
    for text in shown:
        assert text in out.stdout, text


def test_demo_quick_mode_writes_into_the_current_directory(tmp_path):
    out = _run(_console("sparseprop-demo", "--quick"), tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "S1: 2000 LIF neurons" in out.stdout
    assert _files(tmp_path) == ["output", "output/demo_s1.png"]


@pytest.mark.slow  # the whole quick experiment: about 25 s on a quiet machine
def test_floss_quick_mode_writes_into_the_current_directory(tmp_path):
    pytest.importorskip("jax")
    out = _run(_console("sparseprop-floss", "--quick"), tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert _files(tmp_path) == ["flossing_experiment.json", "flossing_experiment.png"]


def test_balanced_quick_mode_writes_into_the_current_directory(tmp_path):
    out = _run(_console("sparseprop-balanced", "lyapunov", "--quick", "--workers", "1", "--figure", "l.png"), tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "common theory" in out.stdout and "independent theory" in out.stdout
    files = _files(tmp_path)
    assert "l.png" in files and all(f == "l.png" or f.startswith("balanced_results") for f in files), files


EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
FIGURES = {
    "brian2_exact_mode": ["brian2_exact_mode.png"],
    "brian2_training": ["brian2_training.png"],
    "elephant_analysis": ["elephant_analysis.png"],
    "rate_network_lyapunov": ["rate_network_lyapunov.png"],
    "spiking_flossing_spectra": ["spiking_flossing_spectra.png"],
    "train_population_rates": ["train_population_rates.png"],
    "train_target_times": ["train_target_times.png"],
    "yin_yang": ["yin_yang.png", "yin_yang_seed0.json"],
}


def _example(name, *args):
    return [sys.executable, str(ROOT / "examples" / f"{name}.py"), *args]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_help_shows_defaults_and_runs_nothing(name, tmp_path):
    out = _run(_example(name, "--help"), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:") and "--quick" in out.stdout and "(default:" in out.stdout
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    # the slow ones run in the documentation build too (the gallery runs every example in its quick mode)
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in ("rate_network_lyapunov", "brian2_exact_mode") else n
        for n in EXAMPLES
    ],
)
def test_example_quick_mode_writes_only_into_the_chosen_directory(name, tmp_path):
    out = _run(
        _example(
            name, "--quick", "--out", "chosen", *(["--figures", "chosen"] * (name in ("balanced_chaos_suppression",)))
        ),
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    files = _files(tmp_path)
    assert files and all(f.startswith("chosen") for f in files), files
    for figure in FIGURES.get(name, ["balanced_lyapunov_vs_I1_quick.png"]):
        assert f"chosen/{figure}" in files, files
