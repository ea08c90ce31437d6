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


def in_tau(name, value, tau, kind, *, positive=False, nonnegative=False):
    """A time or a frequency of a model with a time constant ``tau``, as a float in units of tau (or 1/tau).

    The rule of ``docs/conventions.md`` for models with a dimensionless mode: with ``tau=None`` time is
    measured in units of tau, and a value is a plain number in those units (or a Quantity in
    `brian2_sparseprop.lyapunov.tau_unit`, which is dimensionless); once ``tau`` is a Quantity, the value
    must be a Quantity of the right dimension too (a plain number would be ambiguous).

    Parameters
    ----------
    name : str
        Argument name for the messages.
    value : object
        The argument.
    tau : Quantity (time) or None
        The model's time constant, already checked.
    kind : {'time', 'frequency'}
        The dimension required when ``tau`` is given.
    positive, nonnegative : bool
        Require ``> 0`` or ``>= 0``.

    Returns
    -------
    float
        The value in units of tau (``kind='time'``) or of 1/tau (``kind='frequency'``).

    Raises
    ------
    TypeError
        For a plain number when ``tau`` is given, or a Quantity with a dimension when it is None.
    ValueError
        For a value that is not finite or breaks ``positive`` / ``nonnegative``.

    Examples
    --------
    >>> in_tau("dt", 0.05, None, "time")
    0.05
    >>> in_tau("dt", 0.5 * pq.ms, 10 * pq.ms, "time")
    0.05
    >>> in_tau("f", 20 * pq.Hz, 10 * pq.ms, "frequency")
    0.2
    >>> in_tau("dt", 0.05, 10 * pq.ms, "time")
    Traceback (most recent call last):
    ...
    TypeError: dt must be a time Quantity when tau is given (tau = 10.0 ms), found: 0.05
    >>> in_tau("dt", 0.5 * pq.ms, None, "time")
    Traceback (most recent call last):
    ...
    TypeError: dt must be a real number in units of tau (tau is None), found: 0.5 ms
    """
    if tau is None:
        quantity = as_quantity(value)
        if isinstance(quantity, pq.Quantity) and (
            quantity.simplified.dimensionality != pq.dimensionless.dimensionality
        ):
            per = "1/tau" if kind == "frequency" else "tau"
            raise TypeError(f"{name} must be a real number in units of {per} (tau is None), found: {quantity}")
        return check_real(name, value, positive=positive, nonnegative=nonnegative)
    quantity = as_quantity(value)
    if not isinstance(quantity, pq.Quantity):
        raise TypeError(f"{name} must be a {kind} Quantity when tau is given (tau = {tau}), found: {value!r}")
    quantity = check_quantity(name, quantity, kind, positive=positive, nonnegative=nonnegative)
    ratio = quantity * tau if kind == "frequency" else quantity / tau
    return float(ratio.simplified.magnitude)


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


# Array checks of the engine layer (`EventNetwork`): arrays of any size (10^9 synapses), so the checks
# work in chunks and never allocate a temporary of the array's size; a bad entry is named by its index.
CHUNK = 2**18  # entries per step of the chunked checks


def real_array(name, value, copy=True):
    """``value`` as a float64 array, or a TypeError naming the argument if it is not made of real numbers.

    Parameters
    ----------
    name : str
        Argument name for the messages.
    value : object
        A real number or an array of real numbers (integers or floats; not bools).
    copy : bool
        Without it, a float64 array is returned as it is (no copy).

    Returns
    -------
    numpy.ndarray
        float64, of ``value``'s shape.

    Examples
    --------
    >>> real_array("tau", [1, 2]).tolist()
    [1.0, 2.0]
    >>> real_array("tau", "ten")
    Traceback (most recent call last):
    ...
    TypeError: tau must be a real number or an array of real numbers, found str 'ten'
    """
    a = np.asarray(value)
    if a.dtype.kind not in "iuf" or isinstance(value, bool):
        raise TypeError(
            f"{name} must be a real number or an array of real numbers, found {type(value).__name__} {value!r:.60}"
        )
    return a.astype(np.float64, copy=copy)


