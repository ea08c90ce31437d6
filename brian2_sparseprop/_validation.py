"""Argument checks shared by the analysis modules: a TypeError for the wrong kind of value, a ValueError
for a bad value, each naming the argument and what was found (``f"{name} must be > 0, found: {value}"``).

Units follow ``docs/conventions.md``: Brian2 Quantities are converted to ``quantities`` Quantities, a
dimensionless Quantity counts as a plain number, and a Quantity with a dimension is refused where a plain
number is meant.
"""

import numbers

import numpy as np
import quantities as pq

_SI_BASE = (pq.m, pq.kg, pq.s, pq.A, pq.K, pq.mol, pq.cd)  # the order of Brian2's dimension exponents


def _is_brian2_quantity(value):
    return type(value).__module__.startswith("brian2.") and hasattr(value, "dim")


def as_quantity(value):
    """A Brian2 Quantity as a ``quantities`` Quantity in SI units; any other value unchanged."""
    if not _is_brian2_quantity(value):
        return value
    units = pq.Quantity(1.0, pq.dimensionless)
    for base, power in zip(_SI_BASE, value.dim._dims):
        if power:
            units = units * base**power
    return pq.Quantity(np.asarray(value, dtype=float), units.units)


def _dimensionless_magnitude(value):
    """The magnitude of a dimensionless Quantity (either library), or the value itself if it is not one."""
    value = as_quantity(value)
    if isinstance(value, pq.Quantity) and value.simplified.dimensionality == pq.dimensionless.dimensionality:
        return value.simplified.magnitude
    return value


def check_real(name, value, *, positive=False, nonnegative=False):
    """A finite real scalar (not a bool, not a Quantity with a dimension) as a float."""
    value = _dimensionless_magnitude(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, pq.Quantity)) or not np.isscalar(value) or not np.isreal(value):
        raise TypeError(f"{name} must be a real number, found: {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, found: {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, found: {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, found: {value}")
    return value


def check_int(name, value, minimum):
    """An integer (not a bool) >= minimum, as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, found: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, found: {value}")
    return int(value)


_KINDS = {"time": pq.s, "frequency": pq.Hz}


def check_quantity(name, value, kind, *, positive=False, nonnegative=False, none=False):
    """A scalar time or frequency Quantity (``quantities`` or Brian2) as a ``quantities`` Quantity.

    Parameters
    ----------
    name : str
        Argument name for the messages.
    value : object
        The argument.
    kind : {'time', 'frequency'}
        The dimension required.
    positive, nonnegative : bool
        Require ``> 0`` or ``>= 0``.
    none : bool
        Whether None is accepted (and returned).

    Returns
    -------
    Quantity or None
        The value, in its own units (a Brian2 Quantity converted to SI units).
    """
    if none and value is None:
        return None
    value = as_quantity(value)
    unit = _KINDS[kind]
    if (
        not isinstance(value, pq.Quantity)
        or value.size != 1
        or value.simplified.dimensionality != unit.simplified.dimensionality
    ):
        raise TypeError(f"{name} must be a {kind} Quantity{' or None' if none else ''}, found: {value!r}")
    magnitude = float(value.magnitude)
    if not np.isfinite(magnitude):
        raise ValueError(f"{name} must be finite, found: {value}")
    if positive and magnitude <= 0:
        raise ValueError(f"{name} must be > 0, found: {value}")
    if nonnegative and magnitude < 0:
        raise ValueError(f"{name} must be >= 0, found: {value}")
    return value.reshape(()) if value.ndim else value


_SI_UNITS = {"time": (pq.s, "s"), "frequency": (pq.Hz, "Hz"), "dimensionless": (pq.dimensionless, "")}
_SI_DIMS = {"time": (0, 0, 1, 0, 0, 0, 0), "frequency": (0, 0, -1, 0, 0, 0, 0), "dimensionless": (0,) * 7}


def _is_quantity(value):
    return isinstance(value, pq.Quantity) or _is_brian2_quantity(value)


def si_value(name, value, kind):
    """A plain number or array in SI units, from a Quantity of either library or a plain value.

    The engine layer's arguments (``EventNetwork``) are plain floats in SI units; a Quantity is
    converted at the boundary (``50 * pq.ms`` becomes 0.05) and one of another dimension is refused.
    Plain values are returned as they are (no copy, no check: the caller checks them), so that existing
    arrays keep their identity. Conversion is vectorised: an array Quantity is rescaled as a whole.

    Parameters
    ----------
    name : str
        Argument name for the messages.
    value : object
        The argument: a ``quantities`` or Brian2 Quantity (scalar or array), or anything else.
    kind : {'time', 'frequency', 'dimensionless'}
        The dimension required of a Quantity; 'dimensionless' for model numbers (a dimensionless
        Quantity such as ``mV / V`` counts as its simplified magnitude).

    Returns
    -------
    float, ndarray or the value
        A float for a scalar Quantity, a float array for an array Quantity, else ``value`` unchanged.

    Raises
    ------
    TypeError
        For a Quantity of another dimension, or a list or tuple holding Quantities (its elements would
        lose their units in ``numpy.asarray``), naming the argument and the unit expected.

    Examples
    --------
    >>> import quantities as pq
    >>> si_value("tau", 10 * pq.ms, "time")
    0.01
    >>> si_value("tau", 0.01, "time")
    0.01
    >>> si_value("tau", 10 * pq.mV, "time")
    Traceback (most recent call last):
    ...
    TypeError: tau must be a time (a Quantity in s, or a plain number in s), found a Quantity in mV
    """
    unit, symbol = _SI_UNITS[kind]
    expected = f"a {kind} (a Quantity in {symbol}, or a plain number in {symbol})" if symbol else "a plain number"
    if isinstance(value, (list, tuple)) and any(_is_quantity(v) for v in value):
        raise TypeError(
            f"{name} must be {expected}, found a {type(value).__name__} of Quantities: give one array Quantity"
        )
    if _is_brian2_quantity(value):
        if tuple(value.dim._dims) != _SI_DIMS[kind]:
            found = f": {value}" if np.size(value) == 1 else f" a Brian2 Quantity array in {value.dim}"
            raise TypeError(f"{name} must be {expected}, found{found}")
        magnitude = np.asarray(value, dtype=float)  # Brian2 keeps SI values: a view, no copy
    elif isinstance(value, pq.Quantity):
        if value.dimensionality.simplified != unit.dimensionality.simplified:
            raise TypeError(f"{name} must be {expected}, found a Quantity in {value.dimensionality}")
        magnitude = np.asarray(value.rescale(unit).magnitude, dtype=float)
    else:
        return value
    return float(magnitude) if magnitude.ndim == 0 else magnitude


def check_choice(name, value, choices):
    """One of the strings ``choices``: TypeError for a non-string, ValueError for an unknown name."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, found: {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, found: {value!r}")
    return value


