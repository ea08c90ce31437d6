# Safeguarded Newton's method for a root bracketed in [lo, hi]: the bracket logic shared by the root
# finders of the kernels (_lif_exp.pxd, _coba.pxd), which evaluate F and F' themselves (inlined, so the
# loop costs what a hand-written one does). Usage:
#
#     cdef NewtonBracket br
#     newton_start(&br, a, b, fa)
#     for it in range(MAX_ITER):
#         F, dF = ... at br.s ...
#         if newton_step(&br, F, dF, mid):
#             return br.s
#     return br.s
from libc.math cimport INFINITY, fabs

DEF EPS = 2.220446049250313e-16


cdef struct NewtonBracket:
    double lo, hi          # F has the sign of F(a) at lo, the other sign (or zero) at hi
    double s               # the current point; the root once newton_step returns 1
    double step_old        # the step before the last (a Newton step must halve it)
    bint neg_lo


cdef inline void newton_start(NewtonBracket* br, double a, double b, double fa) noexcept nogil:
    """A bracket [a, b] with F(a) = fa and F(b) of the other sign or zero; the first point its middle."""
    br.lo = a
    br.hi = b
    br.step_old = b - a
    br.neg_lo = fa < 0.0
    br.s = 0.5 * (a + b)


cdef inline bint newton_step(NewtonBracket* br, double F, double dF, bint mid) noexcept nogil:
    """Take F(s) and F'(s) at br.s: shrink the bracket, then step (Newton, or bisection when the Newton step
    leaves the bracket or does not halve the step before). Returns 1 with the root in br.s once F(s) = 0,
    the bracket is 2 ulps wide (its end where F has the other sign; its middle with `mid`), or the Newton
    step is below an ulp of s."""
    cdef double step
    if F == 0.0:
        return 1
    if (F < 0.0) == br.neg_lo:
        br.lo = br.s
    else:
        br.hi = br.s
    if br.hi - br.lo <= 2.0 * EPS * fabs(br.hi):
        br.s = 0.5 * (br.lo + br.hi) if mid else br.hi
        return 1
    step = F / dF if dF != 0.0 else INFINITY
    if not (br.lo < br.s - step < br.hi) or fabs(2.0 * step) > fabs(br.step_old):
        br.step_old = 0.5 * (br.hi - br.lo)
        br.s = br.lo + br.step_old
        return 0
    br.step_old = step
    if fabs(step) <= EPS * fabs(br.s):
        br.s -= step
        return 1
    br.s -= step
    return 0
