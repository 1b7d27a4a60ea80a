"""Ingestion: the demo data or a user's frame tree -> ``frame_index`` and ``ingestion_report``."""
