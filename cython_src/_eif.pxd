# Exponential integrate-and-fire kernels, in the normalised coordinate x = (v - V_T) / Delta_T:
#   tau dx/dt = f(x) = d - x + exp(x),   pulses x += w,
# where the drive d = (E_L + R I - V_T) / Delta_T holds the rest potential and the constant input.
#
# There is no closed form, so the kernels evaluate the time function T(a, b) = int_a^b dx / f(x) (in units
# of tau) by Gauss-Legendre quadrature and invert it by a safeguarded Newton iteration. Everything is
# computed per call from (x, d): no tables, so every neuron may have its own drive (memory per distinct
# parameter set: none beyond the engine's per-neuron parameters). Cost per call is bounded: a few Newton
# steps for the fixed points (or the complex zero that governs the bottleneck), and a number of 20-point
# panels that grows with the logarithm of the distances involved (typically 1 to 4).
#
# f is convex with its minimum d + 1 at x = 0. Write d1 = d + 1 (exact for d near -1) and
# phi2(x) = exp(x) - 1 - x (computed without cancellation), so f = d1 + phi2(x).
#  * d1 > 0: no fixed point, f > 0, x rises and blows up in finite time. f has complex zeros; the nearest
#    to the real axis, c +- i a, sets the bottleneck near x = c. The quadrature variable z with
#    x = c + a sinh(z) makes the integrand a cosh(z) / f(x) analytic in the strip |Im z| < pi / 2 (the
#    zero maps to z = i pi / 2), bounded, and ~1 where f ~ d - x: panels of length <= 2 in z.
#  * d1 < 0: a stable fixed point x_s < 0 and an unstable one x_u > 0 (f(x_s) = f(x_u) = 0, found by
#    Newton iterations that converge monotonically on the convex f). Around a fixed point x_f the flow is
#    written with u = |x - x_f| and f(x_f + sig u) = phi2(sig u) + expm1(x_f) expm1(sig u), which keeps full
#    relative precision as u -> 0. The logarithmic singularity of 1 / f at x_f is subtracted analytically:
#    for u <= U1 = min(1, (x_u - x_s) / 2) one panel integrates 1 / |f| - h0 / u (analytic at u = 0, with
#    h0 = 1 / |f'(x_f)|) and h0 log(u_b / u_a) is added; beyond U1 panels of length <= 2 in log u. Between
#    the fixed points the path is split at their midpoint, each half referred to its own fixed point.
#  * d1 = 0: one double fixed point at 0, where 1 / f = 2 / u^2 - 2 sig / (3 u) + analytic; both singular
#    terms are integrated analytically.
# Stated accuracy: relative 1e-13 on times (checked against mpmath at 30 digits in tests/test_eif.py
# over both regimes, near the fixed points and over the whole range of x the engine meets).
#
# Crossings cannot be missed: between pulses the dynamics is one-dimensional and autonomous, so x moves
# monotonically (up where f > 0, down where f < 0) and never passes a fixed point. The time to a level
# above x is finite exactly when f > 0 on [x, level]: d1 > 0, or x above the unstable fixed point, or
# x and level both below the stable one; it is then the integral above, and INFINITY otherwise.
from libc.string cimport memcpy
from libc.math cimport INFINITY, asinh, ceil, cos, cosh, exp, expm1, fabs, log, sin, sinh, sqrt

