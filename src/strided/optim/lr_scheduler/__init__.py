"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: ``step()`` after ``optimizer.step()``.

>>> # sched = st.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)
"""

from .base import LRScheduler
from .cyclic import CosineAnnealingWarmRestarts, CyclicLR
from .one_cycle import OneCycleLR
from .plateau import ReduceLROnPlateau
from .schedules import (ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, MultiplicativeLR,
                        MultiStepLR, PolynomialLR, StepLR)
from .sequential import ChainedScheduler, SequentialLR

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR", "ChainedScheduler",
           "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts"]
