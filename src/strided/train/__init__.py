"""Training: ``fit``, ``evaluate``, ``predict``, metrics, callbacks, checkpoints with exact resume.

>>> # history = st.train.fit(model, (x_train, y_train), (x_val, y_val), optimizer=opt, epochs=10,
>>> #                        seed=0, checkpoint_dir="runs/demo", checkpoint_every=100)
>>> # history = st.train.fit(..., resume_from="runs/demo")      # after a crash: continues exactly
"""

from . import callbacks, metrics
from .callbacks import Callback, Checkpoint, CSVLogger, EarlyStopping, JSONLogger, LambdaCallback, LRMonitor
from .checkpoint import NonFiniteCheckpoint, load_checkpoint, restore_state, save_checkpoint, training_state
from .errors import NonFiniteLoss, TrainingInterrupted
from .evaluation import evaluate, predict
from .loop import Run, fit
from .progress import progress_bar
from .records import json_safe, write_json

__all__ = ["fit", "evaluate", "predict", "Run", "callbacks", "metrics", "Callback", "Checkpoint", "CSVLogger",
           "EarlyStopping", "JSONLogger", "LambdaCallback", "LRMonitor", "NonFiniteLoss", "NonFiniteCheckpoint",
           "TrainingInterrupted", "load_checkpoint", "save_checkpoint", "restore_state", "training_state",
           "progress_bar", "json_safe", "write_json"]
