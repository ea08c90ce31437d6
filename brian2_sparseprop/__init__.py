"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks.

Importing the package registers the Brian2 device ``'sparseprop'``: ``set_device('sparseprop')``.
"""

from brian2.devices.device import all_devices as _brian2_devices

from .device.device import SparsePropDevice
from .lyapunov import LyapunovSpectrum
from .neo import from_neo, to_neo
from .rate.balanced import BalancedRateNetwork, BalancedRun, SinusoidalDrive
from .rate.learning import RecursiveLeastSquares, StudentTraining, train_student
from .rate.lyapunov import (
    GRU,
    LSTM,
    RNN,
    RateNetwork,
    largest_exponent_two_trajectories,
    lyapunov_spectrum,
    meanfield_largest_exponent,
    random_coupling,
)
from .rate.meanfield import PeriodicDMFT, StationaryDMFT, periodic_dmft, stationary_dmft
from .spiking.network import EventNetwork

_brian2_devices["sparseprop"] = SparsePropDevice()

__all__ = [
    # exact event-driven engine and its Brian2 device
    "EventNetwork",
    "SparsePropDevice",
    # Neo conversion
    "to_neo",
    "from_neo",
    # Lyapunov spectra of rate networks and RNN maps
    "GRU",
    "LSTM",
    "RNN",
    "LyapunovSpectrum",
    "RateNetwork",
    "largest_exponent_two_trajectories",
    "lyapunov_spectrum",
    "meanfield_largest_exponent",
    "random_coupling",
    # balanced rate networks and their mean-field theory
    "BalancedRateNetwork",
    "BalancedRun",
    "SinusoidalDrive",
    "PeriodicDMFT",
    "StationaryDMFT",
    "periodic_dmft",
    "stationary_dmft",
    # training a balanced student network from a driven teacher (full-FORCE, recursive least squares)
    "RecursiveLeastSquares",
    "StudentTraining",
    "train_student",
]
