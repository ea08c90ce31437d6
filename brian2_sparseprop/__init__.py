"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""

from brian2_sparseprop.rate_lyapunov import (
    GRU,
    LSTM,
    RNN,
    LyapunovSpectrum,
    RateNetwork,
    largest_exponent_two_trajectories,
    lyapunov_spectrum,
    meanfield_largest_exponent,
    random_coupling,
)

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "LyapunovSpectrum",
    "RateNetwork",
    "largest_exponent_two_trajectories",
    "lyapunov_spectrum",
    "meanfield_largest_exponent",
    "random_coupling",
]
