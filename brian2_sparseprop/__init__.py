"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""
from .network import EventNetwork

__all__ = ["EventNetwork"]