cdef extern from *:
    """
    /* 20-point Gauss-Legendre nodes in (0, 1) and their weights (the rule is symmetric) */
    static const double EIF_GL_X[10] = {
        0.07652652113349734, 0.22778585114164507, 0.37370608871541955, 0.5108670019508271,
        0.636053680726515, 0.7463319064601508, 0.8391169718222188, 0.912234428251326,
        0.9639719272779138, 0.993128599185095};
    static const double EIF_GL_W[10] = {
        0.15275338713072628, 0.14917298647260424, 0.1420961093183824, 0.1316886384491769,
        0.1181945319615186, 0.1019301198172407, 0.08327674157670471, 0.06267204833410879,
        0.040601429800386446, 0.017614007139150893};
    /* x beyond which the trajectory is taken to have blown up: f > e^700 there, so the time left to
       infinity is below 1e-304 tau (thresholds must lie below it; the Python layer checks) */
    /* the 8-point rule, for short panels */
    static const double EIF_GL8_X[4] = {
        0.18343464249564978, 0.525532409916329, 0.7966664774136267, 0.9602898564975362};
    static const double EIF_GL8_W[4] = {
        0.36268378337836166, 0.3137066458778869, 0.22238103445337443, 0.10122853629037706};
    /* 1 / k! for k = 0 .. 20 */
    static const double EIF_INV_FACT[21] = {
        1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333,
        0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05, 2.7557319223985893e-06,
        2.755731922398589e-07, 2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10,
        1.1470745597729725e-11, 7.647163731819816e-13, 4.779477332387385e-14, 2.8114572543455206e-15,
        1.5619206968586225e-16, 8.22063524662433e-18, 4.110317623312165e-19};
    /* the geometry of the last drive seen, per thread (engines may run in several threads at once) */
    #if defined(_MSC_VER)
    #define EIF_TLS __declspec(thread)
    #else
    #define EIF_TLS _Thread_local
    #endif
    static EIF_TLS int eif_cache_ok = 0;
    static EIF_TLS double eif_cache_drive = 0.0;
    static EIF_TLS double eif_cache_geo[16];
    #define EIF_XMAX 700.0
    #define EIF_PANEL 2.0
    #define EIF_EPS 2.220446049250313e-16
    """
    const double EIF_GL_X[10]
    const double EIF_GL_W[10]
    const double EIF_GL8_X[4]
    const double EIF_GL8_W[4]
    const double EIF_INV_FACT[21]
    int eif_cache_ok
    double eif_cache_drive
    double eif_cache_geo[16]
    const double EIF_XMAX
    const double EIF_PANEL
    const double EIF_EPS

cdef enum:
    EIF_FREE = 0        # d1 > 0: no fixed point
    EIF_TWO = 1         # d1 < 0: stable x_s < 0 < x_u unstable
    EIF_DOUBLE = 2      # d1 = 0: a double fixed point at 0



cdef struct EifGeo:
    int regime
    double d1
    double c, a                 # EIF_FREE: the complex zero c + i a of f nearest to the real axis
    double xs, xu               # EIF_TWO: the fixed points (both 0 for EIF_DOUBLE)
    double ems, emu             # expm1(x_s), expm1(x_u)
    double es, eu               # exp(x_s), exp(x_u)
    double U1                   # where the subtracted singular part hands over to panels in log u


cdef struct EifPath:
    # a monotone path of the flow, parametrised by p increasing with time:
    #   free: x = c + a sinh(p);  leg: x = xf + sig u with u = exp(dir p)
    bint free
    double c, a, d1
    double xf, sig, em, ef, h0, U1
    bint dbl
    int dir


cdef inline double eif_phi2(double y) noexcept nogil:
    """exp(y) - 1 - y, to full relative precision (series for |y| < 1)."""
    cdef double p = EIF_INV_FACT[20]
    cdef int k
    if fabs(y) >= 1.0:
        return expm1(y) - y
    for k in range(19, 1, -1):
        p = p * y + EIF_INV_FACT[k]
    return y * y * p


cdef inline void eif_geometry(double d, EifGeo* g) noexcept nogil:
    """The fixed points (or the bottleneck's complex zero) of tau dx/dt = d - x + exp(x), from a per-thread
    cache of the last drive (a network whose neurons share a drive computes them once)."""
    global eif_cache_ok, eif_cache_drive
    if eif_cache_ok and d == eif_cache_drive:
        memcpy(g, eif_cache_geo, sizeof(EifGeo))
        return
    eif_geometry_compute(d, g)
    memcpy(eif_cache_geo, g, sizeof(EifGeo))
    eif_cache_drive, eif_cache_ok = d, 1


