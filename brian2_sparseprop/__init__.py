"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""
from .balanced import BalancedRateNetwork, BalancedRun, SinusoidalDrive
from .meanfield import PeriodicDMFT, StationaryDMFT, periodic_dmft, stationary_dmft
from .network import EventNetwork

__all__ = ["EventNetwork",
           "BalancedRateNetwork", "BalancedRun", "SinusoidalDrive", "PeriodicDMFT", "StationaryDMFT",
           "periodic_dmft", "stationary_dmft"]
