"""Import time of the package against Brian2's own, each in a fresh interpreter, best of ``--repeat``.

Measured (wall clock inside the child, from before to after the statement): ``import brian2``,
``import brian2_sparseprop`` (which registers the device), and ``from brian2_sparseprop.spiking import
EventNetwork``; reported with their differences from ``import brian2`` (target: at most 0.3 s for
``import brian2_sparseprop``). The runs alternate between the statements, so that a change of load on a
shared machine affects all three alike. Usage::

    python benchmarks/import_time.py [--repeat 5]
"""

import argparse
import subprocess
import sys

STATEMENTS = {
    "brian2": "import brian2",
    "brian2_sparseprop": "import brian2_sparseprop",
    "EventNetwork": "from brian2_sparseprop.spiking import EventNetwork",
}


def time_statement(statement):
    """Seconds that ``statement`` takes in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of this many fresh processes (default 5)")
    args = parser.parse_args(argv)
    times = {name: [] for name in STATEMENTS}
    for _ in range(args.repeat):
        for name, statement in STATEMENTS.items():
            times[name].append(time_statement(statement))
    best = {name: min(values) for name, values in times.items()}
    print(f"best of {args.repeat}, each in a fresh process:")
    for name, statement in STATEMENTS.items():
        extra = "" if name == "brian2" else f"  ({best[name] - best['brian2']:+.3f} s vs import brian2)"
        print(f"  {statement:<52} {best[name]:.3f} s{extra}")


if __name__ == "__main__":
    main()
