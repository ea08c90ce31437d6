"""The one table of transfer functions of the rate models: pairs (phi, phi') by name.

Every rate module resolves a name here: :mod:`~brian2_sparseprop.rate.lyapunov` (rate networks and RNN
maps, all four), :mod:`~brian2_sparseprop.rate.balanced` and :mod:`~brian2_sparseprop.rate.meanfield`
(``'relu'`` and ``'tanh'``; the mean-field theory evaluates Gaussian moments of ``'relu'`` in closed form
and of the others by quadrature of these functions), :mod:`~brian2_sparseprop.rate.learning` and the JAX
models of :mod:`~brian2_sparseprop.rate.flossing`. The functions work on numpy and JAX arrays alike (they
use the array's own namespace), so the JAX models differentiate the same functions the numpy models use.
"""

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice

__all__ = ["Nonlinearity", "NONLINEARITIES", "resolve"]


def _xp(x):
    """The array namespace of x (numpy for anything that is not an array of another library)."""
    ns = getattr(x, "__array_namespace__", None)
    return np if ns is None else ns()


def _tanh(x):
    return _xp(x).tanh(x)


def _dtanh(x):
    return 1.0 - _xp(x).tanh(x) ** 2


def _sigmoid(x):
    return 0.5 * (1.0 + _xp(x).tanh(0.5 * x))


def _dsigmoid(x):
    s = _sigmoid(x)
    return s * (1.0 - s)


def _relu(x):
    return _xp(x).maximum(x, 0.0)


def _drelu(x):
    return _xp(x).where(x > 0, 1.0, 0.0)


def _erf(x):
    # scaled so that the slope at 0 is 1, like tanh
    xp = _xp(x)
    if xp is np:
        from scipy.special import erf
    else:
        from jax.scipy.special import erf
    return erf(0.5 * math.sqrt(math.pi) * x)


def _derf(x):
    return _xp(x).exp(-0.25 * math.pi * x**2)


@dataclass(frozen=True)
class Nonlinearity:
    """A transfer function and its derivative, vectorised over numpy or JAX arrays.

    Attributes
    ----------
    name : str
        Its name in :data:`NONLINEARITIES` (``'custom'`` for a user's pair).
    phi : callable
        ``phi(x)``.
    dphi : callable
        ``phi'(x)``.
    """

    name: str
    phi: object
    dphi: object


#: The transfer functions by name.
NONLINEARITIES = {
    "tanh": Nonlinearity("tanh", _tanh, _dtanh),
    "sigmoid": Nonlinearity("sigmoid", _sigmoid, _dsigmoid),
    "relu": Nonlinearity("relu", _relu, _drelu),
    "erf": Nonlinearity("erf", _erf, _derf),
}


def resolve(phi, *, allowed=None, callables=False):
    """The :class:`Nonlinearity` named ``phi`` (or made from a pair of callables when ``callables``).

    Parameters
    ----------
    phi : str or tuple of two callables
        A name in :data:`NONLINEARITIES`, or ``(phi, dphi)``.
    allowed : tuple of str or None
        Names the caller supports (None: all).
    callables : bool
        Whether a pair ``(phi, dphi)`` of vectorised callables is accepted.

    Returns
    -------
    Nonlinearity

    Raises
    ------
    TypeError
        If ``phi`` is neither a name nor (when accepted) a pair of callables.
    ValueError
        If the name is unknown or not among ``allowed``.

    Examples
    --------
    >>> f = resolve("relu")
    >>> f.phi(np.array([-1.0, 2.0])), f.dphi(np.array([-1.0, 2.0]))
    (array([0., 2.]), array([0., 1.]))
    """
    if callables and isinstance(phi, tuple) and len(phi) == 2 and callable(phi[0]) and callable(phi[1]):
        return Nonlinearity("custom", phi[0], phi[1])
    if callables and not isinstance(phi, str):
        raise TypeError(f"phi must be a name or a pair of callables (phi, dphi), found: {phi!r}")
    return NONLINEARITIES[check_choice("phi", phi, tuple(NONLINEARITIES) if allowed is None else tuple(allowed))]
