"""The Brian2 device ``'sparseprop'``: model recognition, simulation by the event engine, write-back into
Brian2's monitors, and comparison with clock-driven runs."""

from .device import SparsePropDevice

__all__ = ["SparsePropDevice"]
