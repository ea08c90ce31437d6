# LIF neuron with exponentially decaying synaptic conductances (Brian2's COBA form), in closed form when the
# excitatory and inhibitory conductances share one time constant tau_s (Brette 2006):
#
#     tau_m dv/dt = (E_L - v) + g_e (E_e - v) + g_i (E_i - v),   tau_s dg_e/dt = -g_e,   tau_s dg_i/dt = -g_i,
#
# conductances dimensionless (relative to the leak), a pulse w > 0 adds w to g_e, w < 0 adds -w to g_i.
# With u = v - E_L, g = g_e + g_i and c = g_e (E_e - E_L) + g_i (E_i - E_L) (both decay with tau_s), the
# equation is tau_m du/dt = -(1 + g0 q(s)) u + c0 q(s), q(s) = exp(-s/tau_s), s the time since the state
# (u0, g_e0, g_i0) was stored. The integrating factor exp(G(s)), G(s) = s/tau_m + a (1 - q(s)),
# a = g0 tau_s / tau_m, gives
#
#     u(s) = P(s) u0 + (c0 / tau_m) J(s),   P(s) = exp(-s/tau_m + a expm1(-s/tau_s)),
#     J(s) = int_0^s exp(-(s - r)/tau_m - r/tau_s - a (q(r) - q(s))) dr,
#
# J being a difference of incomplete gamma functions (substitute x = a q(r)). Written as that difference it
# cancels badly (for small s, and for large a), so it is evaluated as the integral of its positive,
# log-concave integrand where the conductance term lambda(r) = a q(r) is large (above 1/2): composite
# Gauss-Legendre on panels of tau_s / sqrt(lambda) (the integrand varies by about sqrt(lambda) over one),
# 8 points where lambda <= 4 (panels also <= 1 / |1/tau_m - 1/tau_s|: the rule's error for exp(c x) on
# [-1, 1] is below 3e-18 c^16, c <= 1 here), 20 points above (panels <= 4 / |1/tau_m - 1/tau_s|). Where lambda(r) <= 1/2 (all of [0, s]
# when a <= 1/2), exp(-lambda(r)) is summed as its power series (17 terms: 0.5^17/17! < 1e-19), each term
# integrated in closed form by the current-synapse kernel of _lif_exp.pxd with time constant
# tau_s / (j + 1): a series of positive kernels with alternating signs and ratio <= 1/2, no cancellation.
# Accuracy, measured against 30-digit mpmath (tests/test_coba.py): within 27 rounding steps of the voltage
# scale over a grid of a and tau_s / tau_m, most cases to the last bit.
#
# The first threshold crossing (`coba_time_to`) cannot be missed; why, in docs/engine.md ("Conductance
# synapses"). In short: u' = 0 where u equals w(s) = c0 q / (1 + g0 q), which moves monotonically towards 0;
# at a zero of u - w its derivative is -w', of one sign, so u - w has at most one zero and u at most one
# critical point. v never exceeds E_L + max(u0, w0, 0) (quick rejection), and past a horizon H (bounded
# transients) v - level has the sign of E_L - level. So [0, H] splits into at most two monotone pieces at
# the critical point (bracketed by the signs of u' at 0 and H), and the first piece whose end is at or
# above the level brackets the first crossing, polished by safeguarded Newton to machine precision.
#
# All functions are `noexcept nogil`; callers guarantee the preconditions (conductances >= 0, taus > 0).
from libc.math cimport INFINITY, exp, expm1, fabs, log, sqrt

from ._eif cimport EIF_GL8_W, EIF_GL8_X, EIF_GL_W, EIF_GL_X
from ._lif_exp cimport LexpState, lexp_kernel
from ._newton cimport NewtonBracket, newton_start, newton_step

DEF EPS = 2.220446049250313e-16
DEF MAX_ITER = 200
DEF COBA_SERIES_LAMBDA = 0.5    # a q(r) below which exp(-a q(r)) is summed as its series
DEF COBA_SERIES_TERMS = 17      # 0.5**17 / 17! < 1e-19


cdef struct CobaPar:            # one neuron's parameters
    double tau_m
    double tau_s
    double E_L
    double E_e
    double E_i


cdef inline double coba_integrand(double r, double s, double a, double tm, double ts) noexcept nogil:
    """The integrand of J at r in [0, s]; q(r) - q(s) written q(r) (1 - exp(-(s - r)/tau_s)), without the
    cancellation that would cost a * eps in the exponent."""
    return exp(-(s - r) / tm - r / ts + a * exp(-r / ts) * expm1(-(s - r) / ts))


