"""snncompile: compile trained spiking neural networks to neuromorphic hardware and verify them."""

__version__ = "0.1.0"
