"""Ingestion: the demo data or a user's frame tree -> ``frame_index`` and ``ingestion_report``."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
