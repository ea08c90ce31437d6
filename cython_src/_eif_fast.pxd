# Directly indexed EIF tables for the free regime d + 1 > 0 (no search, no transcendental per evaluation).
#
# With f(x) = d - x + exp(x) > 0 everywhere, the flow tau dx/dt = f(x) is described by one function,
#   U(x) = int_x^inf dy / f(y),   the time (in units of tau) from x to blow-up,
# anchored at the fast end so that short times near threshold keep their relative precision. Then
#   free evolution for s = dt / tau:   x(s) = X(U(x0) - s)    with X the inverse of U,
#   time from x0 to a level:           U(x0) - U(level).
# The tables hold U, X and pulse responses as piecewise polynomials of degree 12 in monomial form (Estrin's
# scheme) on panels found by an index:
#  * U on uniform panels of x of width h (a power of two, so that each panel's centre and the local variable
#    t = (x - centre) / (h / 2) are exact up to one rounding of x - centre): on each, 1 / f (closed form) is
#    interpolated at EIF_FU_DEG Chebyshev points, integrated term by term (degree EIF_FU_DEG), converted to
#    monomials in t, and the panels chained from the top (U at the top from the quadrature kernel of
#    _eif.pxd). h is halved from 4 a (c +- i a the nearest complex zeros of f, which set the analytic
#    width) until the last two coefficients of 1 / f fall below EIF_FAST_TOL of the largest on every panel.
#  * X on panels of u indexed by the bits of the double u: 2^EIF_FX_MB.. panels per binade (panel k =
#    (bits(u) >> shift) - base), which follows the logarithmic singularity x ~ -log u at blow-up without a
#    log. On each panel X is interpolated at EIF_FX_DEG + 1 Chebyshev points, its values found by Newton's
#    iteration on the U table (U' = -1 / f, closed form): X is the inverse of the tabulated U to a rounding.
#    The panels per binade double until the last two coefficients are below EIF_FAST_TOL max(1, |X|).
#  * the pulse responses G_w(u) = U(X(u) + w) of up to EIF_KICK_MAX weights (`eif_fast_add_kick`), on panels
#    of u as X, fitted to EIF_FAST_TOL of |G| (a time) over the u from which the pulse stays in [x_lo, x_hi):
#    with a neuron stored by u (the engine's SPARE_EIF_U), a kick by such a weight is one evaluation.
# The tables cover x in [x_lo, x_hi] (the EIF table's range) and u in [U(x_hi), U(x_lo)] (the X panels at
# both ends clipped to it, each panel keeping its own centre and half-width). Anything outside (callers check) goes to the
# panel tables of _eif_table.pxd. A drive whose U table would need more than EIF_FAST_MAXP panels (a
# bottleneck narrower than about 1e-2: d + 1 below ~1e-4) has none.
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from libc.math cimport INFINITY, ceil, cos, fabs, floor, frexp, ldexp, log

from ._eif cimport EIF_XMAX, eif_phi2, eif_time_to
from ._typedefs cimport int64_t

cdef extern from "<stdint.h>":
    ctypedef unsigned long long uint64_t

cdef enum:
    EIF_FU_DEG = 12             # degree of U on an x panel (1 / f interpolated at EIF_FU_DEG points)
    EIF_FU_NC = EIF_FU_DEG + 2  # per U panel: its centre, EIF_FU_DEG + 1 coefficients
    EIF_FX_DEG = 12             # degree of X on a u panel
    EIF_FX_NC = EIF_FX_DEG + 3  # per X panel: centre, 1 / half-width, EIF_FX_DEG + 1 coefficients
    EIF_FX_MB = 2               # at least 2^EIF_FX_MB X panels per binade
    EIF_FAST_MAXP = 4096        # at most this many panels per table
    EIF_KICK_MAX = 4            # at most this many pulse responses (distinct weights) per drive

