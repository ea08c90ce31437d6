"""Argument checks shared by the analysis modules: a TypeError for the wrong kind of value, a ValueError
for a bad value, each naming the argument and what was found."""

import numbers

import numpy as np
import quantities as pq


def check_real(name, value, *, positive=False, nonnegative=False):
    """A finite real scalar (not a bool, not a Quantity) as a float."""
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
