"""Running a stage's work on ``torch.distributed``: one Kedro node launches the workers with
PyTorch's elastic launcher (:func:`launch`), other machines join with ``python -m
faceless.distributed.worker``; rank 0 alone reports and returns the result."""
from faceless.distributed.config import DistributedConfig, distributed_config
from faceless.distributed.launch import launch

__all__ = ["DistributedConfig", "distributed_config", "launch"]
