"""synaptax: crossbar arrays of emerging synaptic devices in JAX."""

__version__ = "0.1.0"

__all__ = ["__version__"]
