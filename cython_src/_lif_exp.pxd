# LIF neuron with exponentially decaying synaptic currents (Brian2's CUBA model), in closed form:
#
#     tau_m dv/dt = drive - v + I_e + I_i,   tau_e dI_e/dt = -I_e,   tau_i dI_i/dt = -I_i,
#
# a pulse of weight w > 0 adds w to I_e, w < 0 adds w to I_i. Between events, with s the time since the
# state (v0, e0, i0) was stored:
#
#     v(s) = v0 + (drive - v0) (1 - exp(-s/tau_m)) + e0 K(s; tau_m, tau_e) + i0 K(s; tau_m, tau_i),
#     K(s; tau_m, tau_s) = tau_s / (tau_s - tau_m) (exp(-s/tau_s) - exp(-s/tau_m)),
#
# K being v of tau_m dv/dt = -v + exp(-t/tau_s) from v(0) = 0. Near tau_s = tau_m the difference cancels;
# there K is written (s/tau_m) exp(-s/tau_m) exprel(x), x = s (1/tau_m - 1/tau_s), exprel(x) = expm1(x)/x,
# which has no cancellation and equals the limit (s/tau) exp(-s/tau) at tau_s = tau_m exactly.
#
# The first threshold crossing (`lexp_time_to`) is found by root isolation that cannot miss a crossing;
# why, in docs/engine.md ("LIF with exponential currents"). In short: g = tau_m dv/ds = drive - v + I_e + I_i
# satisfies d/ds (g exp(s/tau_m)) = -exp(s/tau_m) (I_e/tau_e + I_i/tau_i), a sum of two exponentials with
# at most one zero s0, in closed form. So g exp(s/tau_m) is monotone on [0, s0] and on [s0, inf): v has at
# most two critical points, each bracketed on one of those pieces, and v is monotone between them. Past a
# horizon S (bounded transients) the sign of v - level is that of drive - level. The first of the
# monotone pieces whose end is at or above the level brackets the first crossing, which a safeguarded
# Newton iteration (bisection when Newton leaves the bracket) polishes to machine precision.
#
# All functions are `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, M_E, exp, expm1, fabs, log, log1p

from ._newton cimport NewtonBracket, newton_start, newton_step

DEF EPS = 2.220446049250313e-16
DEF MAX_ITER = 200


cdef struct LexpPar:            # one neuron's parameters
    double tau_m
    double tau_e
    double tau_i
    double drive


cdef struct LexpState:          # v and the two currents at one time
    double v
    double ie
    double ii


cdef inline double lexp_kernel(double s, double tau_m, double tau_s, double Em, double Es) noexcept nogil:
    """K(s; tau_m, tau_s) >= 0 for s >= 0, given Em = exp(-s/tau_m) and Es = exp(-s/tau_s)."""
    cdef double d = tau_s - tau_m          # exact near equality (Sterbenz)
    cdef double x = s * (d / (tau_m * tau_s))
    if fabs(x) < 0.5:
        return (s / tau_m) * Em * (expm1(x) / x if x != 0.0 else 1.0)
    return tau_s / d * (Es - Em)           # Es / Em = exp(x) is at least 1.65 away from 1: no cancellation


cdef inline double lexp_kernel_peak(double tau_m, double tau_s) noexcept nogil:
    """max over s >= 0 of K(s; tau_m, tau_s) = r**(-1 / (r - 1)), r = tau_s / tau_m (1/e at r = 1)."""
    cdef double r1 = (tau_s - tau_m) / tau_m
    if r1 == 0.0:
        return 1.0 / M_E
    return exp(-log1p(r1) / r1)


cdef inline double lexp_eval(double s, const LexpState* x, const LexpPar* p, LexpState* out) noexcept nogil:
    """The state at s >= 0 into `out` (free evolution); returns g = tau_m dv/ds there."""
    cdef double Em = exp(-s / p.tau_m)
    cdef double em1 = Em - 1.0 if Em < 0.5 else expm1(-s / p.tau_m)
    cdef double Ee = exp(-s / p.tau_e)
    cdef double Ei = exp(-s / p.tau_i)
    cdef double Ke = lexp_kernel(s, p.tau_m, p.tau_e, Em, Ee), Ki = lexp_kernel(s, p.tau_m, p.tau_i, Em, Ei)
    out.v = x.v - (p.drive - x.v) * em1 + x.ie * Ke + x.ii * Ki
    out.ie = x.ie * Ee
    out.ii = x.ii * Ei
    # g from its terms, not as drive - v + I_e + I_i: long after the state was stored v is drive to within
    # rounding, and that difference would be noise where g is tiny (its sign decides the critical points)
    return (p.drive - x.v) * Em + x.ie * (Ee - Ke) + x.ii * (Ei - Ki)


