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

    Example:
        >>> import numpy as np, strided as st
        >>> from strided.train import fit
        >>> model = st.nn.Linear(2, 2, rng=0)
        >>> x, y = np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
        >>> opt = st.optim.SGD(model.parameters(), lr=0.1)
        >>> from strided.train import NonFiniteLoss
        >>> try:
        ...     fit(model, (x, y), optimizer=opt, epochs=1, seed=0, log=None,
        ...         loss=lambda outputs, targets: outputs.sum() * float("nan"))
        ... except NonFiniteLoss as error:
        ...     print(error.epoch, error.step)
        1 1
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

    Example:
        >>> error = TrainingInterrupted("interrupted; resume with resume_from='run'", checkpoint="run/checkpoint.npz")
        >>> isinstance(error, KeyboardInterrupt), error.checkpoint, error.history
        (True, 'run/checkpoint.npz', [])
    """

    def __init__(self, message: str, checkpoint: str | None = None, history: list | None = None):
        super().__init__(message)
        self.checkpoint, self.history = checkpoint, history if history is not None else []

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "interrupted"


__all__ = ["NonFiniteLoss", "TrainingInterrupted"]
