"""pdesurr: neural PDE surrogates and the pseudo-spectral solvers that feed them."""

__version__ = "0.1.0"
