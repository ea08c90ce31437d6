"""Import time of the package against Brian2's own, each in a fresh interpreter, best of ``--repeat``.

Measured in CPU seconds of the child process (from before to after the statement; far less disturbed
by other jobs on a shared machine than wall-clock time, which is printed beside it): ``import brian2``,
``import brian2_sparseprop`` (which registers the device), and ``from brian2_sparseprop.spiking import
EventNetwork``; reported with their differences from ``import brian2`` (target: at most 0.3 s for
``import brian2_sparseprop``). The runs alternate between the statements, so that a change of load on a
shared machine affects all three alike. ``--baseline PATH`` also times ``import brian2_sparseprop`` from
another checkout (a source tree with its compiled modules built in place, put first on ``PYTHONPATH``),
e.g. the main branch before a change. Usage::

    python benchmarks/import_time.py [--repeat 5] [--baseline /path/to/other/checkout]
"""

import argparse
import os
import subprocess
import sys

STATEMENTS = {
    "brian2": "import brian2",
    "brian2_sparseprop": "import brian2_sparseprop",
    "EventNetwork": "from brian2_sparseprop.spiking import EventNetwork",
}


def time_statement(statement, path=None):
    """(CPU, wall) seconds that ``statement`` takes in a fresh interpreter (with ``path`` first on PYTHONPATH)."""
    code = (
        "import time; c, w = time.process_time(), time.perf_counter(); "
        f"{statement}; print(time.process_time() - c, time.perf_counter() - w)"
    )
    env = dict(os.environ, PYTHONPATH=path) if path else None
    # -P: the current directory must not shadow the package (or the baseline) being timed
    run = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, env=env)
    return tuple(float(x) for x in run.stdout.split())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of this many fresh processes (default 5)")
    parser.add_argument("--baseline", help="another checkout whose 'import brian2_sparseprop' is timed as well")
    args = parser.parse_args(argv)
    runs = [(name, statement, None) for name, statement in STATEMENTS.items()]
    if args.baseline:
        runs.append((f"baseline {args.baseline}", STATEMENTS["brian2_sparseprop"], args.baseline))
    times = {name: [] for name, _, _ in runs}
    for _ in range(args.repeat):
        for name, statement, path in runs:
            times[name].append(time_statement(statement, path))
    cpu = {name: min(c for c, _ in values) for name, values in times.items()}
    wall = {name: min(w for _, w in values) for name, values in times.items()}
    print(f"best of {args.repeat}, each in a fresh process: CPU s (wall s)")
    for name, statement, path in runs:
        label = statement if path is None else f"{statement} ({path})"
        extra = "" if name == "brian2" else f"  {cpu[name] - cpu['brian2']:+.3f} s CPU vs import brian2"
        print(f"  {label:<60} {cpu[name]:.3f} ({wall[name]:.3f}){extra}")


if __name__ == "__main__":
    main()
