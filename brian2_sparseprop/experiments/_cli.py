"""What the console scripts share: defaults shown in ``--help`` and a ``--quick`` mode with its own defaults."""

import argparse
import sys


def parser_and_mode(argv, **kwargs):
    """An argument parser that shows every default in ``--help``, and whether ``--quick`` was asked for.

    ``--quick`` is read before the options are added, so that a script picks the defaults of its quick
    mode (small sizes, seconds of work) for them and ``--quick --help`` shows those; an option given
    explicitly wins over either set of defaults.

    Parameters
    ----------
    argv : list of str or None
        The arguments (None: ``sys.argv[1:]``).
    **kwargs
        Passed to `argparse.ArgumentParser` (``prog``, ``description``).

    Returns
    -------
    parser : argparse.ArgumentParser
        With ``--quick`` added and `argparse.ArgumentDefaultsHelpFormatter`.
    quick : bool
        Whether ``--quick`` is among the arguments.

    Examples
    --------
    >>> parser, quick = parser_and_mode(["--quick", "-n", "5"], prog="demo")
    >>> _ = parser.add_argument("-n", type=int, default=10 if quick else 1000, help="size")
    >>> quick, parser.parse_args(["--quick"]).n
    (True, 10)
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    quick = pre.parse_known_args(sys.argv[1:] if argv is None else argv)[0].quick
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)
    add_quick(parser)
    return parser, quick


def add_quick(parser):
    """Add the ``--quick`` flag (to a parser or a sub-command's parser)."""
    parser.add_argument(
        "--quick", action="store_true", help="a small run of seconds; `--quick --help` shows the defaults it uses"
    )
