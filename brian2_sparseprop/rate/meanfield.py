"""Dynamic mean-field theory (DMFT) of balanced rate networks, stationary and under periodic input.

For ``tau dh_i/dt = -h_i + sum_j J_ij phi(h_j) + sqrt(N) I0 + I_i^1(t)`` with
``J_ij = (-J0 + g x_ij)/sqrt(N)``, the large-N network reduces to one Gaussian process per neuron,
``h(t) = m(t) + eta(t) (+ deterministic input response)``, with (time in units of tau)

* mean input:      ``dm/dt = -m + sqrt(N) (I0 - J0 nu(t)) + I1 sin(2 pi f t)``  (common input only),
  ``nu(t) = <phi(h(t))>``; the mean equation is stiff (rate ``1 + sqrt(N) J0 <phi'>``) and is integrated
  implicitly; with ``N=None`` the balance limit ``J0 nu = I0`` is imposed instead;
* autocovariance:  ``(1 + d_t)(1 + d_s) c(t, s) = g^2 <phi(h(t)) phi(h(s))>``;
* tangent (two-replica) correlation: ``(1 + d_t)(1 + d_s) D(t, s) = g^2 <phi'(h(t)) phi'(h(s))> D(t, s)``,
  whose diagonal grows like ``exp(2 lambda_1 t)``.

For independent input the response to ``I1 sin(2 pi f t + theta)`` of the leak,
``I1 sin(2 pi f t + theta - atan(2 pi f)) / sqrt(1 + (2 pi f)^2)``, is added to ``h`` and the population
averages include an average over the uniform phase ``theta`` (trapezoidal rule, ``n_phases`` points,
spectrally accurate for a smooth periodic integrand).

Stationary case (no input modulation): ``c(t, s) = Delta(t - s)`` obeys ``Delta'' = Delta - g^2 C(Delta)``,
the motion of a particle in the potential ``V(Delta) = -Delta^2/2 + g^2 int C``; the self-consistent
``Delta_0 = Delta(0)`` and ``Delta_inf`` satisfy ``V'(Delta_inf) = 0`` and ``V(Delta_0) = V(Delta_inf)``.
``lambda_1 = -1 + sqrt(-E_0)`` with ``E_0`` the ground-state energy of ``-d^2/dtau^2 - g^2 C_{phi'}(tau)``.

Gaussian integrals. For ``phi = relu`` every one- and two-dimensional Gaussian expectation that the theory
needs (``<phi>``, ``<phi'>``, ``<phi phi>``, ``<phi' phi'>``) is evaluated in closed form through the normal
CDF and Owen's T function (bivariate normal CDF), accurate to about 1e-14 (tests compare against
adaptive quadrature). Gauss-Hermite quadrature would converge only algebraically across the kink of relu.
For ``phi = tanh`` (smooth) tensor Gauss-Hermite quadrature is used with ``n_gh`` nodes per dimension.
Its convergence is limited by the poles of tanh at +-i pi/2 and slows down as the variance grows: with
the default 80 nodes the error is below 1e-9 for variances up to 1 and below 2e-5 up to 4; 150 nodes give
5e-7 at variance 4 (tested against adaptive quadrature). Raise ``n_gh`` for larger variances.
"""

import warnings
from dataclasses import dataclass

import neo
import numpy as np
import quantities as pq
import scipy.integrate
import scipy.linalg
import scipy.optimize
import scipy.signal
from scipy.special import ndtr, owens_t

from .._validation import check_choice, check_int, check_quantity, check_real as _check_real, in_tau
from ..lyapunov import tau_unit
from .nonlinearities import NONLINEARITIES, resolve

__all__ = ["StationaryDMFT", "PeriodicDMFT", "stationary_dmft", "periodic_dmft", "gaussian_moments"]

_SQRT2PI = np.sqrt(2.0 * np.pi)
_RHO_MAX = 1.0 - 1e-12


def _pdf(x):
    return np.exp(-0.5 * x * x) / _SQRT2PI


def _bvn_cdf(h, k, rho):
    """P(U < h, V < k) for standard normals with correlation rho (Owen's T formula)."""
    rho = np.clip(rho, -_RHO_MAX, _RHO_MAX)
    r = np.sqrt(1.0 - rho * rho)
    h = np.where(h == 0.0, 1e-200, h)
    k = np.where(k == 0.0, 1e-200, k)
    beta = np.where((h > 0) == (k > 0), 0.0, 0.5)
    with np.errstate(over="ignore", divide="ignore"):
        t1 = owens_t(h, (k - rho * h) / (h * r))
        t2 = owens_t(k, (h - rho * k) / (k * r))
    return 0.5 * (ndtr(h) + ndtr(k)) - t1 - t2 - beta


