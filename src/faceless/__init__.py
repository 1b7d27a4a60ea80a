"""faceless: recognise people in 64x64 video frames, with and without 4x super-resolution."""
import os

# Offline by default: MLflow sends usage telemetry unless told not to. Set before anything in
# this package can import mlflow (settings.py repeats it for kedro's own start-up order).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"