def check_array(name, value, *, ndim=None, shape=None):
    """A finite float array, from anything numpy reads as numbers (a dimensionless Quantity counts as one).

    A scalar broadcasts to ``shape`` when it is given. ``shape`` entries may be None (any length).
    """
    value = _dimensionless_magnitude(value)
    if isinstance(value, pq.Quantity):
        raise TypeError(f"{name} must be a dimensionless array, found a Quantity in {value.dimensionality}")
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers, found: {type(value).__name__}") from exc
    if shape is not None and a.ndim == 0 and None not in shape:
        a = np.full(shape, float(a))
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, found shape {a.shape}")
    if shape is not None and (a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape))):
        wanted = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {wanted}, found: {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, found non-finite entries")
    return a


def is_signal(value):
    """Whether ``value`` is a regularly sampled Neo signal (a `neo.AnalogSignal`), without importing Neo."""
    return isinstance(value, pq.Quantity) and hasattr(value, "sampling_period") and hasattr(value, "t_start")


def check_signal(name, value, sampling_period):
    """The samples of a dimensionless `neo.AnalogSignal` that starts at 0, as a float array (n, channels).

    ``sampling_period`` (a Quantity) is the step of the computation that reads one sample per step; the
    signal's must equal it (relative 1e-9), in any unit of its dimension.

    Examples
    --------
    >>> import neo
    >>> s = neo.AnalogSignal([[0.5], [1.0]], units="dimensionless", sampling_period=2 * pq.ms)
    >>> check_signal("drive", s, 0.002 * pq.s).tolist()
    [[0.5], [1.0]]
    >>> check_signal("drive", s, 1 * pq.ms)
    Traceback (most recent call last):
    ...
    ValueError: drive must be sampled at the step 1.0 ms, found a sampling period of 2.0 ms
    """
    if value.dimensionality.simplified != pq.dimensionless.dimensionality:
        raise TypeError(f"{name} must be a dimensionless signal, found units {value.dimensionality}")
    period = value.sampling_period
    try:  # (rescale, not simplified: a custom unit such as `step` has no simplified form)
        expected = float(sampling_period.rescale(period.units).magnitude)
    except ValueError:
        raise ValueError(
            f"{name} must be sampled at the step {sampling_period}, found a sampling period of {period} "
            f"(another dimension)"
        ) from None
    if not np.isclose(float(period.magnitude), expected, rtol=1e-9, atol=0.0):
        raise ValueError(f"{name} must be sampled at the step {sampling_period}, found a sampling period of {period}")
    if float(value.t_start.magnitude) != 0.0:
        raise ValueError(f"{name} must start at t = 0 (the start of the computation), found t_start = {value.t_start}")
    return check_array(name, value.rescale(pq.dimensionless).magnitude, ndim=2)
