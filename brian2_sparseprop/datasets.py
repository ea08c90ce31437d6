"""Data sets for training spiking networks, and their encoding as input spike times.

`yin_yang` rebuilds the Yin-Yang data set of Kriener, Goltz and Petrovici (2021) sample for sample from its
published description (geometry, rejection sampling with ``numpy.random.RandomState`` and the seeds of the
standard splits); `latency_encode` turns features in [0, 1] into one input spike time each, plus bias
spikes (the encoding of EventProp's Yin-Yang experiments).
"""

import math

import numpy as np

from ._validation import check_choice, check_int, check_real

__all__ = ["YIN_YANG_SPLITS", "latency_encode", "yin_yang", "yin_yang_class"]

#: The standard splits of the Yin-Yang data set: (number of samples, seed).
YIN_YANG_SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}

_R_BIG, _R_SMALL = 0.5, 0.1


def yin_yang_class(x, y):
    """The class of points (x, y) of the yin-yang symbol in [0, 1]^2: 0 or 1 (the two halves) or 2 (the dots).

    Parameters
    ----------
    x, y : float or array_like
        Coordinates (broadcast together).

    Returns
    -------
    numpy.ndarray of int
        The class of each point (the integers of the reference generator: its "is yin" test gives 1).

    Examples
    --------
    >>> from brian2_sparseprop.datasets import yin_yang_class
    >>> yin_yang_class([0.75, 0.25, 0.5, 0.5], [0.5, 0.5, 0.9, 0.1]).tolist()
    [2, 2, 1, 0]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d_right = np.sqrt((x - 1.5 * _R_BIG) ** 2 + (y - _R_BIG) ** 2)
    d_left = np.sqrt((x - 0.5 * _R_BIG) ** 2 + (y - _R_BIG) ** 2)
    one = (
        (d_right <= _R_SMALL)
        | ((d_left > _R_SMALL) & (d_left <= 0.5 * _R_BIG))
        | ((y > _R_BIG) & (d_right > 0.5 * _R_BIG))
    )
    dots = (d_right < _R_SMALL) | (d_left < _R_SMALL)
    return np.where(dots, 2, one.astype(int))


def _class_of_point(x, y):
    """`yin_yang_class` of one point, in Python floats (the sampling loop calls it for every candidate; the
    tests check that both agree on every sample of the splits)."""
    d_right = math.sqrt((x - 1.5 * _R_BIG) ** 2 + (y - _R_BIG) ** 2)
    d_left = math.sqrt((x - 0.5 * _R_BIG) ** 2 + (y - _R_BIG) ** 2)
    if d_right < _R_SMALL or d_left < _R_SMALL:
        return 2
    return int(d_right <= _R_SMALL or _R_SMALL < d_left <= 0.5 * _R_BIG or (y > _R_BIG and d_right > 0.5 * _R_BIG))


def yin_yang(split="train", n_samples=None, seed=None):
    """The Yin-Yang data set, sample for sample as its reference generator draws it.

    Each sample: a class drawn with ``rng.randint(3)``, then points ``rng.rand(2)`` (scaled to the square
    [0, 1]^2) drawn until one lies in the big circle and has that class. The draws are sequential (a
    rejection loop over one random stream), so the samples are made one by one in Python (5000 in a few tens of ms).

    Parameters
    ----------
    split : {'train', 'validation', 'test'}
        A standard split: 5000 samples with seed 42, 1000 with seed 41, 1000 with seed 40.
    n_samples : int, optional
        Number of samples (default: the split's); with the split's seed, the first ``n_samples`` of it.
    seed : int, optional
        Seed of ``numpy.random.RandomState`` (default: the split's).

    Returns
    -------
    features : numpy.ndarray, shape (n_samples, 4)
        (x, y, 1 - x, 1 - y), in [0, 1].
    labels : numpy.ndarray of int, shape (n_samples,)
        Classes 0, 1, 2 (see `yin_yang_class`).

    Raises
    ------
    TypeError, ValueError
        For an unknown split, or ``n_samples`` or ``seed`` that are not non-negative integers.

    Examples
    --------
    >>> from brian2_sparseprop.datasets import yin_yang
    >>> features, labels = yin_yang("train")
    >>> features.shape, np.bincount(labels).tolist()
    ((5000, 4), [1681, 1702, 1617])
    >>> features[0].round(8).tolist()
    [0.68030754, 0.45049925, 0.31969246, 0.54950075]
    """
    check_choice("split", split, tuple(YIN_YANG_SPLITS))
    default_n, default_seed = YIN_YANG_SPLITS[split]
    n = default_n if n_samples is None else check_int("n_samples", n_samples, 0)
    seed = default_seed if seed is None else check_int("seed", seed, 0)
    rng = np.random.RandomState(seed)
    xy, labels = np.empty((n, 2)), np.empty(n, int)
    for k in range(n):  # sequential by nature: each sample's rejection loop reads the stream where the last stopped
        wanted = rng.randint(3)
        while True:
            x, y = (rng.rand(2) * 2 * _R_BIG).tolist()
            if math.sqrt((x - _R_BIG) ** 2 + (y - _R_BIG) ** 2) > _R_BIG:
                continue
            if _class_of_point(x, y) == wanted:
                break
        xy[k], labels[k] = (x, y), wanted
    return np.hstack([xy, 1 - xy]), labels


def latency_encode(features, t_early=0.01, t_late=0.04, bias_times=(0.02,)):
    """Features in [0, 1] as input spike latencies: t = t_early + x (t_late - t_early), plus bias spikes.

    With the defaults this is EventProp's encoding of the Yin-Yang data set: 10 ms + 30 ms x, and one
    bias spike at 20 ms (five inputs).

    Parameters
    ----------
    features : array_like, shape (n_samples, n_features)
        Values in [0, 1].
    t_early, t_late : float
        Spike times (s) of the values 0 and 1, 0 <= t_early, t_late (either order).
    bias_times : sequence of float
        Times (s, >= 0) of inputs that fire at the same time in every sample, appended as the last inputs.

    Returns
    -------
    numpy.ndarray, shape (n_samples, n_features + len(bias_times))
        One spike time (s) per input and sample.

    Raises
    ------
    TypeError, ValueError
        For features that are not a 2-d array of numbers in [0, 1], or times that are negative or not finite.

    Examples
    --------
    >>> from brian2_sparseprop.datasets import latency_encode
    >>> (latency_encode([[0.0, 0.5, 1.0]]) * 1000).round(6).tolist()  # ms
    [[10.0, 25.0, 40.0, 20.0]]
    """
    from ._validation import check_array

    x = check_array("features", features, ndim=2)
    if x.size and (x.min() < 0 or x.max() > 1):
        bad = np.argwhere((x < 0) | (x > 1))[0]
        raise ValueError(f"features must be in [0, 1], found {x[tuple(bad)]} at index {tuple(bad.tolist())}")
    t_early = check_real("t_early", t_early, nonnegative=True)
    t_late = check_real("t_late", t_late, nonnegative=True)
    bias = check_array("bias_times", bias_times, ndim=1)
    if (bias < 0).any():
        raise ValueError(f"bias_times must be >= 0, found {bias.min()}")
    times = t_early + x * (t_late - t_early)
    return np.hstack([times, np.broadcast_to(bias, (x.shape[0], bias.size))])