class _ReLU:
    """Closed-form Gaussian expectations for phi = max(x, 0), phi' = Heaviside."""

    name = "relu"
    phi = staticmethod(NONLINEARITIES["relu"].phi)

    @staticmethod
    def mean(m, v):
        s = np.sqrt(np.maximum(v, 1e-300))
        a = m / s
        return m * ndtr(a) + s * _pdf(a)

    @staticmethod
    def mean_prime(m, v):
        return ndtr(m / np.sqrt(np.maximum(v, 1e-300)))

    @staticmethod
    def second(m, v):
        s = np.sqrt(np.maximum(v, 1e-300))
        a = m / s
        return (m * m + v) * ndtr(a) + m * s * _pdf(a)

    @staticmethod
    def second_prime(m, v):
        return ndtr(m / np.sqrt(np.maximum(v, 1e-300)))

    @staticmethod
    def _standard(m1, v1, m2, v2, c):
        s1 = np.sqrt(np.maximum(v1, 1e-300))
        s2 = np.sqrt(np.maximum(v2, 1e-300))
        rho = np.clip(c / (s1 * s2), -_RHO_MAX, _RHO_MAX)
        return s1, s2, rho, np.sqrt(1.0 - rho * rho), -m1 / s1, -m2 / s2

    @classmethod
    def cross(cls, m1, v1, m2, v2, c):
        return cls.cross_both(m1, v1, m2, v2, c)[0]

    @classmethod
    def cross_prime(cls, m1, v1, m2, v2, c):
        s1, s2, rho, r, a, b = cls._standard(m1, v1, m2, v2, c)
        return _bvn_cdf(-a, -b, rho)

    @classmethod
    def cross_both(cls, m1, v1, m2, v2, c):
        """(<phi phi>, <phi' phi'>) sharing the bivariate normal CDF."""
        s1, s2, rho, r, a, b = cls._standard(m1, v1, m2, v2, c)
        P = _bvn_cdf(-a, -b, rho)
        fa, fb = _pdf(a), _pdf(b)
        Qa = ndtr((rho * a - b) / r)
        Qb = ndtr((rho * b - a) / r)
        EU = fa * Qa + rho * fb * Qb
        EV = fb * Qb + rho * fa * Qa
        EUV = rho * P + rho * a * fa * Qa + rho * b * fb * Qb + r * fb * _pdf((a - rho * b) / r)
        return m1 * m2 * P + m1 * s2 * EV + m2 * s1 * EU + s1 * s2 * EUV, P


class _GaussHermite:
    """Gauss-Hermite Gaussian expectations for a smooth transfer function of the table (tanh)."""

    def __init__(self, nonlinearity, n):
        x, w = np.polynomial.hermite_e.hermegauss(n)
        self.x = x
        self.w = w / w.sum()
        self.name = nonlinearity.name
        self.phi = nonlinearity.phi
        self.dphi = nonlinearity.dphi

    def _one(self, f, m, v):
        m = np.asarray(m, dtype=float)[..., None]
        s = np.sqrt(np.maximum(np.asarray(v, dtype=float), 0.0))[..., None]
        return (f(m + s * self.x) * self.w).sum(axis=-1)

    def _two(self, f, m1, v1, m2, v2, c):
        m1, v1, m2, v2, c = (np.asarray(u, dtype=float)[..., None, None] for u in (m1, v1, m2, v2, c))
        s1 = np.sqrt(np.maximum(v1, 1e-300))
        x1 = self.x[:, None]
        x2 = self.x[None, :]
        X = m1 + s1 * x1
        Y = m2 + (c / s1) * x1 + np.sqrt(np.maximum(v2 - c * c / v1, 0.0)) * x2
        W = self.w[:, None] * self.w[None, :]
        return (f(X) * f(Y) * W).sum(axis=(-2, -1))

    def mean(self, m, v):
        return self._one(self.phi, m, v)

    def mean_prime(self, m, v):
        return self._one(self.dphi, m, v)

    def second(self, m, v):
        return self._one(lambda x: self.phi(x) ** 2, m, v)

    def second_prime(self, m, v):
        return self._one(lambda x: self.dphi(x) ** 2, m, v)

    def cross(self, m1, v1, m2, v2, c):
        return self._two(self.phi, m1, v1, m2, v2, c)

    def cross_prime(self, m1, v1, m2, v2, c):
        return self._two(self.dphi, m1, v1, m2, v2, c)

    def cross_both(self, m1, v1, m2, v2, c):
        return self.cross(m1, v1, m2, v2, c), self.cross_prime(m1, v1, m2, v2, c)


class _PhaseAveraged:
    """Moments of phi(h + x) averaged over static offsets x (quenched input), same interface."""

    def __init__(self, mom, offsets):
        self.mom = mom
        self.name = mom.name
        self.x = np.asarray(offsets, dtype=float)

    def _avg1(self, f, m, v):
        m = np.asarray(m, dtype=float)
        return np.mean(f(m[..., None] + self.x, np.asarray(v, dtype=float)[..., None]), axis=-1)

    def mean(self, m, v):
        return self._avg1(self.mom.mean, m, v)

    def mean_prime(self, m, v):
        return self._avg1(self.mom.mean_prime, m, v)

    def second(self, m, v):
        return self._avg1(self.mom.second, m, v)

    def second_prime(self, m, v):
        return self._avg1(self.mom.second_prime, m, v)

    def _avg2(self, f, m1, v1, m2, v2, c):
        x = self.x
        args = [np.asarray(u, dtype=float)[..., None] for u in (m1, v1, m2, v2, c)]
        return np.mean(f(args[0] + x, args[1], args[2] + x, args[3], args[4]), axis=-1)

    def cross(self, m1, v1, m2, v2, c):
        return self._avg2(self.mom.cross, m1, v1, m2, v2, c)

    def cross_prime(self, m1, v1, m2, v2, c):
        return self._avg2(self.mom.cross_prime, m1, v1, m2, v2, c)


def _moments(phi, n_gh):
    f = resolve(phi, allowed=("relu", "tanh"))
    if f.name == "relu":  # closed forms
        return _ReLU()
    return _GaussHermite(f, check_int("n_gh", n_gh, 2))


