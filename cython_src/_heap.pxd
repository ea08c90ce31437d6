# An indexed 8-ary min-heap with change-key, in struct-of-arrays layout.
#
# A fixed set of items 0..n-1 lives in the heap at all times; each has a double key. Most updates in a
# sparse network move a key of a leaf (8-ary: 7/8 of the items are leaves), so a wide heap is shallow and
# cheap. Ties are broken by the lower item index, which makes every order deterministic.
#
# Several heaps may share one `pos` array indexed by a global item id (the engine keeps one heap per
# neuron class and one `pos` field per neuron); `ids` hold those global ids. `pos_stride` lets `pos` be
# a field of an array of structs (item i's position is pos[i * pos_stride]).
from _typedefs cimport idx_t, float64_t

cdef struct Heap:
    float64_t* keys     # key at each heap position
    idx_t* ids          # item at each heap position
    idx_t* pos          # heap position of each item (indexed by item id)
    idx_t pos_stride
    idx_t size


cdef inline bint heap_less(float64_t ka, idx_t ia, float64_t kb, idx_t ib) noexcept nogil:
    return ka < kb or (ka == kb and ia < ib)


cdef inline void heap_sift_up(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    cdef idx_t parent, p0 = p
    while p > 0:
        parent = (p - 1) >> 3
        if heap_less(k, i, h.keys[parent], h.ids[parent]):
            h.keys[p] = h.keys[parent]
            h.ids[p] = h.ids[parent]
            h.pos[h.ids[p] * h.pos_stride] = p
            p = parent
        else:
            break
    h.keys[p] = k
    if p != p0:                 # most updates leave the item where it was: touch only its key
        h.ids[p] = i
        h.pos[i * h.pos_stride] = p


cdef inline void heap_sift_down(Heap* h, idx_t p, float64_t k, idx_t i) noexcept nogil:
    cdef idx_t c, c_end, best, p0 = p
    cdef float64_t kbest
    while True:
        c = 8 * p + 1
        if c >= h.size:
            break
        c_end = c + 8
        if c_end > h.size:
            c_end = h.size
        best = c
        kbest = h.keys[c]
        c += 1
        while c < c_end:
            if heap_less(h.keys[c], h.ids[c], kbest, h.ids[best]):
                best = c
                kbest = h.keys[c]
            c += 1
        if heap_less(kbest, h.ids[best], k, i):
            h.keys[p] = kbest
            h.ids[p] = h.ids[best]
            h.pos[h.ids[p] * h.pos_stride] = p
            p = best
        else:
            break
    h.keys[p] = k
    if p != p0:
        h.ids[p] = i
        h.pos[i * h.pos_stride] = p


cdef inline void heap_update(Heap* h, idx_t i, float64_t k) noexcept nogil:
    """Set the key of item i to k and restore the heap order."""
    cdef idx_t p = h.pos[i * h.pos_stride]
    if heap_less(k, i, h.keys[p], i):
        heap_sift_up(h, p, k, i)
    else:
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
