"""ClassKit engine: everything that computes, stores and decides. Never imports Qt."""

__version__ = "0.1.0"