def gaussian_moments(phi, m1, v1, m2=None, v2=None, c=None, *, n_gh=80):
    """Gaussian expectations used by the theory, for checking and plotting.

    With only ``m1, v1``: returns ``(<phi(X)>, <phi'(X)>, <phi(X)^2>)`` for ``X ~ N(m1, v1)``.
    With ``m2, v2, c``: returns ``(<phi(X) phi(Y)>, <phi'(X) phi'(Y)>)`` for jointly Gaussian X, Y with
    covariance ``c``.

    Parameters
    ----------
    phi : {'relu', 'tanh'}
        Transfer function (relu: closed forms; tanh: Gauss-Hermite with ``n_gh`` nodes per dimension).
    m1, v1, m2, v2, c : float or ndarray
        Means, variances (>= 0) and covariance; broadcast together.
    n_gh : int
        Gauss-Hermite nodes per dimension (tanh only).

    Returns
    -------
    tuple of ndarray

    Raises
    ------
    TypeError
        If ``phi`` is not a string.
    ValueError
        If ``phi`` is unknown, a variance is negative, or ``|c| > sqrt(v1 v2)``.

    Examples
    --------
    >>> mean, mean_prime, second = gaussian_moments("relu", 0.0, 1.0)
    >>> round(float(mean), 6)  # 1 / sqrt(2 pi)
    0.398942
    """
    mom = _moments(phi, n_gh)
    v1 = np.asarray(v1, dtype=float)
    if np.any(v1 < 0):
        raise ValueError(f"v1 must be >= 0, found: {v1}")
    if m2 is None:
        return mom.mean(m1, v1), mom.mean_prime(m1, v1), mom.second(m1, v1)
    v2 = np.asarray(v2, dtype=float)
    if np.any(v2 < 0):
        raise ValueError(f"v2 must be >= 0, found: {v2}")
    if np.any(np.abs(c) > np.sqrt(v1 * v2) * (1 + 1e-12)):
        raise ValueError(f"|c| must be <= sqrt(v1 v2), found: c = {c}, v1 = {v1}, v2 = {v2}")
    return mom.cross(m1, v1, m2, v2, c), mom.cross_prime(m1, v1, m2, v2, c)


def _check_N(N):
    if N is None:
        return None
    N = _check_real("N", N)
    if not N >= 1:
        raise ValueError(f"N must be >= 1, found: {N}")
    return N


def _check_K(K, N, J0):
    """In-degree K of the sparse variant and rho J0^2, rho = (N - K)/(N - 1) (1 when N is None)."""
    if K is None:
        return None, 0.0
    K = _check_real("K", K)
    if not K >= 1:
        raise ValueError(f"K must be >= 1, found: {K:g}")
    if N is not None and K > N - 1:
        raise ValueError(f"K must be <= N - 1 = {N - 1:g}, found: {K:g}")
    rho = 1.0 if N is None else (N - K) / (N - 1)
    return K, rho * J0**2


def _check_tau(tau):
    return check_quantity("tau", tau, "time", positive=True, none=True)


def _rate(value_per_tau, tau):
    """A rate in units of 1/tau as a Quantity: 1/s if tau is given, 1/tau (`tau_unit`) otherwise."""
    if tau is None:
        return pq.Quantity(value_per_tau, 1 / tau_unit)
    return pq.Quantity(value_per_tau / float(tau.rescale(pq.s).magnitude), 1 / pq.s)


def _solve_mean(mom, v, J0, I0, N):
    """Mean input m for variance v: J0 nu(m, v) = I0 (N None) or m = sqrt(N)(I0 - J0 nu) (finite N)."""
    if J0 == 0.0:
        if N is None:
            if I0 != 0.0:
                raise ValueError(f"with J0 = 0 and N = None the mean input diverges unless I0 = 0, found: I0 = {I0}")
            return 0.0
        return np.sqrt(N) * I0
    sN = None if N is None else np.sqrt(N)

    def f(m):
        res = J0 * mom.mean(m, v) - I0
        return res if sN is None else m + sN * res

    lo, hi = -1.0, 1.0
    while f(lo) > 0:
        lo *= 2.0
        if lo < -1e8:
            raise ValueError(f"no balanced mean input found for I0 = {I0}, J0 = {J0} (is I0/J0 > 0?)")
    while f(hi) < 0:
        hi *= 2.0
        if hi > 1e8:
            raise ValueError(f"no balanced mean input found for I0 = {I0}, J0 = {J0}")
    return scipy.optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-14)


