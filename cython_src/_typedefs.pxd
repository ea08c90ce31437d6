# C types shared by the engine's Cython modules.
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint64_t

ctypedef double float64_t
ctypedef int32_t idx_t      # neuron / heap-item index (32 bit keeps the heap arrays compact)
ctypedef int64_t syn_t      # synapse index (a network may hold more than 2**31 synapses)