cdef inline void lexp_advance(LexpState* x, double s, const LexpPar* p) noexcept nogil:
    """Move the state forward by s >= 0 (no threshold crossing within s)."""
    cdef LexpState y
    if s != 0.0:
        lexp_eval(s, x, p, &y)
        x[0] = y


cdef inline void lexp_decay(LexpState* x, double s, const LexpPar* p) noexcept nogil:
    """Move the currents forward by s >= 0, v held (refractoriness)."""
    if s != 0.0:
        x.ie *= exp(-s / p.tau_e)
        x.ii *= exp(-s / p.tau_i)


cdef inline double lexp_transient_bound(double s, const LexpState* x, const LexpPar* p) noexcept nogil:
    """An upper bound of |v(s) - drive|; non-increasing for s >= max(tau_m, tau_e, tau_i) (each kernel
    peaks at tau_m tau_s ln(tau_s/tau_m) / (tau_s - tau_m) <= sqrt(tau_m tau_s))."""
    cdef double Em = exp(-s / p.tau_m)
    return (fabs(x.v - p.drive) * Em
            + fabs(x.ie) * fabs(lexp_kernel(s, p.tau_m, p.tau_e, Em, exp(-s / p.tau_e)))
            + fabs(x.ii) * fabs(lexp_kernel(s, p.tau_m, p.tau_i, Em, exp(-s / p.tau_i))))


cdef inline double lexp_solve(double a, double b, double fa, bint crit, const LexpState* x,
                              const LexpPar* p, double level) noexcept nogil:
    """The zero in [a, b] of F = v - level (crit = 0) or of F = g (crit = 1), given that F changes sign
    once on [a, b] (F(a) = fa, F(b) of the other sign or zero): Newton's method, with a bisection step
    whenever the Newton step leaves the bracket or does not halve it."""
    cdef LexpState y
    cdef double F, dF, g
    cdef int it
    cdef NewtonBracket br
    newton_start(&br, a, b, fa)
    for it in range(MAX_ITER):
        g = lexp_eval(br.s, x, p, &y)
        if crit:
            F = g
            dF = -g / p.tau_m - y.ie / p.tau_e - y.ii / p.tau_i
        else:
            F = y.v - level
            dF = g / p.tau_m
        if newton_step(&br, F, dF, crit):
            return br.s
    return br.s


cdef inline double lexp_horizon(double a, const LexpState* x, const LexpPar* p, double level) noexcept nogil:
    """A horizon S >= a, max(tau): beyond it |v - drive| <= M, so v - level keeps the sign of drive - level
    (for drive == level, M is a few ulps: closer is within rounding)."""
    cdef double T = p.tau_m if p.tau_m > p.tau_e else p.tau_e, M = 0.5 * fabs(p.drive - level), b
    T = T if T > p.tau_i else p.tau_i
    if M == 0.0:
        M = 4.0 * EPS * fabs(level) if level != 0.0 else 1e-300
    b = a if a > T else T
    while lexp_transient_bound(b, x, p) > M:
        b *= 2.0
    return b


cdef inline double lexp_time_bound(const LexpState* x, double level, const LexpPar* p) noexcept nogil:
    """A lower bound of `lexp_time_to` (precondition: x.v < level) without an exponential: e^{-z} >= 1 - z,
    0 <= K(s; tau_m, tau_s) <= s / tau_m and currents that keep their signs as they decay give
    v(s) <= v0 + (max(drive - v0, 0) + max(I_e0, 0) + max(I_i0, 0)) s / tau_m. INFINITY when that slope is 0:
    v never rises then, and `lexp_time_to` is INFINITY too. (The factor 1 - 1e-12 covers the rounding.)"""
    cdef double up = ((p.drive - x.v if p.drive > x.v else 0.0) + (x.ie if x.ie > 0.0 else 0.0)
                      + (x.ii if x.ii > 0.0 else 0.0))
    if up <= 0.0:
        return INFINITY
    return (level - x.v) * p.tau_m / up * (1.0 - 1e-12)


