"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks.

Importing the package registers the Brian2 device ``'sparseprop'``: ``set_device('sparseprop')``.
Everything else is imported on first use (PEP 562, as SciPy does), so that the import costs little more
than Brian2's own: ``from brian2_sparseprop import BalancedRateNetwork`` imports the rate modules
then, and JAX only with `brian2_sparseprop.rate.flossing`.
"""

import importlib

from .device import SparsePropDevice  # registers the device 'sparseprop' with Brian2

#: public names imported on first use, by the subpackage or module that defines them
_LAZY = {
    "spiking": ("EventNetwork",),
    "neo": ("to_neo", "from_neo"),
    "lyapunov": ("LyapunovSpectrum",),
    "rate": (
        "GRU",
        "LSTM",
        "RNN",
        "RateNetwork",
        "largest_exponent_two_trajectories",
        "lyapunov_spectrum",
        "meanfield_largest_exponent",
        "random_coupling",
        "BalancedRateNetwork",
        "BalancedRun",
        "SinusoidalDrive",
        "PeriodicDMFT",
        "StationaryDMFT",
        "periodic_dmft",
        "stationary_dmft",
        "RecursiveLeastSquares",
        "StudentTraining",
        "train_student",
    ),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}
_SUBMODULES = ("connectivity", "device", "experiments", "lyapunov", "neo", "rate", "spiking")

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


def __getattr__(name):
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
