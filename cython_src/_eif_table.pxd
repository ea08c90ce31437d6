# Tabulated EIF kernels: the time function of _eif.pxd as piecewise Chebyshev series, built once per drive.
#
# Every monotone path of the flow tau dx/dt = d - x + exp(x) is parametrised in _eif.pxd by a variable p in
# which the time per unit p, g(p) = eif_path_g, is analytic near the real axis and bounded. A table holds,
# for each path (one for d + 1 > 0; four legs for d + 1 < 0: below x_s, x_u down to the midpoint, the
# midpoint down to x_s, above x_u), the time function T(p) = int_{p_0}^p g on adaptive panels in p: on each
# panel g is interpolated at EIF_TAB_DEG + 1 Chebyshev points (closed form, no quadrature) and the panel is
# halved until the two last coefficients fall below EIF_TAB_TOL of the largest one; the series is then
# integrated term by term (degree EIF_TAB_DEG + 1) and the panels chained (T at each boundary, 0 at the leg's
# fast end: near it, short times keep their relative precision; towards a fixed point the time grows).
#   time to a level:  T(p(level)) - T(p(x)), two panel look-ups (binary search) and Clenshaw sums;
#   free evolution:   the p where T(p) = T(p(x)) + s, by Newton's iteration on the panel's series (g from
#                     its own series), safeguarded by bisection of the panel, stopped after a step below
#                     1e-10 of the panel's half-width (the error left is then ~1e-20): 2 to 4 iterations.
# A path covers x from x_lo (below every reset and initial value) up to x_hi (the largest threshold), and
# near a fixed point down to a distance EIF_TAB_UMIN (|x_f| + 1) from it (a few roundings of x_f). Anything
# outside (a state pushed below x_lo, a level above x_hi, d + 1 = 0 exactly) falls back to the quadrature
# kernels of _eif.pxd, so that correctness never depends on the table's range.
# Accuracy: the interpolation error of g on a panel is below EIF_TAB_TOL of its size; times come out to a few
# roundings of the time function, i.e. absolutely to about 1e-15 tau (1 + |T|) (tested against mpmath in
# tests/test_eif_table.py). Memory: (2 EIF_TAB_DEG + 5) doubles per panel, a few hundred panels per table.
from libc.stdlib cimport free, malloc, realloc
from libc.math cimport INFINITY, asinh, cos, exp, fabs, log, sqrt

from ._eif_fast cimport EIF_FAST_TOL, EifFast, eif_fast_build, eif_fast_free, eif_fast_U, eif_fast_X
from ._eif cimport (EIF_DOUBLE, EIF_FREE, EIF_XMAX, EifGeo, EifPath, eif_advance, eif_geometry_compute, eif_leg,
                    eif_path_g, eif_path_x, eif_time_to)

cdef enum:
    EIF_TAB_DEG = 16            # degree of g's interpolant on a panel (T's is one more)
    EIF_TAB_NG = EIF_TAB_DEG + 1
    EIF_TAB_NT = EIF_TAB_DEG + 2
    EIF_TAB_PER_PANEL = EIF_TAB_NG + EIF_TAB_NT   # coefficients per panel (plus its boundary and T there)
    EIF_LEG_BELOW = 0           # d1 < 0: x < x_s, rising towards x_s
    EIF_LEG_MIDHI = 1           # d1 < 0: from x_u down to the midpoint
    EIF_LEG_MIDLO = 2           # d1 < 0: from the midpoint down towards x_s
    EIF_LEG_ABOVE = 3           # d1 < 0: above x_u, up to x_hi (also the one path of d1 > 0)

cdef extern from *:
    """
    #define EIF_TAB_TOL 1e-14
    #define EIF_TAB_UMIN 1e-15
    #define EIF_TAB_WIDTH 0.5
    """
    const double EIF_TAB_TOL
    const double EIF_TAB_UMIN
    const double EIF_TAB_WIDTH


cdef struct EifTabLeg:
    EifPath P
    int n                       # panels (0: the leg is not tabulated)
    double* pb                  # n + 1 panel boundaries in p, increasing
    double* Tb                  # T at them (0 at the fast end: the top of a leg leaving a fixed point or of
                                # the free path, else the start)
    double* cf                  # per panel: EIF_TAB_NT coefficients of T - Tb[k], then EIF_TAB_NG of g


cdef struct EifTable:
    double d, x_lo, x_hi
    EifGeo g
    bint ok                     # False: not tabulated (d1 = 0), every call falls back to quadrature
    EifTabLeg leg[4]
    EifFast fast                # d1 > 0: the directly indexed tables of _eif_fast.pxd (fast.ok: built)


