"""Rate networks: networks and RNN maps with their Lyapunov spectra, gradient flossing (JAX), balanced
networks, their dynamic mean-field theory, chaos suppression and learning.

The modules are imported on first use (PEP 562): ``from brian2_sparseprop.rate import RateNetwork``
imports `brian2_sparseprop.rate.lyapunov` only.
"""

import importlib

#: public names, by the module that defines them; imported on first use
_LAZY = {
    "lyapunov": (
        "GRU",
        "LSTM",
        "RNN",
        "RateNetwork",
        "largest_exponent_two_trajectories",
        "lyapunov_spectrum",
        "meanfield_largest_exponent",
        "random_coupling",
    ),
    "balanced": ("BalancedRateNetwork", "BalancedRun", "SinusoidalDrive"),
    "meanfield": ("PeriodicDMFT", "StationaryDMFT", "periodic_dmft", "stationary_dmft"),
    "learning": ("RecursiveLeastSquares", "StudentTraining", "train_student"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}
_SUBMODULES = ("balanced", "chaos_suppression", "flossing", "learning", "lyapunov", "meanfield", "nonlinearities")

__all__ = [name for names in _LAZY.values() for name in names]


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
