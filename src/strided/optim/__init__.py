"""Optimizers and learning-rate schedules, used as in PyTorch."""

from .adam import Adam, AdamW
from .lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "StepLR", "Optimizer", "SGD"]
