"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""
from brian2.devices.device import all_devices as _brian2_devices

from .balanced import BalancedRateNetwork, BalancedRun, SinusoidalDrive
from .device import SparsePropDevice
from .meanfield import PeriodicDMFT, StationaryDMFT, periodic_dmft, stationary_dmft
from .network import EventNetwork
from .neo import from_neo, to_neo

_brian2_devices["sparseprop"] = SparsePropDevice()

__all__ = ["EventNetwork",
           "BalancedRateNetwork", "BalancedRun", "SinusoidalDrive", "PeriodicDMFT", "StationaryDMFT",
           "periodic_dmft", "stationary_dmft",
           "SparsePropDevice", "to_neo", "from_neo"]
