"""Frame discovery, loading and array datasets for the faceless pipelines."""
