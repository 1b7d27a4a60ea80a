"""Evaluation stage: frame- and sequence-level metrics per variant on the test side, and the comparison."""