@dataclass(frozen=True)
class StationaryDMFT:
    """Self-consistent stationary DMFT solution (time in units of tau).

    Attributes
    ----------
    g, J0, I0 : float
        Parameters.
    N : float or None
        Network size entering the mean equation (None: balance limit).
    phi : str
        Transfer function.
    m : float
        Mean input.
    delta0 : float
        Variance of the fluctuations ``Delta(0)``.
    delta_inf : float
        Static (quenched) part ``Delta(infinity)``; equal to ``delta0`` at a fixed point.
    rate : float
        Mean rate ``nu``.
    chaotic : bool
        True for the time-dependent (chaotic) solution, False for the fixed point.
    n_gh : int
        Gauss-Hermite nodes (tanh).
    quenched_amplitude : float
        Amplitude A of static offsets ``A sin(theta_i)`` with uniform phases (0: none).
    n_phases : int
        Trapezoidal points of the phase average.
    K : float or None
        In-degree of the sparse variant (None: dense).
    sparse_variance : float
        ``rho J0^2`` with ``rho = (N - K)/(N - 1)``: weight of the in-degree sampling variance of the mean
        coupling (0 when dense).
    """

    g: float
    J0: float
    I0: float
    N: float | None
    phi: str
    m: float
    delta0: float
    delta_inf: float
    rate: float
    chaotic: bool
    n_gh: int = 80
    quenched_amplitude: float = 0.0
    n_phases: int = 1
    K: float | None = None
    sparse_variance: float = 0.0

    @property
    def _g2(self):
        """Effective gain^2 of the fluctuation and tangent forcing: g^2 + rho J0^2 (sparse)."""
        return self.g**2 + self.sparse_variance

    def _mom(self):
        return _quenched(_moments(self.phi, self.n_gh), self.quenched_amplitude, self.n_phases)

    def _C(self, u, prime=False):
        mom = self._mom()
        f = mom.cross_prime if prime else mom.cross
        return f(self.m, self.delta0, self.m, self.delta0, np.asarray(u, dtype=float))

    def autocovariance_values(self, lags):
        """``Delta(lag)`` for lags in units of tau (ndarray of float)."""
        lags = np.abs(np.asarray(lags, dtype=float))
        if not self.chaotic:
            return np.full(lags.shape, self.delta0)
        t_max = float(lags.max()) if lags.size else 0.0
        sol = self._trajectory(t_max)
        out = np.full(lags.shape, self.delta_inf)
        inside = lags <= sol.t[-1]
        out[inside] = sol.sol(lags[inside])[0]
        return out

    def _trajectory(self, t_max):
        g2 = self._g2
        shift = self.sparse_variance * self.rate**2
        d_inf = self.delta_inf

        def rhs(t, y):
            return [y[1], y[0] - g2 * float(self._C(min(y[0], self.delta0))) + shift]

        def settle(t, y):  # stop when the trajectory turns back or crosses Delta_inf
            return y[1] if t > 0 else -1.0

        settle.terminal = True

        def cross(t, y):
            return y[0] - d_inf

        cross.terminal = True
        return scipy.integrate.solve_ivp(
            rhs,
            (0.0, max(t_max, 1e-9)),
            [self.delta0, 0.0],
            dense_output=True,
            events=(settle, cross),
            rtol=1e-10,
            atol=1e-12,
        )

    def autocovariance(self, t_max=None, bin_size=None, tau=None):
        """The autocovariance ``Delta(lag)`` of the input fluctuations as an AnalogSignal over lags.

        Parameters
        ----------
        t_max : Quantity (time), float or None
            Largest lag (None: 20 tau); a Quantity when ``tau`` is given, else a plain number in units
            of tau.
        bin_size : Quantity (time), float or None
            Lag spacing (None: 0.05 tau), as ``t_max``.
        tau : Quantity (time) or None
            Time constant for the lag axis (then in seconds); None: the lag axis in the unit
            :data:`~brian2_sparseprop.lyapunov.tau_unit`.

        Returns
        -------
        neo.AnalogSignal
            Shape (n_lags, 1), dimensionless, ``t_start = 0``.

        Examples
        --------
        >>> sol = stationary_dmft(2.0)
        >>> sig = sol.autocovariance(5.0)
        >>> bool(sig[0, 0] > sig[-1, 0]), sig.sampling_period
        (True, array(0.05) * tau)
        >>> sol.autocovariance(100 * pq.ms, 1 * pq.ms, tau=20 * pq.ms).sampling_period
        array(0.001) * s
        """
        tau = _check_tau(tau)
        t_max = 20.0 if t_max is None else in_tau("t_max", t_max, tau, "time", positive=True)
        bin_size = 0.05 if bin_size is None else in_tau("bin_size", bin_size, tau, "time", positive=True)
        lags = np.arange(0.0, t_max + 0.5 * bin_size, bin_size)
        unit, tunit = (1.0, tau_unit) if tau is None else (float(tau.rescale(pq.s).magnitude), pq.s)
        return neo.AnalogSignal(
            self.autocovariance_values(lags)[:, None],
            units=pq.dimensionless,
            sampling_period=bin_size * unit * tunit,
            t_start=0 * tunit,
            name="autocovariance",
            time_unit="tau" if tau is None else "s",
            **self._annotations(),
        )

    def _annotations(self):
        return dict(
            g=self.g,
            J0=self.J0,
            I0=self.I0,
            N=self.N,
            K=self.K,
            phi=self.phi,
            m=self.m,
            delta0=self.delta0,
            delta_inf=self.delta_inf,
            rate=self.rate,
            chaotic=self.chaotic,
        )

    def lyapunov_exponent(self, tau=None, *, t_max=None, step=None):
        """Largest Lyapunov exponent ``lambda_1 = -1 + sqrt(-E_0)`` from the stationary theory.

        Parameters
        ----------
        tau : Quantity (time) or None
            Returns 1/s when given, 1/tau (:data:`~brian2_sparseprop.lyapunov.tau_unit`) otherwise.
        t_max : Quantity (time), float or None
            Half-width of the lag interval of the Schroedinger problem (None: 60 tau); a Quantity when
            ``tau`` is given, else a plain number in units of tau.
        step : Quantity (time), float or None
            Grid step of its finite-difference discretisation (error O(step^2); None: 0.01 tau), as
            ``t_max``.

        Returns
        -------
        Quantity

        Examples
        --------
        >>> lam = stationary_dmft(1.0).lyapunov_exponent()
        >>> bool(lam < 0), lam.units
        (True, array(1.) * 1/tau)
        """
        tau = _check_tau(tau)
        t_max = 60.0 if t_max is None else in_tau("t_max", t_max, tau, "time", positive=True)
        step = 0.01 if step is None else in_tau("step", step, tau, "time", positive=True)
        mom = self._mom()
        if not self.chaotic:
            lam = -1.0 + np.sqrt(self._g2 * float(mom.second_prime(self.m, self.delta0)))
            return _rate(lam, tau)
        n = int(round(t_max / step))
        lags = np.arange(-n, n + 1) * step
        Cp = self._C(self.autocovariance_values(lags), prime=True)
        diag = 2.0 / step**2 - self._g2 * Cp
        off = np.full(len(lags) - 1, -1.0 / step**2)
        E0 = scipy.linalg.eigh_tridiagonal(diag, off, select="i", select_range=(0, 0), eigvals_only=True)[0]
        return _rate(-1.0 + np.sqrt(max(-E0, 0.0)), tau)


