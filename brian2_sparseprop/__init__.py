"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""

__all__ = []
