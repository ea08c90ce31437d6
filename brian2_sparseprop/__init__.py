"""brian2_sparseprop: exact event-driven simulation, training and chaos analysis of spiking networks."""
from .balanced import BalancedRateNetwork, BalancedRun, SinusoidalDrive
from .meanfield import PeriodicDMFT, StationaryDMFT, periodic_dmft, stationary_dmft
from .network import EventNetwork
from .rate_lyapunov import (GRU, LSTM, RNN, LyapunovSpectrum, RateNetwork, largest_exponent_two_trajectories,
                            lyapunov_spectrum, meanfield_largest_exponent, random_coupling)

__all__ = [
    # exact event-driven engine
    "EventNetwork",
    # Lyapunov spectra of rate networks and RNN maps
    "GRU", "LSTM", "RNN", "LyapunovSpectrum", "RateNetwork", "largest_exponent_two_trajectories",
    "lyapunov_spectrum", "meanfield_largest_exponent", "random_coupling",
    # balanced rate networks and their mean-field theory
    "BalancedRateNetwork", "BalancedRun", "SinusoidalDrive", "PeriodicDMFT", "StationaryDMFT",
    "periodic_dmft", "stationary_dmft",
]
