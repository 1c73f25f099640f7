"""The learning loop on a project: train a round, predict, select a batch, keep the ledger.

Array-level pieces live in ``classkit.engine.learn`` (heads, calibration, metrics) and
``classkit.engine.select`` (strategies, kernels, recipe); this package wires them to a
project's embeddings, labels, splits and similarity structure.
"""