cdef inline double coba_J(double s, double a, const CobaPar* p) noexcept nogil:
    """J(s) >= 0 above, for s >= 0 and a >= 0."""
    cdef double ts = p.tau_s, tm = p.tau_m, S1 = 0.0, r0, r1, h, hlin, lam, m, hw, acc = 0.0, k
    cdef double sig, Em, Es1, Esj, term, tail
    cdef int j
    if s <= 0.0:
        return 0.0
    if a > COBA_SERIES_LAMBDA:
        S1 = ts * log(a / COBA_SERIES_LAMBDA)    # lambda(r) = a q(r) falls to COBA_SERIES_LAMBDA there
        S1 = s if s < S1 else S1
    k = fabs((ts - tm) / (tm * ts))
    hlin = 1.0 / k if k > 0.0 else INFINITY
    r0 = 0.0
    while r0 < S1:
        lam = a * exp(-r0 / ts)
        h = ts / sqrt(lam)
        if lam > 4.0:                       # the 20-point rule on panels 4 times longer in 1/|k|
            h = h if h < 4.0 * hlin else 4.0 * hlin
        elif h > hlin:                      # the 8-point rule
            h = hlin
        r1 = r0 + h
        if r1 > S1 or S1 - r1 < 1e-3 * h:
            r1 = S1
        m = 0.5 * (r0 + r1)
        hw = 0.5 * (r1 - r0)
        if lam > 4.0:
            for j in range(10):
                acc += hw * EIF_GL_W[j] * (coba_integrand(m - hw * EIF_GL_X[j], s, a, tm, ts)
                                           + coba_integrand(m + hw * EIF_GL_X[j], s, a, tm, ts))
        else:
            for j in range(4):
                acc += hw * EIF_GL8_W[j] * (coba_integrand(m - hw * EIF_GL8_X[j], s, a, tm, ts)
                                            + coba_integrand(m + hw * EIF_GL8_X[j], s, a, tm, ts))
        r0 = r1
    if S1 < s:
        # on [S1, s], lambda(r) <= lambda1 = a q(S1) <= COBA_SERIES_LAMBDA: expand exp(-lambda(r)) in its
        # power series and integrate term by term in closed form (the current-synapse kernel of
        # _lif_exp.pxd with time constant tau_s / (j + 1)); the terms fall as lambda1^j / j!
        sig = s - S1
        lam = a * exp(-S1 / ts)
        Em = exp(-sig / tm)
        Es1 = exp(-sig / ts)
        Esj = 1.0
        term = 1.0
        tail = 0.0
        for j in range(COBA_SERIES_TERMS):
            Esj *= Es1
            tail += term * lexp_kernel(sig, tm, ts / (j + 1), Em, Esj)
            term *= -lam / (j + 1)
        acc += exp(a * exp(-s / ts) - S1 / ts) * tm * tail
    return acc


cdef inline double coba_eval(double s, const LexpState* x, const CobaPar* p, LexpState* out) noexcept nogil:
    """The state at s >= 0 into `out` (free evolution; x.ie = g_e, x.ii = g_i); returns
    tau_m dv/ds there."""
    cdef double g0 = x.ie + x.ii, a = g0 * (p.tau_s / p.tau_m), q = exp(-s / p.tau_s)
    cdef double c0 = x.ie * (p.E_e - p.E_L) + x.ii * (p.E_i - p.E_L), u
    if s == 0.0:
        out[0] = x[0]
        return -(1.0 + g0) * (x.v - p.E_L) + c0
    u = exp(-s / p.tau_m + a * expm1(-s / p.tau_s)) * (x.v - p.E_L)
    if c0 != 0.0:
        u += (c0 / p.tau_m) * coba_J(s, a, p)
    out.v = p.E_L + u
    out.ie = x.ie * q
    out.ii = x.ii * q
    return -(1.0 + g0 * q) * u + c0 * q


cdef inline void coba_advance(LexpState* x, double s, const CobaPar* p) noexcept nogil:
    """Move the state forward by s >= 0 (no threshold crossing within s)."""
    cdef LexpState y
    if s != 0.0:
        coba_eval(s, x, p, &y)
        x[0] = y


cdef inline void coba_decay(LexpState* x, double s, const CobaPar* p) noexcept nogil:
    """Move the conductances forward by s >= 0, v held (refractoriness)."""
    cdef double q
    if s != 0.0:
        q = exp(-s / p.tau_s)
        x.ie *= q
        x.ii *= q