cdef extern from *:
    """
    #define EIF_FAST_TOL 1e-15
    """
    const double EIF_FAST_TOL


cdef struct EifBits:            # a function of u > 0 on panels indexed by the bits of u (X, and the pulse responses)
    int shift                   # panel of u: (bits(u) >> shift) - base
    int64_t base
    int n
    double* c                   # n * EIF_FX_NC: per panel its centre, 1 / half-width, EIF_FX_DEG + 1 coefficients


cdef struct EifKick:            # the response to a pulse w in the coordinate u: G(u) = U(X(u) + w)
    double w
    double u_cross              # the pulse takes x to x_hi or beyond from u <= u_cross = U(x_hi - w) (-inf: w <= 0)
    double u_lo, u_hi           # G is served on [u_lo, u_hi] (from u_cross or u_min, up to U(x_lo - w) or u_max)
    EifBits G


cdef struct EifFast:
    bint ok                     # False: no fast tables for this drive (the callers use the panel tables)
    int why                     # why not: 1 the U table would need too many panels, 2 the X table
    double d1
    double x_lo, x_hi           # the range served
    double u_min, u_max         # U(x_hi), U(x_lo) (exactly as eif_fast_U gives them)
    double xa, h, inv_h         # U panels: [xa + k h, xa + (k + 1) h], k < nu
    int nu
    double* uc                  # nu * EIF_FU_NC: per panel its centre and the monomial coefficients of U in t
    double t_scale              # 2 / h: t = (x - centre) t_scale
    EifBits X
    int nk                      # pulse responses, for the weights kick[k].w
    EifKick kick[EIF_KICK_MAX]


cdef inline double eif_poly12(const double* c, double t) noexcept nogil:
    """sum_{k <= 12} c[k] t^k by Estrin's scheme (depth 4 instead of Horner's 12: the three evaluations of a
    kick depend on each other, so their latency is the kick's). Both tables have degree 12."""
    cdef double t2 = t * t
    cdef double t4 = t2 * t2
    cdef double q0 = (c[0] + c[1] * t) + (c[2] + c[3] * t) * t2
    cdef double q1 = (c[4] + c[5] * t) + (c[6] + c[7] * t) * t2
    cdef double q2 = (c[8] + c[9] * t) + (c[10] + c[11] * t) * t2
    return (q0 + q1 * t4) + (q2 + c[12] * t4) * (t4 * t4)


cdef inline double eif_fast_U(const EifFast* F, double x) noexcept nogil:
    """U(x) for x in [xa, xa + nu h]."""
    cdef int k = <int>((x - F.xa) * F.inv_h)
    if k >= F.nu:
        k = F.nu - 1
    cdef const double* c = F.uc + k * EIF_FU_NC
    return eif_poly12(c + 1, (x - c[0]) * F.t_scale)     # (the centre from memory: a shorter dependency chain)


cdef inline double eif_bits_eval(const EifBits* B, double u) noexcept nogil:
    """The tabulated function at u (in its range)."""
    cdef uint64_t b
    memcpy(&b, &u, sizeof(double))
    cdef const double* c = B.c + (<int64_t>(b >> B.shift) - B.base) * EIF_FX_NC
    return eif_poly12(c + 2, (u - c[0]) * c[1])


cdef inline double eif_fast_X(const EifFast* F, double u) noexcept nogil:
    """X(u) for u in [u_min, u_max]."""
    return eif_bits_eval(&F.X, u)


cdef inline const EifKick* eif_fast_kick(const EifFast* F, double w) noexcept nogil:
    """The pulse response for weight w, or NULL."""
    cdef int k
    for k in range(F.nk):
        if F.kick[k].w == w:
            return &F.kick[k]
    return NULL


