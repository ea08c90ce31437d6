"""Closed-form single-neuron results in extended precision (``np.longdouble``), for tests only.

Textbook solutions of the three models, written independently of the oracle's flow code (no Moebius
maps, no projective coordinates) so that the two check each other. Parameters are taken as the float64
values the simulators see and converted exactly; the results carry about 3 more decimal digits than
float64 on x86-64, so their own rounding is negligible against the test tolerances.
"""

import numpy as np

__all__ = ["LD", "PI", "first_passage", "state_at", "spike_train", "ulp_tolerance"]

LD = np.longdouble
PI = 4 * np.arctan(LD(1))


def _x_of_theta(theta):
    """``tan(theta / 2)`` with the reset ``theta = -pi`` mapped to ``-inf``.

    The simulators' reset is the float64 value ``-np.pi``, which lies 1.2e-16 above the true -pi; it
    stands for the reset itself (``tan`` of it would be a finite -1.6e16 and shift passage times by
    ``tau / 1.6e16``).
    """
    theta = LD(theta)
    return -LD(np.inf) if theta <= LD(-np.pi) else np.tan(theta / 2)


def first_passage(model, v0, tau, drive, threshold=1.0):
    """Time (s) from state ``v0`` to the next spike without input; ``inf`` if the neuron never fires.

    Parameters
    ----------
    model : {'lif', 'qif', 'theta'}
    v0 : float
        Initial state (theta for theta neurons, ``-pi`` is the reset).
    tau : float, s
    drive : float
    threshold : float
        Ignored for theta neurons (spike at ``pi``).

    Returns
    -------
    numpy.longdouble
    """
    tau, drive, thr = LD(tau), LD(drive), LD(threshold)
    inf = LD(np.inf)
    if model == "lif":
        return tau * np.log((drive - LD(v0)) / (drive - thr)) if drive > thr else inf
    if model == "qif":
        v0 = LD(v0)
        if drive > 0:
            w = np.sqrt(drive)
            return tau / w * (np.arctan(thr / w) - np.arctan(v0 / w))
        if drive == 0:
            return tau * (1 / v0 - 1 / thr) if v0 > 0 else inf
        a = np.sqrt(-drive)
        if v0 <= a:
            return inf
        return tau / (2 * a) * np.log((thr - a) * (v0 + a) / ((thr + a) * (v0 - a)))
    x0 = _x_of_theta(v0)
    if drive > 0:
        w = np.sqrt(drive)
        return tau / w * (PI / 2 - np.arctan(x0 / w))
    if drive == 0:
        return tau / x0 if x0 > 0 else inf
    a = np.sqrt(-drive)
    return tau / (2 * a) * np.log((x0 + a) / (x0 - a)) if x0 > a else inf


def state_at(model, v0, t, tau, drive):
    """State at time ``t`` (s) from ``v0`` at time 0, assuming no spike and no input in between.

    Returns
    -------
    numpy.longdouble
        ``v`` (theta in ``[-pi, pi)`` for theta neurons).
    """
    t, tau, drive = LD(t), LD(tau), LD(drive)
    if model == "lif":
        return drive + (LD(v0) - drive) * np.exp(-t / tau)
    x0 = _x_of_theta(v0) if model == "theta" else LD(v0)
    if drive > 0:
        w = np.sqrt(drive)
        x = w * np.tan(np.arctan(x0 / w) + w * t / tau)
    elif drive == 0:
        x = -tau / t if np.isinf(x0) else x0 / (1 - x0 * t / tau)
    else:
        a = np.sqrt(-drive)
        k = LD(1) if np.isinf(x0) else (x0 - a) / (x0 + a)
        e = k * np.exp(2 * a * t / tau)
        x = a * (1 + e) / (1 - e)
    return 2 * np.arctan(x) if model == "theta" else x


def spike_train(model, v0, t_stop, tau, drive, threshold=1.0, reset=0.0, refractory=0.0, integrate_refractory=False):
    """Closed-form spike times on ``[0, t_stop)`` of an isolated neuron started at ``v0``.

    ``integrate_refractory=True`` is meant for LIF neurons (a QIF state would diverge while refractory).

    After the first spike the neuron is periodic with period ``refractory + T`` (``T`` the first-passage
    time from reset), or ``max(refractory, T)`` when the state integrates during refractoriness.

    Returns
    -------
    ndarray of numpy.longdouble
    """
    if model == "theta":
        reset = -np.pi
    t1 = first_passage(model, v0, tau, drive, threshold)
    if not t1 < LD(t_stop):
        return np.zeros(0, LD)
    passage = first_passage(model, reset, tau, drive, threshold)
    period = max(LD(refractory), passage) if integrate_refractory else LD(refractory) + passage
    if not np.isfinite(period):
        return np.array([t1], LD)
    k = np.arange(int(np.floor((LD(t_stop) - t1) / period)) + 2, dtype=LD)
    times = t1 + k * period
    return times[times < LD(t_stop)]


def ulp_tolerance(times, tau):
    """Tolerance for the k-th spike time of a periodic train: ``4 k (ulp(t_k) + eps tau)``.

    Each spike adds at most one rounding of the running time (half an ulp of ``t``) plus a few roundings
    of the period, whose natural scale is ``tau`` (a first-passage time ``tau log(ratio)`` carries an
    absolute error of about ``eps tau`` even when it is much shorter than ``tau``). So a simulator that
    chains periods stays within a few ``ulp(t) + eps tau`` per spike so far; one that re-bases does better.
    """
    k = np.arange(1, len(times) + 1)
    return 4 * k * (np.spacing(np.asarray(times, float)) + np.finfo(float).eps * tau)
