# Linear neuron models (KIND_LINEAR): a state x of dimension d <= 4 with dx/dt = A x + b, A lower triangular
# with a real diagonal (-1/tau_k, or 0 for an integrator), a threshold c.x >= theta, a reset that sets v and
# maps the other components affinely, pulses added to one component (one for w > 0, one for w < 0).
#
# The kernels work on the augmented state y = (1, x_1 .. x_d) (D = d + 1 <= 5), dy/ds = M y with
# M = [[0, 0], [b, A]], lower triangular. Between events y(s) = exp(s M) y0, computed by scaling and squaring
# of a Taylor polynomial (`lin_expm`): no closed form per pair of time constants, so equal or nearly equal
# time constants (tau_m = tau_s, alpha synapses) cost no precision: nothing divides by their difference.
#
# The first threshold crossing (`lin_time_to`) is isolated by a Rolle recursion that cannot miss one (see
# docs/engine.md, "Linear models"). With mu_1 .. mu_D the diagonal of M from the last entry to the first,
# g_0 = f = c.y - theta and g_k = (d/ds - mu_k) g_{k-1} = C_k . y with C_k = C_{k-1} (M - mu_k I) (exactly zero
# in its last k entries: the triangular order makes the annihilation exact in floating point), g_{D-1} is a
# constant. Since e^{mu s} d/ds (e^{-mu s} g) = (d/ds - mu) g, e^{-mu_k s} g_{k-1} is monotone between
# consecutive sign changes of g_k: so g_{k-1} changes sign at most once there. Level by level from g_{D-1}
# down, every sign change of every g_k in [0, S] is bracketed, and on the pieces of the last level f e^{-mu_1 s}
# is monotone: the first piece whose right end has f >= 0 holds the first crossing. S is a horizon beyond
# which the sign of f is proved by a bound (`lin_horizon`).
#
# All functions are `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, M_E, exp, fabs, frexp, ldexp, sqrt

DEF LMAX = 5
DEF EPS = 2.220446049250313e-16
DEF MAX_ITER = 200
DEF MAX_DOUBLINGS = 1100


cdef struct LinSys:             # one class of linear neurons (one distinct parameter set)
    double M[5][5]              # free evolution dy/ds = M y, y = (1, x): lower triangular, row 0 zero
    double Mc[5][5]             # the same with v held (row vi zero): refractoriness without integration
    double c[5]                 # threshold: c . y >= theta (c[0] = 0)
    double ra[5]                # reset: y_k -> ra[k] y_k + rr[k] for k != vi (v takes the neuron's reset)
    double rr[5]
    int D                       # d + 1
    int vi                      # index of v in y (the component reset and held during refractoriness)
    int pos                     # index of the component that a pulse w > 0 adds to
    int neg                     # and w < 0


cdef inline double lin_sinhc(double x) noexcept nogil:
    """sinh(x) / x for |x| <= 1/2: its Taylor series to below 1e-17 relative."""
    cdef double x2 = x * x
    return 1.0 + x2 / 6.0 * (1.0 + x2 / 20.0 * (1.0 + x2 / 42.0 * (1.0 + x2 / 72.0 * (1.0 + x2 / 110.0
                                                                                     * (1.0 + x2 / 156.0)))))


cdef inline void lin_exact_bands(const double (*M)[5], int D, double h, double (*E)[5]) noexcept nogil:
    """Overwrite the diagonal and the first subdiagonal of E = exp(h M) by their closed forms e^{a_i},
    a_i = h M_ii, and h M_{i,i-1} (e^{a_i} - e^{a_{i-1}}) / (a_i - a_{i-1}) (Al-Mohy and Higham 2009), the
    latter as e^{(a_i + a_{i-1})/2} sinh(x)/x, x = (a_i - a_{i-1})/2, where |x| <= 1/2 (no cancellation; the
    difference elsewhere, where the two exponentials differ by a factor e at least): the squaring then does
    not double the rounding errors of the diagonal at every step."""
    cdef int i
    cdef double x
    for i in range(D):
        E[i][i] = exp(h * M[i][i])
        if i > 0:
            x = 0.5 * h * (M[i][i] - M[i - 1][i - 1])
            if fabs(x) > 0.5:
                E[i][i - 1] = h * M[i][i - 1] * ((E[i][i] - E[i - 1][i - 1]) / (2.0 * x))
            else:
                E[i][i - 1] = h * M[i][i - 1] * (sqrt(E[i][i] * E[i - 1][i - 1]) * lin_sinhc(x))


