"""Sampling: group-disjoint split, sequence-balanced samples, the chosen frames as arrays."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