cdef inline void eif_geometry_compute(double d, EifGeo* g) noexcept nogil:
    cdef double e, x, xn, zr, zi, er, ei, fr, fi, dr, di, den, pr, pi_, tr
    cdef int k, j
    g.d1 = d + 1.0
    if g.d1 > 0.0:
        g.regime = EIF_FREE
        # complex Newton on phi2(z) + d1 = 0 from z = i sqrt(2 d1) (small d1) or log(d1) + i pi (large)
        if g.d1 < 1.0:
            zr, zi = 0.0, sqrt(2.0 * g.d1)
        else:
            zr, zi = log(g.d1), 3.141592653589793
        for k in range(12):
            if zr * zr + zi * zi < 0.25:
                # phi2(z) = z^2 / 2 (1 + z / 3 (1 + ...)), expm1(z) = z (1 + z / 2 (1 + ...)) by series
                pr, pi_ = 1.0, 0.0
                for j in range(16, 2, -1):
                    tr = 1.0 + (zr * pr - zi * pi_) / j
                    pi_ = (zr * pi_ + zi * pr) / j
                    pr = tr
                fr = 0.5 * ((zr * zr - zi * zi) * pr - 2.0 * zr * zi * pi_) + g.d1
                fi = 0.5 * ((zr * zr - zi * zi) * pi_ + 2.0 * zr * zi * pr)
                pr, pi_ = 1.0, 0.0
                for j in range(16, 1, -1):
                    tr = 1.0 + (zr * pr - zi * pi_) / j
                    pi_ = (zr * pi_ + zi * pr) / j
                    pr = tr
                dr, di = zr * pr - zi * pi_, zr * pi_ + zi * pr
            else:
                er, ei = exp(zr) * cos(zi), exp(zr) * sin(zi)
                fr, fi = er - 1.0 - zr + g.d1, ei - zi
                dr, di = er - 1.0, ei
            den = dr * dr + di * di
            er, ei = (fr * dr + fi * di) / den, (fi * dr - fr * di) / den
            zr -= er
            zi -= ei
            if er * er + ei * ei < 1e-8 * (zr * zr + zi * zi):
                break                          # the change of variables needs c and a to a few digits only
        g.c, g.a = zr, fabs(zi)
        return
    if g.d1 == 0.0:
        g.regime = EIF_DOUBLE
        g.xs = g.xu = g.ems = g.emu = 0.0
        g.es = g.eu = 1.0
        g.U1 = 1.0
        return
    g.regime = EIF_TWO
    e = -g.d1
    # f is convex: Newton from a point where phi2 >= e converges monotonically towards the root there
    x = sqrt(2.0 * e)                          # phi2(x) >= x^2 / 2 for x > 0
    if x > log(2.0 * e + 2.0):
        x = log(2.0 * e + 2.0)                 # phi2 = 2 e + 1 - x >= e there
    for k in range(200):
        xn = x - (eif_phi2(x) - e) / expm1(x)
        if not (xn < x):
            break
        x = xn
    g.xu = x
    x = -1.0 - e                               # phi2(x) >= -1 - x for every x
    if e <= 1.0 / 3.0 and -sqrt(3.0 * e) > x:
        x = -sqrt(3.0 * e)                     # phi2(-s) >= s^2 / 3 for 0 < s <= 1
    for k in range(200):
        xn = x - (eif_phi2(x) - e) / expm1(x)
        if not (xn > x):
            break
        x = xn
    g.xs = x
    g.ems, g.emu = expm1(g.xs), expm1(g.xu)
    g.es, g.eu = exp(g.xs), exp(g.xu)
    g.U1 = 0.5 * (g.xu - g.xs)
    if g.U1 > 1.0:
        g.U1 = 1.0


cdef inline double eif_f_about(EifPath* P, double u) noexcept nogil:
    """f(x_f + sig u) = exp(x_f) expm1(sig u) - sig u about a fixed point x_f, without cancellation but
    near the other fixed point: for u < 1 as phi2(sig u) + expm1(x_f) expm1(sig u) (precise as u -> 0,
    also when x_f -> 0), beyond as written (the first form would cancel e^u against e^u when x_f << 0)."""
    if u < 1.0:
        return eif_phi2(P.sig * u) + P.em * expm1(P.sig * u)
    return P.ef * expm1(P.sig * u) - P.sig * u


cdef inline double eif_leg_g(EifPath* P, double u) noexcept nogil:
    """u / |f(x_f + sig u)|: time per unit of log u."""
    if P.dbl:
        return u / fabs(eif_phi2(P.sig * u))
    return u / fabs(eif_f_about(P, u))


