"""Python access to the engine's queue of delayed spikes, for tests against ``heapq``."""

import numpy as np

from libc.string cimport memcpy

from libc.stdint cimport INT64_MAX

from ._delay_queue cimport DelayEvent, DelayQueue, dq_free, dq_heapify, dq_pop, dq_push, dq_reserve
from ._typedefs cimport idx_t, int64_t, syn_t

cdef DelayEvent _dummy
# the record layout of one queued event, as numpy reads it from the C struct
DELAY_EVENT_DTYPE = np.asarray(<DelayEvent[:1]>(&_dummy)).dtype


cdef class EventQueue:
    """Delayed spike events, first arrival first (ties: the event sent first).

    Parameters
    ----------
    limit : int, optional
        The most events the queue may hold; a push beyond raises MemoryError as a failed allocation does.

    Examples
    --------
    >>> from brian2_sparseprop.spiking._delay_queue import EventQueue
    >>> q = EventQueue()
    >>> q.push(0.003, 0.001, 7, 70)
    >>> q.push(0.002, 0.001, 5, 50)
    >>> q.push(0.002, 0.0015, 6, 60)
    >>> len(q), q.pop()
    (3, (0.002, 0.001, 5, 50, 1))
    >>> q.events()["seq"].tolist()
    [2, 0]
    """
    cdef DelayQueue q

    def __cinit__(self, limit=None):
        self.q.limit = INT64_MAX if limit is None else limit

    def __dealloc__(self):
        dq_free(&self.q)

    def __len__(self):
        return self.q.size

    def push(self, double t_arr, double t_spk, idx_t src, syn_t syn):
        """Send an event arriving at ``t_arr`` from the spike of ``src`` at ``t_spk`` (first synapse ``syn``)."""
        if self.q.size == self.q.cap and dq_reserve(&self.q, self.q.size + 1) != 0:
            raise MemoryError(f"cannot grow the queue of delayed spikes beyond {self.q.cap} events")
        dq_push(&self.q, t_arr, t_spk, src, syn, 0)

    def pop(self):
        """Remove the first event; returns ``(t_arr, t_spk, src, syn, seq)``."""
        if self.q.size == 0:
            raise IndexError("pop from an empty queue")
        cdef DelayEvent ev = dq_pop(&self.q)
        return ev.t_arr, ev.t_spk, ev.src, ev.syn, ev.seq

    def shift(self, double d):
        """Move every event's times back by ``d`` and restore the order (as the engine's epoch shift)."""
        cdef int64_t k
        for k in range(self.q.size):
            self.q.ev[k].t_arr -= d
            self.q.ev[k].t_spk -= d
        dq_heapify(&self.q)

    @property
    def capacity(self):
        """Allocated length of the event array."""
        return self.q.cap

    def events(self):
        """A copy of the queued events in heap order, as a structured array of ``DELAY_EVENT_DTYPE``."""
        out = np.empty(self.q.size, DELAY_EVENT_DTYPE)
        if self.q.size:
            memcpy(<void*><size_t>out.ctypes.data, self.q.ev, self.q.size * sizeof(DelayEvent))
        return out
