"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks.

Importing the package registers the Brian2 device ``'sparseprop'``: ``set_device('sparseprop')``.
Everything else is imported on first use (PEP 562, as SciPy does), so that the import costs little more
than Brian2's own: ``from brian2_sparseprop import BalancedRateNetwork`` imports the rate modules
then, and JAX only with `brian2_sparseprop.rate.flossing`.
"""

from ._lazy import attach
from .device import SparsePropDevice  # registers the device 'sparseprop' with Brian2

#: public names imported on first use, by the subpackage or module that defines them
_LAZY = {
    "spiking": ("EventNetwork", "LinearModel"),
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
__getattr__, __dir__, _lazy_names = attach(
    __name__, _LAZY, ("connectivity", "device", "experiments", "lyapunov", "neo", "rate", "spiking")
)
__all__ = ["SparsePropDevice", *_lazy_names]
