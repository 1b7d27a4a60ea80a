"""Evaluation stage: frame- and sequence-level metrics per variant on the test side, with intervals, and the
comparison with paired differences."""
