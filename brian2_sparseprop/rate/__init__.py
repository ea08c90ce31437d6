"""Rate networks: networks and RNN maps with their Lyapunov spectra, gradient flossing (JAX), balanced
networks, their dynamic mean-field theory, chaos suppression and learning.

The modules are imported on first use (PEP 562): ``from brian2_sparseprop.rate import RateNetwork``
imports `brian2_sparseprop.rate.lyapunov` only.
"""

from .._lazy import attach

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
__getattr__, __dir__, __all__ = attach(
    __name__,
    _LAZY,
    ("balanced", "chaos_suppression", "flossing", "learning", "lyapunov", "meanfield", "nonlinearities"),
)