cdef inline void lin_expm(const double (*M)[5], int D, double s, double (*E)[5]) noexcept nogil:
    """E = exp(s M) for a lower-triangular D x D matrix M and s >= 0: the Taylor polynomial of exp(h M),
    h = s / 2**K with |h M|_inf <= 1, to below 1e-18 (at most 20 terms), squared K times; after each step the diagonal and
    the first subdiagonal are set to their closed forms (`lin_exact_bands`)."""
    cdef double T[5][5]
    cdef double P[5][5]
    cdef double Q[5][5]
    cdef double nrm = 0.0, row, h, big, acc
    cdef int i, j, k, n, K = 0, e
    for i in range(D):
        row = 0.0
        for j in range(i + 1):
            row += fabs(M[i][j])
        if row > nrm:
            nrm = row
    nrm *= s
    if nrm > 1.0:
        frexp(nrm, &e)
        K = e
    h = ldexp(s, -K)
    for i in range(D):
        for j in range(D):
            T[i][j] = h * M[i][j] if j <= i else 0.0
            P[i][j] = 1.0 if i == j else 0.0
            E[i][j] = P[i][j]
    for n in range(1, 30):
        big = 0.0
        for i in range(D):
            for j in range(i + 1):
                acc = 0.0
                for k in range(j, i + 1):
                    acc += P[i][k] * T[k][j]
                Q[i][j] = acc / n
        for i in range(D):
            for j in range(i + 1):
                P[i][j] = Q[i][j]
                E[i][j] += Q[i][j]
                if fabs(Q[i][j]) > big:
                    big = fabs(Q[i][j])
        if big < 1e-18:
            break
    lin_exact_bands(M, D, h, E)
    for n in range(K):
        for i in range(D):
            for j in range(i + 1):
                acc = 0.0
                for k in range(j, i + 1):
                    acc += E[i][k] * E[k][j]
                Q[i][j] = acc
        for i in range(D):
            for j in range(i + 1):
                E[i][j] = Q[i][j]
        h *= 2.0
        lin_exact_bands(M, D, h, E)


cdef inline void lin_flow(const double (*M)[5], int D, double s, const double* y0, double* y) noexcept nogil:
    """y = exp(s M) y0 (s >= 0; y may not alias y0)."""
    cdef double E[5][5]
    cdef int i, j
    cdef double acc
    if s == 0.0:
        for i in range(D):
            y[i] = y0[i]
        return
    lin_expm(M, D, s, E)
    for i in range(D):
        acc = 0.0
        for j in range(i + 1):
            acc += E[i][j] * y0[j]
        y[i] = acc


cdef inline double lin_dot(const double* c, const double* y, int D) noexcept nogil:
    cdef double acc = 0.0
    cdef int i
    for i in range(D):
        acc += c[i] * y[i]
    return acc


cdef inline void lin_advance(const LinSys* L, double* y, double s, bint clamped) noexcept nogil:
    """Move y forward by s >= 0 in place (v held if clamped; no threshold crossing within s otherwise)."""
    cdef double z[5]
    cdef int i
    if s != 0.0:
        if clamped:
            lin_flow(L.Mc, L.D, s, y, z)
        else:
            lin_flow(L.M, L.D, s, y, z)
        for i in range(L.D):
            y[i] = z[i]


cdef inline void lin_reset(const LinSys* L, double* y, double reset) noexcept nogil:
    cdef int k
    for k in range(1, L.D):
        y[k] = reset if k == L.vi else L.ra[k] * y[k] + L.rr[k]


cdef inline double lin_transient(double s, double a, int m_max, const double* ua, const double* ub) noexcept nogil:
    """The bound e^{-a s} (sum_m ua[m] s^m + sum_m ub[m] sum_{i<=m} s^i / (i! a^{m-i+1})) of the transient
    part of f (see `lin_horizon`); non-increasing for s >= m_max / a."""
    cdef double acc = 0.0, p = 1.0, q, term
    cdef int m, i
    for m in range(m_max + 1):
        acc += ua[m] * p
        if ub[m] != 0.0:
            q = 0.0
            term = 1.0 / a ** (m + 1)          # i = 0
            for i in range(m + 1):
                q += term
                term *= s * a / (i + 1)
            acc += ub[m] * q
        p *= s
    return exp(-a * s) * acc