def _quenched(mom, amplitude, n_phases):
    if amplitude == 0.0:
        return _PhaseAveraged(mom, [0.0])
    return _PhaseAveraged(mom, amplitude * np.sin(2 * np.pi * (np.arange(n_phases) + 0.5) / n_phases))


def stationary_dmft(g, *, J0=1.0, I0=1.0, N=None, K=None, phi="relu", n_gh=80, quenched_amplitude=0.0, n_phases=32):
    """Solve the stationary DMFT self-consistently.

    Parameters
    ----------
    g : float
        Gain of the random coupling (> 0).
    J0 : float
        Mean coupling strength (>= 0; 0 with ``I0 = 0`` gives the classic random network).
    I0 : float
        Constant input.
    N : float or None
        Network size in the mean equation ``m = sqrt(N) (I0 - J0 nu)``; None: balance limit
        ``J0 nu = I0``. With ``K`` given, N enters only through ``rho`` (None: ``rho = 1``).
    K : float or None
        In-degree of the sparse variant (``BalancedRateNetwork(N, K=K)``): the mean equation becomes
        ``m = sqrt(K) (I0 - J0 nu)`` and the fluctuations gain the in-degree sampling variance of the mean
        coupling, ``(1 - d^2) Delta = (g^2 + rho J0^2) C(Delta) - rho J0^2 nu^2`` with
        ``rho = (N - K)/(N - 1)`` (finite-population correction of K partners drawn without replacement);
        the tangent forcing becomes ``(g^2 + rho J0^2) C_phi'``. None: dense network.
    phi : {'relu', 'tanh'}
        Transfer function.
    n_gh : int
        Gauss-Hermite nodes per dimension (tanh).
    quenched_amplitude : float
        Amplitude A (>= 0) of static offsets ``A sin(theta_i)``, theta_i uniform: the quasi-static limit of
        slow independent sinusoidal input. The population averages include the phase average
        (trapezoidal rule with ``n_phases`` points).
    n_phases : int
        Points of the phase average (>= 1).

    Returns
    -------
    StationaryDMFT
        The chaotic solution when one exists, otherwise the fixed point.

    Raises
    ------
    TypeError, ValueError
        For invalid parameters.

    Examples
    --------
    >>> sol = stationary_dmft(2.0)
    >>> sol.chaotic, round(sol.rate, 6)
    (True, 1.0)
    """
    g = _check_real("g", g, positive=True)
    J0 = _check_real("J0", J0, nonnegative=True)
    I0 = _check_real("I0", I0)
    N = _check_N(N)
    K, rho_J02 = _check_K(K, N, J0)
    N_mean = N if K is None else K
    quenched_amplitude = _check_real("quenched_amplitude", quenched_amplitude, nonnegative=True)
    n_phases = check_int("n_phases", n_phases, 1)
    mom = _quenched(_moments(phi, n_gh), quenched_amplitude, n_phases)
    extra = (n_gh, quenched_amplitude, n_phases, K, rho_J02)
    g2 = g * g + rho_J02  # effective gain^2 (sparse: plus the in-degree sampling variance of the mean coupling)

    def C(u, m, d0):
        return mom.cross(m, d0, m, d0, u)

    def Cp(u, m, d0):
        return mom.cross_prime(m, d0, m, d0, u)

    # Gauss-Legendre nodes on [0, 1] for int_{Delta_inf}^{Delta_0} C du with u = Delta_0 - (Delta_0 - Delta_inf) s^2,
    # which removes the square-root behaviour of C near u = Delta_0.
    xs, ws = np.polynomial.legendre.leggauss(64)
    xs = 0.5 * (xs + 1.0)
    ws = 0.5 * ws

    def shift_of(m, d0):  # rho J0^2 nu^2, the part of the sparse forcing that does not depend on the lag
        return rho_J02 * float(mom.mean(m, d0)) ** 2 if rho_J02 else 0.0

    def delta_inf_of(d0, m):
        """Smallest root of G(u) = g^2 C(u) - shift - u on [0, d0] (None if G > 0 on it)."""
        shift = shift_of(m, d0)
        G = lambda u: g2 * float(C(u, m, d0)) - shift - u
        if G(0.0) <= 1e-13 * max(d0, 1e-300):
            return 0.0
        # G is convex; its minimum is where g^2 C'(u) = 1.
        Gp = lambda u: g2 * float(Cp(u, m, d0)) - 1.0
        if Gp(d0) <= 0:
            u_min = d0
        elif Gp(0.0) >= 0:
            return None
        else:
            u_min = scipy.optimize.brentq(Gp, 0.0, d0, xtol=1e-15 * d0)
        if G(u_min) >= 0:
            return None
        return scipy.optimize.brentq(G, 0.0, u_min, xtol=1e-15 * d0, rtol=1e-15)

    def residual(d0):
        m = _solve_mean(mom, d0, J0, I0, N_mean)
        di = delta_inf_of(d0, m)
        if di is None:
            return None, m, None
        u = d0 - (d0 - di) * xs**2
        integral = np.sum(ws * C(u, m, d0) * 2.0 * (d0 - di) * xs)
        return 0.5 * (d0**2 - di**2) - g2 * integral + shift_of(m, d0) * (d0 - di), m, di

    def H(d0):  # fixed-point condition Delta_0 = g^2 <phi^2> (+ rho J0^2 Var(phi) when sparse)
        m = _solve_mean(mom, d0, J0, I0, N_mean)
        return g2 * float(mom.second(m, d0)) - shift_of(m, d0) - d0

    grid = np.geomspace(1e-6, 1e6, 241)
    vals = np.array([H(d) for d in grid])
    change = np.nonzero((vals[:-1] > 0) & (vals[1:] <= 0))[0]
    if len(change) == 0:
        d_fp = 0.0
    else:
        i = change[-1]
        d_fp = scipy.optimize.brentq(H, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15)
    if d_fp > 0:
        # Chaotic solutions have Delta_0 in (d_low, d_fp): below d_fp so that Delta'' < 0 at lag 0, above
        # d_low where G(u) = g^2 C(u) - u first dips below zero (so that Delta_inf exists).
        has_root = lambda d0: delta_inf_of(d0, _solve_mean(mom, d0, J0, I0, N_mean)) is not None
        hi = d_fp * (1 - 1e-10)
        if has_root(hi):
            lo = d_fp * 1e-9
            if has_root(lo):
                hi = lo
            else:
                for _ in range(200):
                    mid = 0.5 * (lo + hi)
                    if has_root(mid):
                        hi = mid
                    else:
                        lo = mid
                    if hi - lo < 1e-13 * d_fp:
                        break
            d_low = hi
            R_low = residual(d_low)[0]
            R_high = residual(d_fp * (1 - 1e-10))[0]
            if R_low is not None and R_high is not None and R_low < 0 < R_high:
                d0 = scipy.optimize.brentq(
                    lambda x: residual(x)[0], d_low, d_fp * (1 - 1e-10), xtol=1e-14 * d_fp, rtol=1e-14
                )
                R, m, di = residual(d0)
                return StationaryDMFT(g, J0, I0, N, mom.name, m, d0, di, float(mom.mean(m, d0)), True, *extra)
    # No chaotic solution: the fixed point.
    d0 = d_fp
    m = _solve_mean(mom, d0, J0, I0, N_mean)
    return StationaryDMFT(g, J0, I0, N, mom.name, m, d0, d0, float(mom.mean(m, d0)), False, *extra)