cdef inline double eif_regular(EifPath* P, double u) noexcept nogil:
    """1 / |f(x_f + sig u)| less its singular part at u = 0 (analytic there)."""
    if P.dbl:
        return 1.0 / fabs(eif_phi2(P.sig * u)) - 2.0 / (u * u) + 2.0 * P.sig / (3.0 * u)
    return 1.0 / fabs(eif_f_about(P, u)) - P.h0 / u


cdef inline double eif_free_g(EifPath* P, double z) noexcept nogil:
    # cosh and sinh from one exp: sinh loses relative precision for small |z| but not absolute, and x needs
    # only absolute precision here
    cdef double e = exp(z), ei = 1.0 / e
    return 0.5 * P.a * (e + ei) / (P.d1 + eif_phi2(P.c + 0.5 * P.a * (e - ei)))


cdef enum:
    EIF_REGULAR = 0     # 1 / |f| less its singular part, in u
    EIF_LOG_U = 1       # u / |f|, in y = log u
    EIF_SINH = 2        # a cosh(z) / f, in z (no fixed point)


cdef inline double eif_integrand(EifPath* P, int which, double t) noexcept nogil:
    if which == EIF_REGULAR:
        return eif_regular(P, t)
    if which == EIF_LOG_U:
        return eif_leg_g(P, exp(t))
    return eif_free_g(P, t)


cdef inline double eif_panel(EifPath* P, int which, double a, double b, bint short) noexcept nogil:
    """Gauss-Legendre on [a, b]: 20 points, or 8 on a panel short against the distance to the nearest
    singularity (then rho >= 15 and rho^-16 < 1e-18)."""
    cdef double m = 0.5 * (a + b), r = 0.5 * (b - a), s = 0.0
    cdef int k
    if short:
        for k in range(4):
            s += EIF_GL8_W[k] * (eif_integrand(P, which, m - r * EIF_GL8_X[k]) + eif_integrand(P, which, m + r * EIF_GL8_X[k]))
    else:
        for k in range(10):
            s += EIF_GL_W[k] * (eif_integrand(P, which, m - r * EIF_GL_X[k]) + eif_integrand(P, which, m + r * EIF_GL_X[k]))
    return r * s


cdef inline double eif_panels(EifPath* P, int which, double a, double b) noexcept nogil:
    """The integral over [a, b] in panels of length <= EIF_PANEL, and <= 16 / x where x is large: there
    f ~ e^x and the integrand falls like exp(-x) per unit of the variable, a variation that the 20-point
    rule resolves to rounding while it stays below e^-16 per panel (8-point rule on panels 8 times shorter
    than both bounds)."""
    cdef double xb = P.c + P.a * sinh(b) if which == EIF_SINH else P.xf + P.sig * exp(b)
    cdef double rate = xb if xb > 1.0 else 1.0
    cdef double len_max = EIF_PANEL if 16.0 / rate > EIF_PANEL else 16.0 / rate
    cdef int n = <int>ceil((b - a) / len_max), i
    cdef double h, total = 0.0
    if n < 1:
        n = 1
    h = (b - a) / n
    for i in range(n):
        total += eif_panel(P, which, a + i * h, a + (i + 1) * h if i + 1 < n else b, h <= 0.125 * len_max)
    return total


cdef inline double eif_leg_int(EifPath* P, double ua, double ub) noexcept nogil:
    """int_{ua}^{ub} du / |f(x_f + sig u)| for 0 < ua <= ub on one side of the fixed point x_f."""
    cdef double total = 0.0, b
    if ua < P.U1:
        # the regular part is analytic in |u| < 2 U1: one panel, short if its length is below U1 / 10
        b = ub if ub < P.U1 else P.U1
        total = eif_panel(P, EIF_REGULAR, ua, b, b - ua <= 0.1 * P.U1)
        if P.dbl:
            total += 2.0 * (1.0 / ua - 1.0 / b) - 2.0 * P.sig / 3.0 * (log(b) - log(ua))
        else:
            total += P.h0 * (log(b) - log(ua))
    if ub > P.U1:
        total += eif_panels(P, EIF_LOG_U, log(ua if ua > P.U1 else P.U1), log(ub))
    return total