cdef inline double lin_horizon(const LinSys* L, const double* C0, const double* y0) noexcept nogil:
    """A time S such that f = C0 . y either is >= 0 at S (a crossing in [0, S]) or stays < 0 on [S, inf)
    (beyond S no crossing); -1 if f < 0 on all of [0, inf) by the bound alone; INFINITY if no such S was
    found (not expected).

    Components with a zero diagonal (integrators, set Z) must be driven only by the decaying ones (set N)
    and constants (checked when the model is built). Then x_N -> x_inf (A_NN x_inf = -b_N), and
    f(s) = alpha + beta s + T(s), alpha and beta in closed form, T(s) = a . e(s) - bz . int_s^inf e(u) du with
    e = x_N - x_inf, |e(s)| <= e^{-a s} e^{|L| s} |e(0)| componentwise (L the strictly lower part of A_NN,
    nilpotent: a polynomial in s; -a the largest diagonal entry of A_NN). So |T(s)| <= `lin_transient`, a
    bound that is non-increasing beyond (d - 1) / a."""
    cdef int D = L.D, k, j, m
    cdef bint inN[5]
    cdef double xinf[5]
    cdef double e0[5]
    cdef double q[5]
    cdef double bz[5]
    cdef double u[5]
    cdef double un[5]
    cdef double ua[5]
    cdef double ub[5]
    cdef double y[5]
    cdef double alpha, beta = 0.0, a = INFINITY, margin, S, acc
    cdef int nN = 0, it
    for k in range(1, D):
        inN[k] = L.M[k][k] != 0.0
        if inN[k]:
            nN += 1
            if -L.M[k][k] < a:
                a = -L.M[k][k]
    # x_inf and the integral q = int_0^inf e(u) du = -A_NN^{-1} e(0) (forward substitution on N)
    for k in range(1, D):
        if inN[k]:
            acc = L.M[k][0]
            for j in range(1, k):
                if inN[j]:
                    acc += L.M[k][j] * xinf[j]
            xinf[k] = -acc / L.M[k][k]
            e0[k] = y0[k] - xinf[k]
            acc = e0[k]
            for j in range(1, k):
                if inN[j]:
                    acc += L.M[k][j] * q[j]
            q[k] = -acc / L.M[k][k]
    alpha = C0[0]
    for k in range(1, D):
        bz[k] = 0.0
    for k in range(1, D):
        if inN[k]:
            alpha += C0[k] * xinf[k]
        else:
            acc = L.M[k][0]                     # the drift of integrator k at x_inf
            alpha += C0[k] * y0[k]
            for j in range(1, k):
                if inN[j]:
                    acc += L.M[k][j] * xinf[j]
                    alpha += C0[k] * L.M[k][j] * q[j]
                    bz[j] += C0[k] * L.M[k][j]
            beta += C0[k] * acc
    # ua[m] = |C0_N| . |L|^m |e0| / m!, ub[m] = |bz| . |L|^m |e0| / m!
    for k in range(1, D):
        u[k] = fabs(e0[k]) if inN[k] else 0.0
    for m in range(D - 1):
        ua[m] = 0.0
        ub[m] = 0.0
        for k in range(1, D):
            if inN[k]:
                ua[m] += fabs(C0[k]) * u[k]
                ub[m] += fabs(bz[k]) * u[k]
        for k in range(1, D):
            acc = 0.0
            if inN[k]:
                for j in range(1, k):
                    if inN[j]:
                        acc += fabs(L.M[k][j]) * u[j]
            un[k] = acc / (m + 1)
        for k in range(1, D):
            u[k] = un[k]
    if nN == 0:
        a = 1.0                                 # no transient: any start will do
    if beta <= 0.0:
        # never, if alpha + sup_s |T(s)| < 0: sup e^{-a s} s^m = (m / (a e))^m, and the integral part is
        # largest at s = 0 (the cheap case, common under inhibition: no matrix exponential)
        acc = 0.0
        for m in range(D - 1):
            acc += ua[m] * ((m / (a * M_E)) ** m if m > 0 else 1.0) + ub[m] / a ** (m + 1)
        if alpha + acc < -1e-14 * (fabs(alpha) + acc + fabs(C0[0])):
            return -1.0
    S = (D - 1) / a
    if beta > 0.0 or (beta == 0.0 and alpha > 0.0):
        # f -> +inf or f -> alpha > 0: some S has f(S) >= 0
        for it in range(MAX_DOUBLINGS):
            lin_flow(L.M, D, S, y0, y)
            if lin_dot(C0, y, D) >= 0.0:
                return S
            S *= 2.0
        return INFINITY
    margin = 0.0
    if alpha == 0.0 and beta == 0.0:
        # f -> 0 from an unknown side: a crossing later than S would be within rounding of the threshold
        margin = 4.0 * EPS * fabs(C0[0]) if C0[0] != 0.0 else 1e-300
    for it in range(MAX_DOUBLINGS):
        if alpha + beta * S + lin_transient(S, a, D - 2, ua, ub) < margin:
            return S
        S *= 2.0
    return INFINITY


cdef inline double lin_g(const LinSys* L, const double* y0, double s, const double* Ck,
                         const double* Ck1, double mu, double* dg) noexcept nogil:
    """g_k(s) = Ck . y(s) and its derivative g_{k+1} + mu g_k (Ck1 = C_{k+1}, mu = mu_{k+1})."""
    cdef double y[5]
    cdef double g
    lin_flow(L.M, L.D, s, y0, y)
    g = lin_dot(Ck, y, L.D)
    dg[0] = lin_dot(Ck1, y, L.D) + mu * g
    return g


