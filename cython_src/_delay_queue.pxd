# The queue of delayed spikes: a binary min-heap of events in flight, ordered by arrival time and, at
# equal times, by the order in which they were sent (a sequence number), so that arrivals are
# deterministic. One event delivers the synapses of one delay group of one presynaptic row: `syn` is its
# first synapse, `t_spk` the spike time (the next group of the row is due at t_spk + its delay). An event
# with `src` < 0 delivers synapse `syn` of row -1 - `src` alone and nothing after it: a spike in flight
# when the delays changed keeps the arrival times it was sent with (`EventNetwork.set_params`).
# With a time quantum q (`Engine.q` > 0) an event's times are pairs: it arrives at `k` q + `t_spk`, `k` a
# whole number of quanta (relative to the engine's epoch) and `t_spk` the offset that its spike's time had
# from the grid of quanta, which every time derived from that spike keeps (see the engine's "Coincident
# events"); without one, `k` is 0.
#
# The queue owns its array and grows it geometrically in `dq_reserve`, which returns -1 when memory runs
# out or the growth would pass `limit` (the queue is then unchanged) and 0 otherwise; `dq_push` cannot
# fail: it needs room made before (size < cap), so that a failed allocation leaves no event half done. The engine cimports all of this; the adjoint and
# tangent code may read a queue but never push to one of the forward loop.
from libc.stdlib cimport free, realloc

from ._typedefs cimport idx_t, syn_t, int64_t, uint64_t

cdef struct DelayEvent:
    double t_arr        # arrival time
    double t_spk        # time of the spike that sent it (with a time quantum: its offset from the grid)
    syn_t syn           # first synapse of the delay group
    idx_t src           # presynaptic id (neuron or external source); -1 - id: one synapse only
    uint64_t seq        # send order, the tie-break at equal arrival times
    int64_t k           # with a time quantum: the arrival time in whole quanta (t_arr = k q + t_spk)

cdef struct DelayQueue:
    DelayEvent* ev      # heap of events: ev[0] arrives first
    int64_t size
    int64_t cap         # allocated length of ev
    int64_t limit       # the most events it may hold (growth beyond fails as if out of memory)
    uint64_t seq        # sequence number of the next event sent


cdef inline bint dq_less(const DelayEvent* a, const DelayEvent* b) noexcept nogil:
    return a.t_arr < b.t_arr or (a.t_arr == b.t_arr and a.seq < b.seq)


cdef inline int dq_reserve(DelayQueue* q, int64_t cap) noexcept nogil:
    """Make room for at least `cap` events (geometric growth). Returns -1 if memory runs out, else 0."""
    cdef int64_t new_cap = q.cap if q.cap > 0 else 64
    cdef DelayEvent* grown
    if cap <= q.cap:
        return 0
    while new_cap < cap:
        new_cap *= 2
    if new_cap > q.limit:
        new_cap = q.limit
        if new_cap < cap:
            return -1
    grown = <DelayEvent*>realloc(q.ev, new_cap * sizeof(DelayEvent))
    if grown == NULL:
        return -1
    q.ev = grown
    q.cap = new_cap
    return 0


cdef inline void dq_free(DelayQueue* q) noexcept nogil:
    """Release the events (the sequence counter and the limit stay)."""
    free(q.ev)
    q.ev = NULL
    q.size = 0
    q.cap = 0


cdef inline void dq_sift_down(DelayQueue* q, int64_t p, DelayEvent ev) noexcept nogil:
    """Place ev at position p or below (the heap order holds below p)."""
    cdef DelayEvent* a = q.ev
    cdef int64_t c, size = q.size
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and dq_less(&a[c + 1], &a[c]):
            c += 1
        if dq_less(&a[c], &ev):
            a[p] = a[c]
            p = c
        else:
            break
    a[p] = ev


cdef inline void dq_heapify(DelayQueue* q) noexcept nogil:
    """Restore the heap order of all events (after their times were changed alike or set by hand)."""
    cdef int64_t p = q.size // 2 - 1
    while p >= 0:
        dq_sift_down(q, p, q.ev[p])
        p -= 1


cdef inline void dq_push(DelayQueue* q, double t_arr, double t_spk, idx_t src, syn_t syn, int64_t k) noexcept nogil:
    """Send an event (it takes the next sequence number). Precondition: size < cap."""
    cdef int64_t p, parent
    cdef DelayEvent ev
    ev.t_arr = t_arr
    ev.t_spk = t_spk
    ev.k = k
    ev.src = src
    ev.syn = syn
    ev.seq = q.seq
    q.seq += 1
    p = q.size
    q.size += 1
    while p > 0:
        parent = (p - 1) >> 1
        if dq_less(&ev, &q.ev[parent]):
            q.ev[p] = q.ev[parent]
            p = parent
        else:
            break
    q.ev[p] = ev


cdef inline DelayEvent dq_pop(DelayQueue* q) noexcept nogil:
    """Remove and return the first event. Precondition: the queue is not empty."""
    cdef DelayEvent top = q.ev[0]
    q.size -= 1
    if q.size > 0:
        dq_sift_down(q, 0, q.ev[q.size])
    return top