cdef inline void eif_cheb_to_mono(const double* c, int n, double* m) noexcept nogil:
    """The monomial coefficients m[0..n) of sum_{k < n} c[k] T_k(t)."""
    cdef double tp[24]
    cdef double tc[24]
    cdef double tn[24]
    cdef int k, j
    for j in range(n):
        m[j] = 0.0
        tp[j] = tc[j] = 0.0
    tp[0] = 1.0                 # T_0
    m[0] = c[0]
    if n == 1:
        return
    tc[1] = 1.0                 # T_1
    m[1] += c[1]
    for k in range(2, n):
        for j in range(n):
            tn[j] = (2.0 * tc[j - 1] if j > 0 else 0.0) - tp[j]
        for j in range(n):
            tp[j] = tc[j]
            tc[j] = tn[j]
            m[j] += c[k] * tc[j]


cdef inline void eif_cheb_coefs(const double* v, int n, double* c) noexcept nogil:
    """Chebyshev coefficients of the interpolant through v[j] at t_j = cos(pi (j + 1/2) / n)."""
    cdef int j, k
    cdef double s
    for k in range(n):
        s = 0.0
        for j in range(n):
            s += v[j] * cos(3.141592653589793 * k * (j + 0.5) / n)
        c[k] = (1.0 if k else 0.5) * 2.0 * s / n


cdef inline int eif_fast_fit_U(EifFast* F, double d, double tol) noexcept nogil:
    """U's panels on the current (xa, h, nu): 0, 1 if a panel misses tol, -1 without memory."""
    cdef double v[EIF_FU_DEG]
    cdef double cg[EIF_FU_DEG]
    cdef double ci[EIF_FU_NC]
    cdef double mono[EIF_FU_NC]
    cdef double r = 0.5 * F.h, mid, big, I1, Ur, sgn, s
    cdef int k, j, n = EIF_FU_DEG
    free(F.uc)
    F.uc = <double*>malloc(F.nu * EIF_FU_NC * sizeof(double))
    if F.uc == NULL:
        return -1
    Ur = eif_time_to(F.xa + F.nu * F.h, EIF_XMAX, 1.0, d)
    for k in range(F.nu - 1, -1, -1):
        mid = F.xa + (k + 0.5) * F.h
        for j in range(n):
            v[j] = 1.0 / (F.d1 + eif_phi2(mid + r * cos(3.141592653589793 * (j + 0.5) / n)))
        eif_cheb_coefs(v, n, cg)
        big = 0.0
        for j in range(n):
            if fabs(cg[j]) > big:
                big = fabs(cg[j])
        if fabs(cg[n - 1]) + fabs(cg[n - 2]) > tol * big:
            return 1
        # the integral in t (dx = r dt), zero at t = -1: degree n
        for j in range(2, n + 1):
            ci[j] = r * ((cg[j - 1] if j - 1 < n else 0.0) - (cg[j + 1] if j + 1 < n else 0.0)) / (2.0 * j)
        ci[1] = r * (cg[0] - 0.5 * cg[2])
        s, sgn = 0.0, -1.0
        for j in range(1, n + 1):
            s += sgn * ci[j]
            sgn = -sgn
        ci[0] = -s
        I1 = 0.0
        for j in range(n + 1):
            I1 += ci[j]
        eif_cheb_to_mono(ci, n + 1, mono)
        # U(t) = Ur + I(1) - I(t)
        for j in range(n + 1):
            F.uc[k * EIF_FU_NC + 1 + j] = -mono[j]
        F.uc[k * EIF_FU_NC + 1] += Ur + I1
        F.uc[k * EIF_FU_NC] = mid
        Ur = Ur + I1
    return 0


