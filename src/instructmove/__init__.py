"""instructmove: learn instruction-based image editing from pairs of real video frames."""

__version__ = "0.1.0"
