"""Rate networks: networks and RNN maps with their Lyapunov spectra, gradient flossing (JAX), balanced
networks, their dynamic mean-field theory, chaos suppression and learning."""