cdef inline double eif_fast_invert(const EifFast* F, double u) noexcept nogil:
    """The x in the U table's range where the tabulated U equals u (safeguarded Newton, U' = -1 / f)."""
    cdef double lo = F.xa, hi = F.xa + F.nu * F.h, x, xn, r
    cdef int it
    x = -log(u) if u < 1.0 else 0.5 * (lo + hi)
    if not (lo < x < hi):
        x = 0.5 * (lo + hi)
    for it in range(300):
        r = eif_fast_U(F, x) - u
        if r > 0.0:
            lo = x
        elif r < 0.0:
            hi = x
        else:
            break
        xn = x + r * (F.d1 + eif_phi2(x))
        if not (lo <= xn <= hi):
            xn = 0.5 * (lo + hi)
        if xn == x or hi - lo <= 4.4e-16 * (fabs(x) + 1.0):
            x = xn
            break
        x = xn
    return x


cdef inline double eif_bits_double(uint64_t b) noexcept nogil:
    cdef double v
    memcpy(&v, &b, sizeof(double))
    return v


cdef inline uint64_t eif_double_bits(double v) noexcept nogil:
    cdef uint64_t b
    memcpy(&b, &v, sizeof(double))
    return b


cdef inline double eif_fast_node(const EifFast* F, double u, const EifKick* K) noexcept nogil:
    """X(u) (K NULL) or U(X(u) + K.w), through Newton's iteration on the U table."""
    cdef double x = eif_fast_invert(F, u)
    if K == NULL:
        return x
    return eif_fast_U(F, x + K.w)


