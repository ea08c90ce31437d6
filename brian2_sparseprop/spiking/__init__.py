"""Exact event-driven simulation of spiking networks (SparseProp): the engine's Python API and the standard
networks."""

from .network import EventNetwork

__all__ = ["EventNetwork"]