def check_values(name, a, *, positive=False, nonneg=False):
    """Finite (and > 0 or >= 0) entries of the 1-d array ``a``, checked in chunks of `CHUNK` entries.

    Parameters
    ----------
    name : str
        Argument name for the messages.
    a : numpy.ndarray, 1-d
        The values (not copied, not returned).
    positive, nonneg : bool
        Require ``> 0`` or ``>= 0``.

    Raises
    ------
    ValueError
        At the first bad entry, naming its value and index.

    Examples
    --------
    >>> check_values("tau", np.array([0.01, -0.02]), positive=True)
    Traceback (most recent call last):
    ...
    ValueError: tau must be > 0, found -0.02 at index 1
    """
    for start in range(0, a.size, CHUNK):
        part = a[start : start + CHUNK]
        bad = ~np.isfinite(part)
        if bad.any():
            k = start + int(np.argmax(bad))
            raise ValueError(f"{name} must be finite, found {a[k]} at index {k}")
        if positive and (part <= 0).any():
            k = start + int(np.argmax(part <= 0))
            raise ValueError(f"{name} must be > 0, found {a[k]} at index {k}")
        if nonneg and (part < 0).any():
            k = start + int(np.argmax(part < 0))
            raise ValueError(f"{name} must be >= 0, found {a[k]} at index {k}")


def check_csr(indptr, indices, n_rows, n_targets, what, copy=True):
    """Compressed sparse rows ``(indptr, indices)`` as (int64 indptr, C-contiguous int32 indices).

    Parameters
    ----------
    indptr, indices : array_like of int
        Row pointers, shape (n_rows + 1,), and column indices, shape (indptr[-1],).
    n_rows, n_targets : int
        Number of rows and of columns (indices must be in ``[0, n_targets)``).
    what : str
        What the arrays describe, for the messages (``'connectivity'``).
    copy : bool
        Without it, arrays that already have these dtypes are returned as they are; nothing of the
        size of ``indices`` is allocated then (the checks use its minimum and maximum).

    Raises
    ------
    TypeError
        For arrays that are not integers.
    ValueError
        For a wrong shape, a decreasing ``indptr``, or an index out of range (naming its position).

    Examples
    --------
    >>> indptr, indices = check_csr([0, 1, 2], [1, 0], 2, 2, "connectivity")
    >>> indptr.dtype, indices.dtype
    (dtype('int64'), dtype('int32'))
    >>> check_csr([0, 1, 2], [1, 2], 2, 2, "connectivity")
    Traceback (most recent call last):
    ...
    ValueError: connectivity: indices must be in [0, 2), found 2 at position 1
    """
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise TypeError(
            f"{what}: indptr and indices must be integer arrays, found dtypes {indptr.dtype} and {indices.dtype}"
        )
    if indptr.shape != (n_rows + 1,):
        raise ValueError(f"{what}: indptr must have shape ({n_rows + 1},), found {indptr.shape}")
    if indices.ndim != 1:
        raise ValueError(f"{what}: indices must be 1-d, found shape {indices.shape}")
    if indptr[0] != 0:
        raise ValueError(f"{what}: indptr[0] must be 0, found {indptr[0]}")
    steps = np.diff(indptr)
    if (steps < 0).any():
        k = int(np.argmax(steps < 0))
        raise ValueError(
            f"{what}: indptr must be non-decreasing, found indptr[{k}] = {indptr[k]} > "
            f"indptr[{k + 1}] = {indptr[k + 1]}"
        )
    if indptr[-1] != indices.size:
        raise ValueError(f"{what}: indptr[-1] must equal len(indices) = {indices.size}, found {indptr[-1]}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_targets):
        for start in range(0, indices.size, CHUNK):  # the first bad one, without a full-size mask
            part = indices[start : start + CHUNK]
            bad = (part < 0) | (part >= n_targets)
            if bad.any():
                k = start + int(np.argmax(bad))
                raise ValueError(f"{what}: indices must be in [0, {n_targets}), found {indices[k]} at position {k}")
    if copy:  # our own copies
        return indptr.astype(np.int64), indices.astype(np.int32)
    return np.require(indptr, np.int64, "C"), np.require(indices, np.int32, "C")