cdef inline double eif_cheb(const double* c, int m, double t) noexcept nogil:
    """sum_{k < m} c[k] T_k(t) by Clenshaw's recurrence."""
    cdef double b1 = 0.0, b2 = 0.0, b0, t2 = 2.0 * t
    cdef int k
    for k in range(m - 1, 0, -1):
        b0 = c[k] + t2 * b1 - b2
        b2 = b1
        b1 = b0
    return c[0] + t * b1 - b2


cdef inline int eif_tab_panel(const double* a, int n, double v) noexcept nogil:
    """The k in [0, n) with a[k] <= v < a[k + 1] (clamped), a increasing, by bisection."""
    cdef int lo = 0, hi = n, mid
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if v < a[mid]:
            hi = mid
        else:
            lo = mid
    return lo


cdef inline double eif_tab_T(const EifTabLeg* L, int k, double p) noexcept nogil:
    """T(p) - Tb[k] on panel k."""
    cdef double r = 0.5 * (L.pb[k + 1] - L.pb[k])
    return eif_cheb(L.cf + k * EIF_TAB_PER_PANEL, EIF_TAB_NT, (p - (L.pb[k] + r)) / r)


cdef inline double eif_tab_span(const EifTabLeg* L, double p0, double p1) noexcept nogil:
    """T(p1) - T(p0) for p0 <= p1 in the leg's range (within one panel without the boundary values, which
    keeps short spans to a few roundings of their own size)."""
    cdef int k0 = eif_tab_panel(L.pb, L.n, p0), k1 = eif_tab_panel(L.pb, L.n, p1)
    if k0 == k1:
        return eif_tab_T(L, k1, p1) - eif_tab_T(L, k0, p0)
    return (L.Tb[k1] - L.Tb[k0]) + (eif_tab_T(L, k1, p1) - eif_tab_T(L, k0, p0))


cdef inline bint eif_tab_in(const EifTabLeg* L, double p) noexcept nogil:
    return L.n > 0 and L.pb[0] <= p <= L.pb[L.n]


cdef inline double eif_tab_solve(const EifTabLeg* L, double p0, double s, double* x) noexcept nogil:
    """Move along the leg from p0 (in range) for a time s >= 0: returns 0 with *x the point reached, or the
    time left over past the leg's end (> 0; *x untouched)."""
    cdef int k0 = eif_tab_panel(L.pb, L.n, p0), k, it
    cdef double Tt = L.Tb[k0] + eif_tab_T(L, k0, p0) + s, y, r, m, t, lo = -1.0, hi = 1.0, F, G, tn, full
    cdef const double* c
    if Tt > L.Tb[L.n]:
        return Tt - L.Tb[L.n]
    k = k0 + eif_tab_panel(L.Tb + k0, L.n - k0, Tt)
    c = L.cf + k * EIF_TAB_PER_PANEL
    r = 0.5 * (L.pb[k + 1] - L.pb[k])
    m = L.pb[k] + r
    y = Tt - L.Tb[k]
    full = L.Tb[k + 1] - L.Tb[k]
    t = -1.0 + 2.0 * y / full if full > 0.0 else 0.0
    if k == k0:
        lo = (p0 - m) / r
        if t < lo:
            t = lo
    for it in range(60):
        F = eif_cheb(c, EIF_TAB_NT, t) - y
        if F == 0.0:
            break
        if F < 0.0:
            lo = t
        else:
            hi = t
        G = r * eif_cheb(c + EIF_TAB_NT, EIF_TAB_NG, t)
        tn = t - F / G
        if not (lo <= tn <= hi):
            tn = 0.5 * (lo + hi)
        elif fabs(tn - t) <= 1e-10:
            t = tn                              # quadratic convergence: the error left is ~1e-20
            break
        if hi - lo <= 4.4e-16:
            break
        t = tn
    x[0] = eif_path_x(<EifPath*>&L.P, m + r * t)
    return 0.0


