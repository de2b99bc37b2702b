"""SynthesizRR: retrieval-augmented dataset synthesis, orchestrated with Hydra."""
__version__ = "0.1.0"