cdef inline double eif_free_int(EifPath* P, double za, double zb) noexcept nogil:
    """int dx / f over x = c + a sinh(z), z in [za, zb] (d1 > 0)."""
    return eif_panels(P, EIF_SINH, za, zb)


cdef inline double eif_u_of_p(EifPath* P, double p) noexcept nogil:
    """u = |x - x_f| on a leg: exp(dir p), or -dir / p about the double fixed point (where the time
    grows like 2 / u, so that it stays nearly linear in p)."""
    if P.dbl:
        return -P.dir / p
    return exp(P.dir * p)


cdef inline double eif_p_of_u(EifPath* P, double u) noexcept nogil:
    if P.dbl:
        return -P.dir / u
    return P.dir * log(u)


cdef inline double eif_path_g(EifPath* P, double p) noexcept nogil:
    """Time (in units of tau) per unit of p."""
    cdef double u
    if P.free:
        return eif_free_g(P, p)
    u = eif_u_of_p(P, p)
    if P.dbl:
        return u * eif_leg_g(P, u)
    return eif_leg_g(P, u)


cdef inline double eif_path_int(EifPath* P, double pa, double pb) noexcept nogil:
    """Time (in units of tau) from p = pa to p = pb >= pa."""
    cdef double ua, ub
    if pb <= pa:
        return 0.0
    if P.free:
        return eif_free_int(P, pa, pb)
    ua, ub = eif_u_of_p(P, pa), eif_u_of_p(P, pb)
    if P.dir > 0:
        return eif_leg_int(P, ua, ub)
    return eif_leg_int(P, ub, ua)


cdef inline double eif_path_x(EifPath* P, double p) noexcept nogil:
    if P.free:
        return P.c + P.a * sinh(p)
    return P.xf + P.sig * eif_u_of_p(P, p)


cdef inline void eif_leg(EifPath* P, EifGeo* g, bint stable, double sig, int dir) noexcept nogil:
    """The path about the stable (x_s) or unstable (x_u) fixed point on side sig, moving with u if dir > 0."""
    P.free = False
    P.d1 = g.d1
    P.xf = g.xs if stable else g.xu
    P.em = g.ems if stable else g.emu
    P.ef = g.es if stable else g.eu
    P.h0 = 1.0 / fabs(P.em) if P.em != 0.0 else 0.0
    P.dbl = g.regime == EIF_DOUBLE
    P.U1 = g.U1
    P.sig = sig
    P.dir = dir


cdef inline double eif_at_end(EifPath* P, double hi, double rest, double* x) noexcept nogil:
    """The time left over at the end hi of the bracket: 0 (the end is the point reached, *x set) or more
    (the path ends first; then only a finite path end is possible, which the caller continues from)."""
    if rest > 0.0:
        return rest
    x[0] = eif_path_x(P, hi)
    return 0.0