@dataclass(frozen=True)
class PeriodicDMFT:
    """Solution of the non-stationary DMFT under sinusoidal input (time in units of tau internally).

    Attributes
    ----------
    mean_input : neo.AnalogSignal
        ``m(t)`` over the measurement window (an integer number of input periods).
    rate : neo.AnalogSignal
        Population rate ``nu(t)``.
    variance : neo.AnalogSignal
        ``c(t, t)``, the variance of the fluctuations.
    lyapunov_exponent : Quantity
        ``lambda_1`` (1/s when ``tau`` was given, 1/tau otherwise).
    autocovariance : neo.AnalogSignal
        ``c(t_k, t_k - lag)``: the signal's time axis is the lag (from 0 to ``max_lag``), channel k the
        reference time ``t_k`` of the last input period (``array_annotations['reference_time']``, in the
        unit of the time axis), shape (n_lags, steps per period); dimensionless.
    parameters : dict
        The parameters of the solution.

    All time axes are in seconds when ``tau`` was given; otherwise in the unit ``tau``
    (:data:`~brian2_sparseprop.lyapunov.tau_unit`; annotation ``time_unit='tau'``). Every signal carries
    the parameters as annotations.
    """

    mean_input: neo.AnalogSignal
    rate: neo.AnalogSignal
    variance: neo.AnalogSignal
    lyapunov_exponent: pq.Quantity
    autocovariance: neo.AnalogSignal
    parameters: dict


def _predict(row, prev):
    """Second-order midpoint prediction F(i + 1/2, j + 1/2) = 1.5 F(i, j) - 0.5 F(i - 1, j - 1)."""
    out = row.copy()
    if prev is not None:
        out[1:] = 1.5 * row[1:] - 0.5 * prev
    return out


def _advance_row(row, forcing, a, b):
    """Row i + 1 of (1 + d_t)(1 + d_s) c = forcing from row i (length i + 1) -> length i + 2."""
    n = len(row)
    new = np.empty(n + 1)
    new[0] = a * row[0]
    if n > 1:
        u = a * row[1:] - a * a * row[:-1] + b * b * forcing[:-1]
        new[1:n] = scipy.signal.lfilter([1.0], [1.0, -a], u, zi=[a * new[0]])[0]
    new[n] = 2 * a * new[n - 1] - a * a * row[n - 1] + b * b * forcing[n - 1]
    return new