cdef inline int eif_tab_fit(EifPath* P, double a, double b, double* c, double tol) noexcept nogil:
    """Interpolate g on [a, b] at Chebyshev points into c (EIF_TAB_NT coefficients of the integral from a, then
    EIF_TAB_NG of g). Returns 1 if the last two coefficients of g are within tol of the largest."""
    cdef double v[EIF_TAB_NG]
    cdef double* cg = c + EIF_TAB_NT
    cdef double r = 0.5 * (b - a), m = 0.5 * (a + b), s, big = 0.0, sgn
    cdef int j, k, n = EIF_TAB_NG
    for j in range(n):
        v[j] = eif_path_g(P, m + r * cos(3.141592653589793 * (j + 0.5) / n))
    for k in range(n):
        s = 0.0
        for j in range(n):
            s += v[j] * cos(3.141592653589793 * k * (j + 0.5) / n)
        cg[k] = (1.0 if k else 0.5) * 2.0 * s / n
        if fabs(cg[k]) > big:
            big = fabs(cg[k])
    # the integral in t (dp = r dt), zero at t = -1
    for k in range(2, EIF_TAB_NT):
        c[k] = r * ((cg[k - 1] if k - 1 < n else 0.0) - (cg[k + 1] if k + 1 < n else 0.0)) / (2.0 * k)
    c[1] = r * (cg[0] - (0.5 * cg[2] if n > 2 else 0.0))
    c[0] = 0.0
    s, sgn = 0.0, -1.0
    for k in range(1, EIF_TAB_NT):
        s += sgn * c[k]
        sgn = -sgn
    c[0] = -s
    return fabs(cg[n - 1]) + fabs(cg[n - 2]) <= tol * big


cdef inline int eif_tab_leg_build(EifTabLeg* L, double pa, double pb, double tol, double width) noexcept nogil:
    """Panels over [pa, pb]: returns 0, or -1 if memory runs out (the leg is then left untabulated)."""
    cdef int cap = 64, n = 0, top, k, good
    cdef double stack_a[64]
    cdef double stack_b[64]
    cdef double a, b, q
    cdef double* grown
    cdef int n0 = 1
    L.n = 0
    L.pb = L.Tb = L.cf = NULL
    if not (pb > pa):
        return 0
    L.pb = <double*>malloc((cap + 1) * sizeof(double))
    L.Tb = <double*>malloc((cap + 1) * sizeof(double))
    L.cf = <double*>malloc(cap * EIF_TAB_PER_PANEL * sizeof(double))
    if L.pb == NULL or L.Tb == NULL or L.cf == NULL:
        return -1
    n0 = <int>((pb - pa) / width) + 1
    L.pb[0] = pa
    L.Tb[0] = 0.0
    for k in range(n0):
        # a stack of pending intervals, leftmost on top, halved until the fit converges
        top = 0
        stack_a[0] = pa + (pb - pa) * k / n0
        stack_b[0] = pb if k == n0 - 1 else pa + (pb - pa) * (k + 1) / n0
        while top >= 0:
            a, b = stack_a[top], stack_b[top]
            if n == cap:
                cap *= 2
                grown = <double*>realloc(L.pb, (cap + 1) * sizeof(double))
                if grown == NULL:
                    return -1
                L.pb = grown
                grown = <double*>realloc(L.Tb, (cap + 1) * sizeof(double))
                if grown == NULL:
                    return -1
                L.Tb = grown
                grown = <double*>realloc(L.cf, cap * EIF_TAB_PER_PANEL * sizeof(double))
                if grown == NULL:
                    return -1
                L.cf = grown
            good = eif_tab_fit(&L.P, a, b, L.cf + n * EIF_TAB_PER_PANEL, tol)
            if good or top >= 24:
                L.pb[n + 1] = b
                L.Tb[n + 1] = L.Tb[n] + eif_cheb(L.cf + n * EIF_TAB_PER_PANEL, EIF_TAB_NT, 1.0)
                n += 1
                top -= 1
            else:
                q = 0.5 * (a + b)
                stack_a[top], stack_b[top] = q, b      # the right half waits below the left one
                stack_a[top + 1], stack_b[top + 1] = a, q
                top += 1
    L.n = n
    return 0


cdef inline void eif_tab_free(EifTable* T) noexcept nogil:
    cdef int j
    eif_fast_free(&T.fast)
    for j in range(4):
        free(T.leg[j].pb)
        free(T.leg[j].Tb)
        free(T.leg[j].cf)
        T.leg[j].pb = T.leg[j].Tb = T.leg[j].cf = NULL
        T.leg[j].n = 0


