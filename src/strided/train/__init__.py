"""Training: the loop, evaluation, checkpoints, progress bars and the digits job."""

from .checkpoint import load_checkpoint, save_checkpoint
from .loop import evaluate, fit, train_epoch
from .progress import progress_bar

__all__ = ["load_checkpoint", "save_checkpoint", "evaluate", "fit", "train_epoch", "progress_bar"]