cdef inline int eif_fast_fit_bits(const EifFast* F, EifBits* B, double u_lo, double u_hi, int mb, double tol,
                                  const EifKick* K) noexcept nogil:
    """Fit B with 2^mb panels per binade over [u_lo, u_hi] (the end panels clipped to it) to X (K NULL) or to
    the pulse response G = U(X + K.w): 0, 1 if a panel misses tol or the panels are too many, -1 without
    memory. The node values come from Newton's iteration on the U table (`eif_fast_invert`)."""
    cdef double v[EIF_FX_DEG + 1]
    cdef double c[EIF_FX_DEG + 1]
    cdef double lo, hi, mid, half, big, vref
    cdef int k, j, n = EIF_FX_DEG + 1
    cdef int64_t k1
    B.shift = 52 - mb
    B.base = <int64_t>(eif_double_bits(u_lo) >> B.shift)
    k1 = <int64_t>(eif_double_bits(u_hi) >> B.shift)
    if k1 - B.base + 1 > EIF_FAST_MAXP:
        return 1
    B.n = <int>(k1 - B.base + 1)
    free(B.c)
    B.c = <double*>malloc(B.n * EIF_FX_NC * sizeof(double))
    if B.c == NULL:
        return -1
    for k in range(B.n):
        lo = eif_bits_double(<uint64_t>(B.base + k) << B.shift)
        hi = eif_bits_double(<uint64_t>(B.base + k + 1) << B.shift)
        lo = lo if lo > u_lo else u_lo
        hi = hi if hi < u_hi else u_hi
        mid = 0.5 * (lo + hi)
        half = 0.5 * (hi - lo)
        # relative to the value at the centre (the middle node), so that the coefficients and their
        # conversion to monomials round at the scale of the function's variation over the panel
        vref = eif_fast_node(F, mid, K)
        for j in range(n):
            v[j] = eif_fast_node(F, mid + half * cos(3.141592653589793 * (j + 0.5) / n), K) - vref
        v[EIF_FX_DEG // 2] = 0.0
        eif_cheb_coefs(v, n, c)
        # X to tol of max(1, |X|); a pulse response (a time, down to tiny ones near threshold) to tol of itself
        big = fabs(vref) if (K != NULL or fabs(vref) > 1.0) else 1.0
        for j in range(n):
            if fabs(c[j]) > big:
                big = fabs(c[j])
        # beyond tol, the noise of the node values: one rounding of u moves them by |f'| ulp(u), i.e. about
        # 2^-52 |c_1| mid / half
        if fabs(c[n - 1]) + fabs(c[n - 2]) > tol * big + (8.0 * 2.220446049250313e-16 * fabs(c[1]) * mid / half
                                                         if half > 0.0 else 0.0):
            return 1
        B.c[k * EIF_FX_NC] = mid
        B.c[k * EIF_FX_NC + 1] = 1.0 / half if half > 0.0 else 0.0
        eif_cheb_to_mono(c, n, B.c + k * EIF_FX_NC + 2)
        B.c[k * EIF_FX_NC + 2] += vref
    return 0


cdef inline int eif_fast_add_kick(EifFast* F, double w, double tol) noexcept nogil:
    """The pulse response for weight w (F.ok, F.nk < EIF_KICK_MAX): 0 (added, or w out of its scope: w = 0,
    or a pulse that spans the whole range), -1 without memory."""
    cdef EifKick* K = &F.kick[F.nk]
    cdef int mb, err
    if w == 0.0 or not (F.x_lo < F.x_hi - w and F.x_lo - w < F.x_hi) or eif_fast_kick(F, w) != NULL:
        return 0
    K.w = w
    K.G.c = NULL
    if w > 0.0:
        K.u_cross = eif_fast_U(F, F.x_hi - w)
        K.u_lo, K.u_hi = K.u_cross, F.u_max
    else:
        K.u_cross = -INFINITY
        K.u_lo, K.u_hi = F.u_min, eif_fast_U(F, F.x_lo - w)
    for mb in range(EIF_FX_MB, 12):
        err = eif_fast_fit_bits(F, &K.G, K.u_lo, K.u_hi, mb, tol, K)
        if err < 0:
            free(K.G.c)
            K.G.c = NULL
            return -1
        if err == 0:
            F.nk += 1
            return 0
    free(K.G.c)                                 # (not seen: as smooth as X)
    K.G.c = NULL
    return 0


cdef inline void eif_fast_free(EifFast* F) noexcept nogil:
    cdef int k
    free(F.uc)
    free(F.X.c)
    for k in range(F.nk):
        free(F.kick[k].G.c)
    F.uc = F.X.c = NULL
    F.nk = 0
    F.ok = False


cdef inline int eif_fast_build(EifFast* F, double d, double a, double x_lo, double x_hi,
                               double tol) noexcept nogil:
    """The fast tables of drive d (d + 1 > 0, a the imaginary part of f's nearest complex zeros) over
    [x_lo, x_hi] (x_hi < EIF_XMAX - 1). Returns 0 (F.ok tells whether they were built) or -1 if memory
    ran out."""
    cdef int e, err, mb
    F.ok = False
    F.why = 0
    F.uc = F.X.c = NULL
    F.nk = 0
    F.d1 = d + 1.0
    F.x_lo, F.x_hi = x_lo, x_hi
    frexp(4.0 * a, &e)
    F.h = ldexp(1.0, e - 1)                     # from the power of two in (2 a, 4 a], halved as needed
    while True:
        F.inv_h = 1.0 / F.h
        F.t_scale = 2.0 * F.inv_h
        F.xa = floor(x_lo * F.inv_h) * F.h
        if ceil((x_hi - F.xa) * F.inv_h) + 1 > EIF_FAST_MAXP or x_hi + 2.0 * F.h >= EIF_XMAX:
            eif_fast_free(F)
            F.why = 1
            return 0
        F.nu = <int>ceil((x_hi - F.xa) * F.inv_h) + 1
        err = eif_fast_fit_U(F, d, tol)
        if err < 0:
            eif_fast_free(F)
            return -1
        if err == 0:
            break
        F.h *= 0.5
    F.u_min = eif_fast_U(F, x_hi)
    F.u_max = eif_fast_U(F, x_lo)
    for mb in range(EIF_FX_MB, 12):
        err = eif_fast_fit_bits(F, &F.X, F.u_min, F.u_max, mb, tol, NULL)
        if err < 0:
            eif_fast_free(F)
            return -1
        if err == 0:
            F.ok = True
            return 0
    eif_fast_free(F)
    F.why = 2
    return 0