cdef inline int eif_tab_build(EifTable* T, double d, double x_lo, double x_hi, double tol, double width,
                              double fast_tol) noexcept nogil:
    """The table of drive d over [x_lo, x_hi] (x_hi < EIF_XMAX), g fitted to tol on panels of at most width
    in p (EIF_TAB_TOL and EIF_TAB_WIDTH; coarser only in tests), and for d + 1 > 0 the fast tables of
    _eif_fast.pxd fitted to fast_tol (EIF_FAST_TOL; 0: none). Returns 0, or -1 if memory ran out."""
    cdef EifGeo* g = &T.g
    cdef EifTabLeg* L
    cdef double us, uu, xm
    cdef int j, err = 0
    for j in range(4):
        T.leg[j].n = 0
        T.leg[j].pb = T.leg[j].Tb = T.leg[j].cf = NULL
    T.d, T.x_lo, T.x_hi = d, x_lo, x_hi
    T.fast.ok = False
    T.fast.why = 0
    T.fast.uc = T.fast.X.c = NULL
    T.fast.nk = 0
    eif_geometry_compute(d, g)
    T.ok = g.regime != EIF_DOUBLE
    if not T.ok:
        return 0
    if g.regime == EIF_FREE:
        L = &T.leg[EIF_LEG_ABOVE]
        L.P.free, L.P.c, L.P.a, L.P.d1 = True, g.c, g.a, g.d1
        err = eif_tab_leg_build(L, asinh((x_lo - g.c) / g.a), asinh((x_hi - g.c) / g.a), tol, width)
        eif_tab_anchor_top(L)
        if fast_tol > 0.0 and err == 0:
            err = eif_fast_build(&T.fast, d, g.a, x_lo, x_hi, fast_tol)
        return err
    us = EIF_TAB_UMIN * (fabs(g.xs) + 1.0)
    uu = EIF_TAB_UMIN * (fabs(g.xu) + 1.0)
    xm = 0.5 * (g.xs + g.xu)
    eif_leg(&T.leg[EIF_LEG_BELOW].P, g, True, -1.0, -1)
    eif_leg(&T.leg[EIF_LEG_MIDHI].P, g, False, -1.0, 1)
    eif_leg(&T.leg[EIF_LEG_MIDLO].P, g, True, 1.0, -1)
    eif_leg(&T.leg[EIF_LEG_ABOVE].P, g, False, 1.0, 1)
    if x_lo < g.xs - us:
        err |= eif_tab_leg_build(&T.leg[EIF_LEG_BELOW], -log(g.xs - x_lo), -log(us), tol, width)
    if g.xu - xm > uu:
        err |= eif_tab_leg_build(&T.leg[EIF_LEG_MIDHI], log(uu), log(g.xu - xm), tol, width)
    if xm - g.xs > us:
        err |= eif_tab_leg_build(&T.leg[EIF_LEG_MIDLO], -log(xm - g.xs), -log(us), tol, width)
    if x_hi > g.xu + uu:
        err |= eif_tab_leg_build(&T.leg[EIF_LEG_ABOVE], log(uu), log(x_hi - g.xu), tol, width)
    eif_tab_anchor_top(&T.leg[EIF_LEG_MIDHI])
    eif_tab_anchor_top(&T.leg[EIF_LEG_ABOVE])
    return err


cdef inline void eif_tab_anchor_top(EifTabLeg* L) noexcept nogil:
    """T = 0 at the leg's upper end (the fast end of a leg leaving a fixed point), so that short times near
    it keep their relative precision (the time function grows without bound towards the fixed point)."""
    cdef int k
    if L.n > 0:
        L.Tb[L.n] = 0.0                         # summed from the top down: no rounding of large values there
        for k in range(L.n - 1, -1, -1):
            L.Tb[k] = L.Tb[k + 1] - eif_cheb(L.cf + k * EIF_TAB_PER_PANEL, EIF_TAB_NT, 1.0)


cdef inline bint eif_tab_codes(const EifTable* T, double v, double level) noexcept nogil:
    """Whether a state v below level is stored by its U = eif_fast_U(v), the kick's coordinate (the engine's
    SPARE_EIF_U): where the fast tables hold both, so that the time to the level is tau (U(v) - U(level))."""
    return T.fast.ok and T.fast.x_lo <= v and level <= T.fast.x_hi


cdef inline double eif_tab_u_level(const EifTable* T, double level) noexcept nogil:
    """U(level) for a level in the fast tables' range (level == x_hi: the largest threshold, whose U is kept)."""
    return T.fast.u_min if level == T.fast.x_hi else eif_fast_U(&T.fast, level)


