"""The named ways a training run ends early: a non-finite loss, and an interrupt (Ctrl-C)."""

from __future__ import annotations


class NonFiniteLoss(FloatingPointError):
    """The loss (or, at a checkpoint, a parameter) became NaN or infinite.

    Raised by ``fit`` before the bad step updates anything, so the model keeps its last finite
    weights and no checkpoint is written with NaN weights. ``epoch`` (1-based) and ``step`` (the
    run's optimizer steps so far, plus one for the failing step) say where; ``checkpoint`` is the
    last good checkpoint file, or ``None``.

    Args:
        message: the error message.
        epoch: the epoch in progress, or ``None``.
        step: the optimizer step that failed, or ``None``.
        checkpoint: the last good checkpoint file, or ``None``.
    """

    def __init__(self, message: str, epoch: int | None = None, step: int | None = None,
                 checkpoint: str | None = None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) ended ``fit``; a checkpoint was saved if one was configured.

    A ``KeyboardInterrupt``, so a script stops as it would have; the message says how to resume,
    ``checkpoint`` is the file written (or ``None``), ``history`` the epochs completed.
    The command line turns it into exit status 130 without a traceback.

    Args:
        message: the error message (how to resume).
        checkpoint: the checkpoint file written, or ``None``.
        history: the rows of the completed epochs.
    """

    def __init__(self, message: str, checkpoint: str | None = None, history: list | None = None):
        super().__init__(message)
        self.checkpoint, self.history = checkpoint, history if history is not None else []

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "interrupted"


__all__ = ["NonFiniteLoss", "TrainingInterrupted"]