cdef inline double eif_solve(EifPath* P, double p0, double p_end, double s, double* x) noexcept nogil:
    """Move along the path from p0 for a time s (units of tau). Returns 0 and sets *x to the point reached,
    or, if the path ends (at p_end, finite) first, returns the time left over. p_end = INFINITY: a path
    towards a fixed point, which it never reaches (then *x may come out as the fixed point to rounding).
    Newton's iteration on p, safeguarded by bisection of a bracket [lo, hi] of the solution (a step that
    leaves the bracket or does not halve it bisects instead), so that it converges in at most about 60
    iterations whatever the shape of the time function, and quadratically once close."""
    cdef double lo = p0, Tlo = 0.0, hi, Thi, step, p, T, pn, width, width_old
    cdef int it
    if p_end < INFINITY:
        hi = p_end
        Thi = INFINITY                         # not computed unless the iteration heads for the end
    else:
        # towards a fixed point the time per unit p does not decrease: the bracket grows geometrically
        step = s / eif_path_g(P, p0)
        while True:
            hi = lo + step
            Thi = Tlo + eif_path_int(P, lo, hi)
            if Thi >= s:
                break
            if eif_path_x(P, hi) == P.xf:      # at the fixed point to rounding
                x[0] = P.xf
                return 0.0
            lo, Tlo = hi, Thi
            step *= 2.0
    width = width_old = hi - lo
    p = lo + (s - Tlo) / eif_path_g(P, lo)
    if not (lo < p < hi):
        Thi = Tlo + eif_path_int(P, lo, hi)
        if s >= Thi:
            return eif_at_end(P, hi, s - Thi, x)
        p = 0.5 * (lo + hi)
    for it in range(200):
        if p - lo <= hi - p or Thi == INFINITY:
            T = Tlo + eif_path_int(P, lo, p)
        else:
            T = Thi - eif_path_int(P, p, hi)
        if T == s:
            break
        if T < s:
            lo, Tlo = p, T
        else:
            hi, Thi = p, T
        pn = p + (s - T) / eif_path_g(P, p)
        if fabs(pn - p) <= 4.0 * EIF_EPS * (fabs(p) + 1.0) or fabs(s - T) <= 4.0 * EIF_EPS * s:
            if lo <= pn <= hi:
                p = pn
            break
        width_old, width = width, fabs(pn - p)
        if Thi == INFINITY and pn >= hi:
            Thi = Tlo + eif_path_int(P, lo, hi)
            if s >= Thi:
                return eif_at_end(P, hi, s - Thi, x)
        if not (lo < pn < hi) or 2.0 * width > width_old:
            pn = 0.5 * (lo + hi)
            width = 0.5 * (hi - lo)
            if pn == lo or pn == hi:
                break
        p = pn
    x[0] = eif_path_x(P, p)
    return 0.0


cdef inline double eif_time_to(double x0, double level, double tau, double d) noexcept nogil:
    """Time from x0 until the free flow first reaches level > x0; INFINITY if it never does."""
    cdef EifGeo g
    cdef EifPath P
    eif_geometry(d, &g)
    if g.regime == EIF_FREE:
        P.free, P.c, P.a, P.d1 = True, g.c, g.a, g.d1
        return tau * eif_free_int(&P, asinh((x0 - g.c) / g.a), asinh((level - g.c) / g.a))
    if x0 > g.xu:
        eif_leg(&P, &g, False, 1.0, 1)
        return tau * eif_leg_int(&P, x0 - g.xu, level - g.xu)
    if level < g.xs:
        eif_leg(&P, &g, True, -1.0, -1)
        return tau * eif_leg_int(&P, g.xs - level, g.xs - x0)
    return INFINITY


cdef inline double eif_advance(double x0, double dt, double tau, double d) noexcept nogil:
    """x after a free evolution of duration dt >= 0 (INFINITY if it blows up within dt)."""
    cdef EifGeo g
    cdef EifPath P
    cdef double s = dt / tau, x = x0, xm
    if s <= 0.0:
        return x0
    if x0 >= EIF_XMAX:
        return INFINITY
    eif_geometry(d, &g)
    if g.regime == EIF_FREE:
        P.free, P.c, P.a, P.d1 = True, g.c, g.a, g.d1
        if eif_solve(&P, asinh((x0 - g.c) / g.a), asinh((EIF_XMAX - g.c) / g.a), s, &x) > 0.0:
            return INFINITY
        return x
    if x0 == g.xs or x0 == g.xu:
        return x0
    if x0 > g.xu:
        eif_leg(&P, &g, False, 1.0, 1)
        if eif_solve(&P, eif_p_of_u(&P, x0 - g.xu), eif_p_of_u(&P, EIF_XMAX - g.xu), s, &x) > 0.0:
            return INFINITY
        return x
    if x0 < g.xs:
        eif_leg(&P, &g, True, -1.0, -1)
        eif_solve(&P, eif_p_of_u(&P, g.xs - x0), INFINITY, s, &x)
        return x
    # between the fixed points: down from x_u to the midpoint, then down towards x_s
    xm = 0.5 * (g.xs + g.xu)
    if x0 > xm:
        eif_leg(&P, &g, False, -1.0, 1)
        s = eif_solve(&P, eif_p_of_u(&P, g.xu - x0), eif_p_of_u(&P, g.xu - xm), s, &x)
        if s == 0.0:
            return x
        x0 = xm
    eif_leg(&P, &g, True, 1.0, -1)
    eif_solve(&P, eif_p_of_u(&P, x0 - g.xs), INFINITY, s, &x)
    return x
