"""Exact event-driven simulation of spiking networks (SparseProp): the engine's Python API, the standard
networks, and the Lyapunov spectra of pulse-coupled networks."""

from .linear import LinearModel
from .lyapunov import largest_exponent_two_trajectories, lyapunov_spectrum
from .network import EventNetwork

__all__ = ["EventNetwork", "LinearModel", "largest_exponent_two_trajectories", "lyapunov_spectrum"]