cdef inline double eif_tab_time_to(const EifTable* T, double x0, double level, double tau) noexcept nogil:
    """eif_time_to (time from x0 until the free flow first reaches level > x0) through the table."""
    cdef const EifGeo* g = &T.g
    cdef const EifTabLeg* L
    cdef const EifFast* F = &T.fast
    cdef double p0, p1
    if F.ok and F.x_lo <= x0 and level <= F.x_hi:
        return tau * (eif_fast_U(F, x0) - eif_tab_u_level(T, level))
    if T.ok:
        if g.regime == EIF_FREE:
            L = &T.leg[EIF_LEG_ABOVE]
            p0, p1 = asinh((x0 - g.c) / g.a), asinh((level - g.c) / g.a)
        elif x0 > g.xu:
            L = &T.leg[EIF_LEG_ABOVE]
            p0, p1 = log(x0 - g.xu), log(level - g.xu)
        elif level < g.xs:
            L = &T.leg[EIF_LEG_BELOW]
            p0, p1 = -log(g.xs - x0), -log(g.xs - level)
        else:
            return INFINITY
        if eif_tab_in(L, p0) and eif_tab_in(L, p1):
            return tau * eif_tab_span(L, p0, p1)
    return eif_time_to(x0, level, tau, T.d)


cdef inline double eif_tab_advance(const EifTable* T, double x0, double dt, double tau) noexcept nogil:
    """eif_advance (x after a free evolution of duration dt >= 0) through the table."""
    cdef const EifGeo* g = &T.g
    cdef const EifTabLeg* L
    cdef const EifFast* F = &T.fast
    cdef double s = dt / tau, x, p0, xm, rest
    if s <= 0.0:
        return x0
    if F.ok and F.x_lo <= x0 <= F.x_hi:
        rest = eif_fast_U(F, x0) - s
        if F.u_min <= rest <= F.u_max:         # (above u_max only if U rounds up near x_lo)
            return eif_fast_X(F, rest)
    if not T.ok or x0 >= EIF_XMAX:
        return eif_advance(x0, dt, tau, T.d)
    if g.regime == EIF_FREE:
        L = &T.leg[EIF_LEG_ABOVE]
        p0 = asinh((x0 - g.c) / g.a)
    elif x0 == g.xs or x0 == g.xu:
        return x0
    elif x0 > g.xu:
        L = &T.leg[EIF_LEG_ABOVE]
        p0 = log(x0 - g.xu)
    elif x0 < g.xs:
        L = &T.leg[EIF_LEG_BELOW]
        p0 = -log(g.xs - x0)
    else:
        xm = 0.5 * (g.xs + g.xu)
        if x0 > xm:
            L = &T.leg[EIF_LEG_MIDHI]
            p0 = log(g.xu - x0)
            if not eif_tab_in(L, p0):
                return eif_advance(x0, dt, tau, T.d)
            rest = eif_tab_solve(L, p0, s, &x)
            if rest == 0.0:
                return x
            # past the midpoint: on along the lower half, as the quadrature kernel does
            s = rest
            L = &T.leg[EIF_LEG_MIDLO]
            if L.n == 0:
                return eif_advance(xm, s * tau, tau, T.d)
            p0 = L.pb[0]
            x0 = xm
        else:
            L = &T.leg[EIF_LEG_MIDLO]
            p0 = -log(x0 - g.xs)
    if not eif_tab_in(L, p0):
        return eif_advance(x0, s * tau, tau, T.d)
    if eif_tab_solve(L, p0, s, &x) > 0.0:
        return eif_advance(x0, s * tau, tau, T.d)
    return x


cdef inline double eif_tab_x_of_u(const EifTable* T, double u0) noexcept nogil:
    """The state stored as u0 = U(x) (`eif_tab_codes`)."""
    return eif_fast_X(&T.fast, T.fast.u_max if u0 > T.fast.u_max else (T.fast.u_min if u0 < T.fast.u_min else u0))


cdef inline double eif_tab_advance_u(const EifTable* T, double u0, double dt, double tau) noexcept nogil:
    """eif_tab_advance from the state stored as u0 = U(x0) (`eif_tab_codes`): X(u0 - s), the number that
    eif_tab_advance(T, x0, dt, tau) gives for dt > 0, without evaluating U(x0)."""
    cdef double rest = u0 - dt * (1.0 / tau)            # (as `eif_pulse`, which keeps 1 / tau)
    if T.fast.u_min <= rest <= T.fast.u_max:
        return eif_fast_X(&T.fast, rest)
    return eif_tab_advance(T, eif_tab_x_of_u(T, u0), dt, tau)   # past threshold by a rounding, or near x_lo
