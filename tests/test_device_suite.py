"""Brian2's own tests against the device (the spike generator and network subset; the full run is
``python scripts/brian2_suite.py``)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "brian2_suite.py"


@pytest.mark.slow
def test_brian2_suite_subset_has_no_failures(capsys):
    spec = importlib.util.spec_from_file_location("brian2_suite", SCRIPT)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    status = suite.main(["-k", "spikegenerator or test_network"])
    out = capsys.readouterr().out
    assert "failed     0" in out
    passed = int(out.split("passed")[1].split()[0])
    assert passed >= 5
    assert status == 0
