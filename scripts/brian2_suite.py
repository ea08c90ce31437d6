"""Run Brian2's own test suite against the 'sparseprop' device and report passed / skipped / failed.

Brian2 marks the tests that any device should pass as ``standalone_compatible``; this script runs
them (single-run and multiple-run tests, as ``brian2.test(test_standalone=...)`` does) with
``set_device('sparseprop')``. Tests whose network the device refuses (NotImplementedError, e.g.
non-linear or multi-dimensional models, synaptic dynamics, TimedArray) count as skipped, the others
must pass, except the tests in ``DIFFERENCES``, which assert the clock-driven runtime's answer where the exact
engine's differs (counted as "differ", with the reason). Usage::

    python scripts/brian2_suite.py [--long] [-k EXPRESSION] [--list-failures] [--list-skips]

The exit status is 0 when no accepted test failed (tests that differ by design do not count).
"""

import argparse
import collections
import os
import sys

import pytest

# Tests that fail by design: they assert what Brian2's clock-driven runtime computes where the exact engine
# differs (each checked against the exact answer by this project's own tests, named here).
DIFFERENCES = {
    "test_refractory.py::test_refractoriness_threshold": (
        "a perfect integrator (dv/dt = 199.99 Hz) crosses 'v > 1' at 5.00025 ms and fires again when its 10 ms "
        "of refractoriness end; the runtime reports the steps 5 and 15 ms that hold those times "
        "(tests/test_device_linear.py::test_perfect_integrator_through_refractoriness_against_the_runtime)"
    ),
    "test_monitor.py::test_spike_monitor": (
        "perfect integrators (dv/dt = 101 Hz and 1001 Hz) cross 'v > 1' at 9.90099 ms and every 0.999 ms from "
        "0.999 ms; the runtime reports the steps 9.9 ms and k + 0.9 ms that hold those times "
        "(tests/test_device_linear.py::test_perfect_integrator_through_refractoriness_against_the_runtime)"
    ),
    "test_poissoninput.py::test_poissoninput_refractory": (
        "PoissonInput at rate 1/dt: the runtime draws a binomial count per step (exactly one event per step "
        "here), the device a Poisson process in continuous time (docs/device.md, 'PoissonInput')"
    ),
}


def difference(nodeid):
    """The reason why a failed test differs by design, or None."""
    name = nodeid.split("/")[-1]
    return next((why for key, why in DIFFERENCES.items() if name.startswith(key)), None)


class _Outcomes:
    """pytest plugin collecting the outcome of every test (call phase, or setup when it failed)."""

    def __init__(self):
        self.outcomes = collections.OrderedDict()
        self.messages = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = report.outcome
            if report.outcome != "passed":
                text = getattr(report, "longreprtext", "") or str(report.longrepr)
                self.messages[report.nodeid] = text.strip().splitlines()[-1][:300] if text.strip() else ""


def run_suite(long_tests=False, keyword=None):
    """Run the standalone-compatible Brian2 tests with the device; returns the outcome collector."""
    import brian2
    from brian2.core.preferences import prefs
    from brian2.tests import PreferencePlugin, make_argv

    import brian2_sparseprop  # noqa: F401  (registers the device)

    prefs.reset_to_defaults()
    dirname = os.path.dirname(brian2.__file__)
    collector = _Outcomes()
    for multiple_runs in (False, True):
        plugin = PreferencePlugin(prefs, fail_for_not_implemented=False)
        plugin.device = "sparseprop"
        plugin.device_options = {"directory": None, "with_output": False}
        if multiple_runs:
            plugin.device_options["build_on_run"] = False
        markers = "standalone_compatible" + ("" if long_tests else " and not long")
        markers += " and multiple_runs" if multiple_runs else " and not multiple_runs"
        argv = make_argv([dirname], markers) + ["-p", "no:cacheprovider", "-q", "--no-header", "-W", "ignore"]
        if keyword:
            argv += ["-k", keyword]
        pytest.main(argv, plugins=[plugin, collector])
    return collector


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="include Brian2's long tests")
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    parser.add_argument("--list-failures", action="store_true", help="list the failed tests with their error")
    parser.add_argument("--list-skips", action="store_true", help="list the skipped tests with the reason")
    args = parser.parse_args(argv)
    collector = run_suite(long_tests=args.long, keyword=args.keyword)
    for nodeid, outcome in collector.outcomes.items():
        if outcome == "failed" and difference(nodeid):
            collector.outcomes[nodeid] = "differs"
    counts = collections.Counter(collector.outcomes.values())
    print()
    print(f"Brian2 {__import__('brian2').__version__} standalone-compatible tests with set_device('sparseprop'):")
    print(f"  passed  {counts['passed']:4d}")
    print(f"  skipped {counts['skipped']:4d}  (refused by the device with NotImplementedError, or skipped by Brian2)")
    print(f"  failed  {counts['failed']:4d}")
    print(f"  differ  {counts['differs']:4d}  (fail by design: they assert the runtime's time steps, see DIFFERENCES)")
    for kind, flag in (("failed", args.list_failures), ("differs", args.list_failures), ("skipped", args.list_skips)):
        if flag or (kind == "failed" and counts["failed"]):
            print(f"\n{kind}:")
            for nodeid, outcome in collector.outcomes.items():
                if outcome == kind:
                    why = difference(nodeid) if kind == "differs" else collector.messages.get(nodeid, "")
                    print(f"  {nodeid}\n      {why}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