cdef inline double lexp_time_to(const LexpState* x, double level, const LexpPar* p) noexcept nogil:
    """Time from state x until v first reaches level (precondition: x.v < level); INFINITY if never."""
    cdef LexpState y
    cdef double pe, qi, s0 = INFINITY, a = 0.0, b, fa, ga, fb, gb, z
    cdef int piece
    # no crossing if even the sum of the terms' maxima stays below the level (common under inhibition)
    if ((x.v if x.v > p.drive else p.drive)
            + (x.ie * lexp_kernel_peak(p.tau_m, p.tau_e) if x.ie > 0.0 else 0.0) * (1.0 + 64.0 * EPS)
            + (x.ii * lexp_kernel_peak(p.tau_m, p.tau_i) if x.ii > 0.0 else 0.0) * (1.0 + 64.0 * EPS)
            < level):
        return INFINITY
    # s0: the zero of I_e/tau_e + I_i/tau_i (currents of opposite signs, distinct time constants)
    pe = x.ie / p.tau_e
    qi = x.ii / p.tau_i
    if pe * qi < 0.0 and p.tau_e != p.tau_i:
        s0 = log(-qi / pe) * (p.tau_e * p.tau_i / (p.tau_e - p.tau_i))
        if not s0 > 0.0 or s0 >= lexp_horizon(0.0, x, p, level):
            s0 = INFINITY                   # (beyond the horizon: [0, horizon] is one piece)
    fa = x.v - level
    ga = (p.drive - x.v) + x.ie + x.ii
    for piece in range(2):
        if piece == 0 and s0 < INFINITY:
            b = s0
        elif piece == 0 or s0 < INFINITY:
            b = lexp_horizon(a, x, p, level)
        else:
            break
        gb = lexp_eval(b, x, p, &y)
        fb = y.v - level
        if (ga < 0.0 and gb > 0.0) or (ga > 0.0 and gb < 0.0):
            # one critical point z of v in (a, b): v monotone on [a, z] and on [z, b]
            z = lexp_solve(a, b, ga, True, x, p, level)
            lexp_eval(z, x, p, &y)
            if y.v - level >= 0.0:
                return lexp_solve(a, z, fa, False, x, p, level)
            a, fa = z, y.v - level
        if fb >= 0.0:
            return lexp_solve(a, b, fa, False, x, p, level)
        a, fa, ga = b, fb, gb
        if piece == 1 or s0 == INFINITY:
            break
    return INFINITY


# Derivatives of the kernel by its time constants, for the backward pass (`_adjoint_exp`). With
# alpha = 1/tau_m, beta = 1/tau_s, K(s) = alpha int_0^s exp(-alpha (s - u)) exp(-beta u) du, so
#     dK/dtau_s = G(s; alpha, beta) / (tau_m tau_s^2),   dK/dtau_m = -K / tau_m + G(s; beta, alpha) / tau_m^3,
#     G(s; alpha, beta) = int_0^s u exp(-alpha (s - u)) exp(-beta u) du = s^2 exp(-alpha s) h1(s (alpha - beta)),
#     h1(z) = int_0^1 t exp(z t) dt = (exp(z) (z - 1) + 1) / z^2,
# G being written (exp(-beta s) (z - 1) + exp(-alpha s)) / z^2 * s^2 for |z| >= 1 (no overflow, at most
# a factor 4 of cancellation) and by the series of h1 (sum of z^k / (k! (k + 2))) below.

cdef inline double lexp_g(double s, double alpha, double beta, double d_ab) noexcept nogil:
    """G(s; alpha, beta) >= 0 for s >= 0, given d_ab = alpha - beta (computed by the caller without
    cancellation near alpha = beta)."""
    cdef double z = s * d_ab, term, total
    cdef int k
    if fabs(z) < 1.0:
        term = 1.0                          # z^k / k!
        total = 0.5
        for k in range(1, 24):
            term *= z / k
            total += term / (k + 2)
        return s * s * exp(-alpha * s) * total
    return s * s * (exp(-beta * s) * (z - 1.0) + exp(-alpha * s)) / (z * z)


cdef inline void lexp_kernel_dtau(double s, double tau_m, double tau_s, double K, double* dK_dtm,
                                  double* dK_dts) noexcept nogil:
    """dK/dtau_m and dK/dtau_s of K(s; tau_m, tau_s) (given as K) at s >= 0."""
    cdef double d_ab = (tau_s - tau_m) / (tau_m * tau_s)    # 1/tau_m - 1/tau_s, exact at tau_s = tau_m
    dK_dts[0] = lexp_g(s, 1.0 / tau_m, 1.0 / tau_s, d_ab) / (tau_m * tau_s * tau_s)
    dK_dtm[0] = -K / tau_m + lexp_g(s, 1.0 / tau_s, 1.0 / tau_m, -d_ab) / (tau_m * tau_m * tau_m)