cdef inline double lin_solve(const LinSys* L, const double* y0, double a, double b, double fa,
                             const double* Ck, const double* Ck1, double mu,
                             bint crossing) noexcept nogil:
    """The sign change of g = Ck . y in [a, b] (0 <= a < b), given g(a) = fa and g(b) of the other sign or
    zero, and at most one sign change there: Newton's method, with a bisection step whenever the Newton step
    leaves the bracket or does not halve it, and a step just past the Newton point once that step is below
    the tolerance (so the bracket closes). With `crossing` (the threshold): a bracket of 2 ulps, and its end
    where g >= 0. Otherwise (a zero of a derivative, a piece end): a relative 1e-12, which moves the
    extremum of the level below by a relative 1e-24: far below rounding."""
    cdef double s, F, dF, step, step_old = b - a, lo = a, hi = b, tol
    cdef int it
    cdef bint neg_lo = fa < 0.0
    s = 0.5 * (a + b)
    for it in range(MAX_ITER):
        F = lin_g(L, y0, s, Ck, Ck1, mu, &dF)
        if F == 0.0:
            return s
        if (F < 0.0) == neg_lo:
            lo = s
        else:
            hi = s
        tol = (2.0 * EPS if crossing else 1e-12) * (lo if lo > hi else hi)
        if fabs(hi - lo) <= tol:
            break
        step = F / dF if dF != 0.0 else INFINITY
        if not ((lo < s - step < hi) or (hi < s - step < lo)) or fabs(2.0 * step) > fabs(step_old):
            step_old = 0.5 * (hi - lo)
            s = lo + step_old
        else:
            step_old = step
            if fabs(step) < 0.5 * tol:
                s -= step + (0.5 * tol if step > 0.0 else -0.5 * tol)   # just past the root
                if not ((lo < s < hi) or (hi < s < lo)):
                    s = 0.5 * (lo + hi)
            else:
                s -= step
    if crossing:
        return hi if neg_lo else lo
    return 0.5 * (lo + hi)


cdef inline double lin_time_to(const LinSys* L, const double* y0, double theta) noexcept nogil:
    """Time from state y0 until c . y first reaches theta (precondition: c . y0 < theta); INFINITY if never."""
    cdef double C[5][5]
    cdef double mu[5]
    cdef double pts[12]
    cdef double npts[12]
    cdef double gp[12]
    cdef double y[5]
    cdef double S, dg
    cdef int D = L.D, k, i, j, n, nn
    if theta == INFINITY:
        return INFINITY
    for i in range(D):
        C[0][i] = L.c[i]
    C[0][0] -= theta
    # the Rolle chain: C_k = C_{k-1} (M - mu_k I), mu_k the diagonal from the last entry up
    for k in range(1, D):
        mu[k] = L.M[D - k][D - k]
        for j in range(D):
            dg = -mu[k] * C[k - 1][j]
            for i in range(j, D):
                dg += C[k - 1][i] * L.M[i][j]
            C[k][j] = dg if j < D - k else 0.0
    S = lin_horizon(L, C[0], y0)
    if S == INFINITY or S < 0.0:
        return INFINITY
    n = 2
    pts[0] = 0.0
    pts[1] = S
    # levels D-2 .. 1: every sign change of g_k in [0, S], one per piece between those of g_{k+1}
    for k in range(D - 2, 0, -1):
        for j in range(n):
            lin_flow(L.M, D, pts[j], y0, y)
            gp[j] = lin_dot(C[k], y, D)
        nn = 1
        npts[0] = 0.0
        for j in range(n - 1):
            if (gp[j] < 0.0 and gp[j + 1] > 0.0) or (gp[j] > 0.0 and gp[j + 1] < 0.0):
                npts[nn] = lin_solve(L, y0, pts[j], pts[j + 1], gp[j], C[k], C[k + 1], mu[k + 1], False)
                nn += 1
        npts[nn] = S
        nn += 1
        for j in range(nn):
            pts[j] = npts[j]
        n = nn
    # level 0: f e^{-mu_1 s} is monotone on each piece; the first piece whose right end has f >= 0
    gp[0] = lin_dot(C[0], y0, D)
    for j in range(1, n):
        lin_flow(L.M, D, pts[j], y0, y)
        gp[j] = lin_dot(C[0], y, D)
        if gp[j] >= 0.0:
            return lin_solve(L, y0, pts[j - 1], pts[j], gp[j - 1], C[0], C[1], mu[1], True)
    return INFINITY