cdef inline double coba_solve(double a, double b, double fa, bint crit, const LexpState* x,
                              const CobaPar* p, double level) noexcept nogil:
    """The zero in [a, b] of F = v - level (crit = 0) or of F = tau_m dv/ds (crit = 1), given that F
    changes sign once on [a, b] (F(a) = fa, F(b) of the other sign or zero): Newton's method, with a
    bisection step whenever the Newton step leaves the bracket or does not halve it."""
    cdef LexpState y
    cdef double F, dF, d, g, c, u
    cdef int it
    cdef NewtonBracket br
    newton_start(&br, a, b, fa)
    for it in range(MAX_ITER):
        d = coba_eval(br.s, x, p, &y)
        if crit:
            # tau_m d2v/ds2 = -(dg/ds) u - (1 + g) dv/ds + dc/ds, with dg/ds = -g/tau_s, dc/ds = -c/tau_s
            g = y.ie + y.ii
            c = y.ie * (p.E_e - p.E_L) + y.ii * (p.E_i - p.E_L)
            u = y.v - p.E_L
            F = d
            dF = (g * u - c) / p.tau_s - (1.0 + g) * d / p.tau_m
        else:
            F = y.v - level
            dF = d / p.tau_m
        if newton_step(&br, F, dF, crit):
            return br.s
    return br.s


cdef inline double coba_time_bound(const LexpState* x, double level, const CobaPar* p) noexcept nogil:
    """A lower bound of `coba_time_to` (precondition: x.v < level), without an exponential. As the
    conductances decay toward 0, tau_m dv/dt <= F(v) = (E_L - v) + g_e0 max(E_e - v, 0) + g_i0 max(E_i - v, 0),
    which decreases with v; so v stays below the solution w of tau_m w' = F(w), w(0) = v0, which is concave
    where it rises: v(s) <= v0 + F(v0) s / tau_m. INFINITY when F(v0) <= 0: v never rises above v0 then, and
    `coba_time_to` is INFINITY too. (The factor 1 - 1e-12 covers the rounding.)"""
    cdef double up = ((p.E_L - x.v) + x.ie * (p.E_e - x.v if p.E_e > x.v else 0.0)
                      + x.ii * (p.E_i - x.v if p.E_i > x.v else 0.0))
    if up <= 0.0:
        return INFINITY
    return (level - x.v) * p.tau_m / up * (1.0 - 1e-12)


cdef inline double coba_time_to(const LexpState* x, double level, const CobaPar* p) noexcept nogil:
    """Time from state x until v first reaches level (precondition: x.v < level); INFINITY if never."""
    cdef LexpState y
    cdef double g0 = x.ie + x.ii, u0 = x.v - p.E_L, c0 = x.ie * (p.E_e - p.E_L) + x.ii * (p.E_i - p.E_L)
    cdef double top, M, H, d0, dH, fH, z, fz
    top = c0 / (1.0 + g0)                   # w0: u' = 0 where u = w(s), |w| decreasing
    top = top if top > u0 else u0
    top = top if top > 0.0 else 0.0
    # v <= E_L + max(u0, w0, 0) at every s >= 0 (margin for rounding)
    if p.E_L + top + 16.0 * EPS * (fabs(p.E_L) + fabs(top) + fabs(level)) < level:
        return INFINITY
    # horizon: past H, |u| <= M = |E_L - level| / 2, so v - level keeps the sign of E_L - level
    M = 0.5 * fabs(p.E_L - level)
    if M == 0.0:
        M = 4.0 * EPS * fabs(level) if level != 0.0 else 1e-300
    H = p.tau_m if p.tau_m > p.tau_s else p.tau_s
    while (exp(-H / p.tau_m) * fabs(u0)
           + fabs(c0) * lexp_kernel(H, p.tau_m, p.tau_s, exp(-H / p.tau_m), exp(-H / p.tau_s))) > M:
        H *= 2.0
    d0 = -(1.0 + g0) * u0 + c0
    dH = coba_eval(H, x, p, &y)
    fH = y.v - level
    if (d0 > 0.0 and dH < 0.0) or (d0 < 0.0 and dH > 0.0):
        # one critical point z in (0, H): v monotone on [0, z] and on [z, H]
        z = coba_solve(0.0, H, d0, True, x, p, level)
        coba_eval(z, x, p, &y)
        fz = y.v - level
        if fz >= 0.0:
            return coba_solve(0.0, z, u0 + p.E_L - level, False, x, p, level)
        if fH >= 0.0:
            return coba_solve(z, H, fz, False, x, p, level)
        return INFINITY
    if fH >= 0.0:
        return coba_solve(0.0, H, x.v - level, False, x, p, level)
    return INFINITY
