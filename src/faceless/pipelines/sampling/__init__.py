"""Sampling: group-disjoint split, sequence-balanced samples, the chosen frames as arrays."""
