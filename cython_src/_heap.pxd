# An indexed 8-ary min-heap with change-key, in struct-of-arrays layout.
#
# A fixed set of items 0..n-1 lives in the heap at all times; each has a double key. Most updates in a
# sparse network move a key of a leaf (8-ary: 7/8 of the items are leaves), so a wide heap is shallow and
# cheap. Ties are broken by the lower item index, which makes every order deterministic.
#
# Several heaps may share one `pos` array indexed by a global item id (the engine keeps one heap per
# neuron class and one `pos` field per neuron); `ids` hold those global ids. `pos_stride` lets `pos` be
# a field of an array of structs (item i's position is pos[i * pos_stride]).
from ._typedefs cimport idx_t, float64_t

cdef extern from *:
    """
    #define SP_PREFETCH(p) __builtin_prefetch((const void*)(p), 1, 3)
    """
    void SP_PREFETCH(const void* p) noexcept nogil

cdef struct Heap:
    float64_t* keys     # key at each heap position
    idx_t* ids          # item at each heap position
    idx_t* pos          # heap position of each item (indexed by item id)
    idx_t pos_stride
    idx_t size


cdef inline bint heap_less(float64_t ka, idx_t ia, float64_t kb, idx_t ib) noexcept nogil:
    return ka < kb or (ka == kb and ia < ib)


cdef inline void heap_sift_up(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    # the Heap's fields are read once into locals: the stores below (int32 ids and positions) could
    # alias them, which would make the compiler reload every field at every level
    cdef float64_t* keys = h.keys
    cdef idx_t* ids = h.ids
    cdef idx_t* pos = h.pos
    cdef idx_t stride = h.pos_stride
    cdef idx_t parent, ip, p0 = p
    cdef float64_t kp
    while p > 0:
        parent = (p - 1) >> 3
        kp = keys[parent]
        ip = ids[parent]
        if k < kp or (k == kp and i < ip):
            keys[p] = kp
            ids[p] = ip
            pos[ip * stride] = p
            p = parent
        else:
            break
    keys[p] = k
    if p != p0:                 # most updates leave the item where it was: touch only its key
        ids[p] = i
        pos[i * stride] = p


cdef inline void _sift_down(Heap* h, idx_t p, float64_t k, idx_t i, bint lookahead) noexcept nogil:
    # lookahead: while scanning a node's 8 children, prefetch each child's own children, so that the
    # next level's block is in flight (for a key that sinks far); callers pass a constant
    cdef float64_t* keys = h.keys
    cdef idx_t* ids = h.ids
    cdef idx_t* pos = h.pos
    cdef idx_t stride = h.pos_stride, size = h.size
    cdef idx_t c, c_end, best, ib, g, p0 = p
    cdef float64_t kbest, kc
    while True:
        c = 8 * p + 1
        if c >= size:
            break
        c_end = c + 8
        if c_end > size:
            c_end = size
        best = c
        kbest = keys[c]
        if not lookahead:
            c += 1
        while c < c_end:
            if lookahead:
                g = 8 * c + 1
                if g < size:
                    SP_PREFETCH(keys + g)
                    SP_PREFETCH(ids + g)
            kc = keys[c]
            if kc < kbest or (kc == kbest and ids[c] < ids[best]):
                best = c
                kbest = kc
            c += 1
        ib = ids[best]
        if kbest < k or (kbest == k and ib < i):
            keys[p] = kbest
            ids[p] = ib
            pos[ib * stride] = p
            p = best
        else:
            break
    keys[p] = k
    if p != p0:
        ids[p] = i
        pos[i * stride] = p


cdef inline void heap_sift_down(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    _sift_down(h, p, k, i, False)


cdef inline void heap_sink(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    """`heap_sift_down` for a key that sinks far (a node leaving the top), prefetching a level ahead."""
    _sift_down(h, p, k, i, True)


cdef inline void heap_update(Heap* h, idx_t i, float64_t k) noexcept nogil:
    """Set the key of item i to k and restore the heap order."""
    cdef idx_t p = h.pos[i * h.pos_stride]
    if heap_less(k, i, h.keys[p], i):
        heap_sift_up(h, p, k, i)
    else:
        heap_sift_down(h, p, k, i)


cdef inline void heap_replace(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    """`heap_update` for item i at position p, without reading its old key (a cache miss per update in a
    large heap): the parent's key, in a level 8 times smaller and more likely cached, decides. If k is
    below the parent's, it is below the old key and so below every child: sift up; otherwise the parent
    order holds: sift down. The items end where `heap_update` puts them."""
    cdef idx_t parent
    if p > 0:
        parent = (p - 1) >> 3
        if heap_less(k, i, h.keys[parent], h.ids[parent]):
            heap_sift_up(h, p, k, i)
            return
    heap_sift_down(h, p, k, i)


cdef inline void heap_build(Heap* h) noexcept nogil:
    """Heapify keys/ids in place (Floyd) and fill pos."""
    cdef idx_t p
    for p in range(h.size):
        h.pos[h.ids[p] * h.pos_stride] = p
    if h.size > 1:
        p = (h.size - 2) >> 3
        while p >= 0:
            heap_sift_down(h, p, h.keys[p], h.ids[p])
            p -= 1
