"""Exact event-driven simulation of spiking networks (SparseProp): the engine's Python API, the standard
networks, and the Lyapunov spectra of pulse-coupled networks."""

from .lyapunov import largest_exponent_two_trajectories, lyapunov_spectrum
from .network import EventNetwork

__all__ = ["EventNetwork", "largest_exponent_two_trajectories", "lyapunov_spectrum"]
