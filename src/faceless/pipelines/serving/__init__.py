"""Serving: the system `predict` runs, as one MLflow model (pyfunc) logged with every `full` run."""