def periodic_dmft(
    g,
    I1,
    f,
    *,
    kind="common",
    J0=1.0,
    I0=1.0,
    N=5000,
    K=None,
    phi="relu",
    dt=None,
    t_transient=None,
    t_measure=None,
    n_phases=16,
    max_lag=None,
    tau=None,
    n_gh=80,
):
    """Solve the non-stationary DMFT under ``I1 sin(2 pi f t + theta)`` input by forward integration.

    The two-time equations for ``c(t, s)`` and the tangent correlation ``D(t, s)`` are integrated on a grid
    of step ``dt`` (an integer number of steps per period) with an exponential integrator and a
    second-order midpoint prediction of the forcing; ``m(t)`` is integrated with the implicit trapezoidal
    rule (A-stable, so the stiff mean mode of rate ``1 + sqrt(N) J0 <phi'>`` needs no small step). The
    exponent is the growth rate of ``D(t, t)`` over the measurement window; the discretisation error is
    O(dt^2) for smooth forcing.

    Parameters
    ----------
    g : float
        Gain (> 0).
    I1 : float
        Input amplitude (>= 0).
    f : Quantity (frequency) or float
        Input frequency (> 0); float in units of 1/tau when ``tau`` is None.
    kind : {'common', 'independent'}
        Common input (same phase for all) or independent (uniform random phases).
    J0, I0 : float
        Mean coupling and constant input.
    N : float or None
        Network size entering the mean equation; None is the balance limit (common input fully cancelled).
    K : float or None
        In-degree of the sparse variant, as in :func:`stationary_dmft`: ``sqrt(K)`` in the mean equation,
        forcing ``(g^2 + rho J0^2) <phi(t) phi(s)> - rho J0^2 nu(t) nu(s)`` of ``c`` and
        ``(g^2 + rho J0^2) <phi' phi'>`` of the tangent correlation, ``rho = (N - K)/(N - 1)``.
    phi : {'relu', 'tanh'}
        Transfer function.
    dt : Quantity (time), float or None
        Grid step (None: 0.1 tau), rounded down to an integer division of the period: the step used is
        ``period / ceil(period / dt)``, recorded as ``dt_tau`` in the parameters; a ``RuntimeWarning``
        says so when it is more than 1 % smaller than ``dt``. Every time (and ``f``) is a Quantity when
        ``tau`` is given, else a plain number in units of tau (1/tau).
    t_transient, t_measure : Quantity (time), float or None
        Discarded time and measurement time (None: 40 tau and 60 tau); the measurement window is rounded
        up to an integer number of periods.
    n_phases : int
        Points of the trapezoidal rule over the input phase (independent input).
    max_lag : Quantity (time), float or None
        Largest lag of the returned autocovariance (None: 20 tau).
    tau : Quantity (time) or None
        Time constant: time axes in seconds and the exponent in 1/s when given; otherwise time axes in
        the unit :data:`~brian2_sparseprop.lyapunov.tau_unit` and the exponent in 1/tau.
    n_gh : int
        Gauss-Hermite nodes per dimension (tanh).

    Returns
    -------
    PeriodicDMFT

    Raises
    ------
    TypeError, ValueError
        For invalid parameters, before any computation.

    Examples
    --------
    >>> sol = periodic_dmft(2.0, 0.0, 0.2, N=1000, t_transient=5.0, t_measure=5.0)
    >>> sol.mean_input.shape[1], sol.mean_input.sampling_period, sol.lyapunov_exponent.units
    (1, array(0.1) * tau, array(1.) * 1/tau)
    """
    g = _check_real("g", g, positive=True)
    I1 = _check_real("I1", I1, nonnegative=True)
    tau = _check_tau(tau)
    f = in_tau("f", f, tau, "frequency", positive=True)
    kind = check_choice("kind", kind, ("common", "independent"))
    J0 = _check_real("J0", J0, nonnegative=True)
    I0 = _check_real("I0", I0)
    N = _check_N(N)
    K, rho_J02 = _check_K(K, N, J0)
    dt = 0.1 if dt is None else in_tau("dt", dt, tau, "time", positive=True)
    t_transient = 40.0 if t_transient is None else in_tau("t_transient", t_transient, tau, "time", nonnegative=True)
    t_measure = 60.0 if t_measure is None else in_tau("t_measure", t_measure, tau, "time", positive=True)
    max_lag = 20.0 if max_lag is None else in_tau("max_lag", max_lag, tau, "time", nonnegative=True)
    n_phases = check_int("n_phases", n_phases, 1)
    if N is None and J0 == 0.0 and I0 != 0.0:
        raise ValueError(f"with J0 = 0 and N = None the mean input diverges unless I0 = 0, found: I0 = {I0}")
    mom = _moments(phi, n_gh)

    period = 1.0 / f
    per_period = max(1, int(np.ceil(period / dt)))
    if period / per_period < 0.99 * dt:
        warnings.warn(
            f"dt = {dt} does not divide the input period 1/f = {period:.6g} (units of tau): using "
            f"dt = {period / per_period:.6g}, {per_period} steps per period (recorded as dt_tau)",
            RuntimeWarning,
            stacklevel=2,
        )
    dt = period / per_period
    n_tr = int(np.ceil(t_transient / dt))
    n_meas = per_period * int(np.ceil(t_measure / period))
    n = n_tr + n_meas
    a, b = np.exp(-dt), -np.expm1(-dt)
    omega = 2 * np.pi * f
    g2 = g * g + rho_J02
    t = np.arange(n + 1) * dt
    if kind == "independent":
        phases = 2 * np.pi * np.arange(n_phases) / n_phases
        amp = I1 / np.hypot(1.0, omega)
        shift = amp * np.sin(omega * t[None, :] + phases[:, None] - np.arctan(omega))  # (M, n + 1)
        drive = np.zeros(n + 1)
    else:
        shift = np.zeros((1, n + 1))
        drive = I1 * np.sin(omega * t)

    def nu_and_slope(m, v, i):
        x = m + shift[:, i]
        return float(np.mean(mom.mean(x, v))), float(np.mean(mom.mean_prime(x, v)))

    N_mean = N if K is None else K
    sN = None if N_mean is None else np.sqrt(N_mean)

    def rhs(m, v, i):
        nu, slope = nu_and_slope(m, v, i)
        if sN is None:
            return -m + drive[i], -1.0
        return -m + sN * (I0 - J0 * nu) + drive[i], -1.0 - sN * J0 * slope

    def step_mean(m_old, v_old, v_new, i):
        """Trapezoidal step for m (or the balance constraint when N is None and J0 > 0)."""
        if sN is None and J0 > 0:
            lo, hi = m_old - 1.0, m_old + 1.0
            h = lambda x: J0 * nu_and_slope(x, v_new, i + 1)[0] - I0
            while h(lo) > 0:
                lo -= 2 * (hi - lo)
            while h(hi) < 0:
                hi += 2 * (hi - lo)
            return scipy.optimize.brentq(h, lo, hi, xtol=1e-13)
        f_old = rhs(m_old, v_old, i)[0]
        x = m_old
        for _ in range(50):
            fx, dfx = rhs(x, v_new, i + 1)
            res = x - m_old - 0.5 * dt * (f_old + fx)
            dx = -res / (1.0 - 0.5 * dt * dfx)
            x += dx
            if abs(dx) < 1e-13 * (1.0 + abs(x)):
                break
        return x

    def forcing(i, m, v, row):
        """g^2 <phi phi> and g^2 <phi' phi'> between time i and times 0..i (phase-averaged)."""
        x1 = m[i] + shift[:, i][:, None]
        x2 = m[: i + 1][None, :] + shift[:, : i + 1]
        F, G = mom.cross_both(x1, v[i], x2, v[None, : i + 1], row[None, :])
        F = g2 * F.mean(axis=0)
        if rho_J02:
            F -= rho_J02 * nu[i] * nu[: i + 1]
        return F, g2 * G.mean(axis=0)

    stat = stationary_dmft(g, J0=J0, I0=I0, N=N, K=K, phi=phi, n_gh=n_gh)
    m = np.empty(n + 1)
    v = np.empty(n + 1)
    m[0] = stat.m
    v[0] = max(stat.delta0, 1e-6)
    nu = np.empty(n + 1)
    nu[0] = nu_and_slope(m[0], v[0], 0)[0]
    c_row = np.array([v[0]])
    D_row = np.array([1.0])
    log_scale = np.zeros(n + 1)
    F_prev = G_prev = None
    n_lag = int(round(max_lag / dt))
    c_last = np.full((per_period, n_lag + 1), np.nan)
    for i in range(n):
        F, Gp = forcing(i, m, v, c_row)
        KD = Gp * D_row
        new_c = _advance_row(c_row, _predict(F, F_prev), a, b)
        new_D = _advance_row(D_row, _predict(KD, G_prev), a, b)
        v[i + 1] = new_c[-1]
        m[i + 1] = step_mean(m[i], v[i], v[i + 1], i)
        nu[i + 1] = nu_and_slope(m[i + 1], v[i + 1], i + 1)[0]
        scale = new_D[-1]
        if not (np.isfinite(scale) and scale > 0 and np.all(np.isfinite(new_c))):
            raise FloatingPointError(f"DMFT integration failed at t = {t[i + 1]} tau; reduce dt")
        new_D /= scale
        log_scale[i + 1] = log_scale[i] + np.log(scale)
        F_prev, G_prev = F, KD / scale
        c_row, D_row = new_c, new_D
        j = i + 1 - (n - per_period + 1)
        if j >= 0:
            k = min(n_lag, i + 1)
            c_last[j, : k + 1] = c_row[::-1][: k + 1]
    lam = (log_scale[n] - log_scale[n_tr]) / (2 * (t[n] - t[n_tr]))
    nus = nu[n_tr:]
    params = dict(
        g=g,
        I1=I1,
        f_tau=f,
        kind=kind,
        J0=J0,
        I0=I0,
        N=N,
        K=K,
        phi=mom.name,
        dt_tau=dt,
        t_transient_tau=n_tr * dt,
        n_phases=n_phases,
    )

    unit_s, unit = (1.0, tau_unit) if tau is None else (float(tau.rescale(pq.s).magnitude), pq.s)

    def signal(values, name, t_start=t[n_tr], **extra):
        return neo.AnalogSignal(
            values,
            units=pq.dimensionless,
            sampling_period=dt * unit_s * unit,
            t_start=t_start * unit_s * unit,
            name=name,
            time_unit="tau" if tau is None else "s",
            **params,
            **extra,
        )

    reference = t[n - per_period + 1 : n + 1] * unit_s
    acov = signal(c_last.T, "autocovariance", t_start=0.0, array_annotations={"reference_time": reference})
    return PeriodicDMFT(
        mean_input=signal(m[n_tr:, None], "mean input"),
        rate=signal(nus[:, None], "population rate"),
        variance=signal(v[n_tr:, None], "variance"),
        lyapunov_exponent=_rate(lam, tau),
        autocovariance=acov,
        parameters=params,
    )
