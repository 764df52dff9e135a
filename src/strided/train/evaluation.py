"""Evaluation and prediction in eval mode, without recording a graph, batch by batch.

>>> import numpy as np, strided as st
>>> model = st.nn.Linear(4, 3, rng=0)
>>> x, y = np.ones((10, 4), np.float32), np.arange(10) % 3
>>> sorted(evaluate(model, (x, y), metrics=("accuracy", "top2")))
['accuracy', 'loss', 'top2_accuracy']
>>> classes, probs = predict(model, x, output="topk", k=2)
>>> classes.shape, probs.shape
((10, 2), (10, 2))
"""

from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..data.loader import batch_to_device
from ..nn.functional import cross_entropy
from ..tensor import Tensor, no_grad
from .data import as_loader, is_loader
from .metrics import MetricSet

OUTPUTS = ("logits", "probabilities", "topk")


class eval_mode:
    """``with eval_mode(model):`` evaluation mode and no graph inside; the model's mode is restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        self.grad = no_grad()
        self.grad.__enter__()
        return self.model

    def __exit__(self, *exc):
        self.grad.__exit__(*exc)
        for module, mode in self.modes:
            object.__setattr__(module, "training", mode)
        return False


def _values(outputs) -> np.ndarray:
    """The array metrics read, on the host: a tensor's data; of several outputs (auxiliary heads), the first."""
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    return _backend.to_host(outputs.data if isinstance(outputs, Tensor) else outputs)


def model_device(model, device=None, owner: str = "fit") -> _backend.Device:
    """The device ``model`` computes on: ``device``, after moving the model there (``model.to(device)``),
    or, with ``device=None``, where its first parameter (else buffer) lives; ``cpu`` for a model with neither.

    A device that cannot be used here (``cuda`` without CuPy or a GPU) raises the ``RuntimeError``
    of ``strided.backend.backend_for`` (it says how to install), before the model moves.

    Args:
        model: the ``Module``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``Device`` or ``None``.
        owner: the function to name in errors.

    Example:
        >>> import strided as st
        >>> model_device(st.nn.Linear(2, 2, rng=0))
        device(type='cpu')
    """
    if device is not None:
        try:
            device = _backend.parse_device(device)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: {error}") from None
        _backend.backend_for(device)                                    # fails before anything moves
        if model is not None:
            model.to(device)
        return device
    for param in model.parameters():
        return _backend.device_of(param.data)
    for buffer in model.buffers() if hasattr(model, "buffers") else ():
        return _backend.device_of(buffer)
    return _backend.Device("cpu")


def evaluate(model, data, loss=cross_entropy, metrics=("accuracy",), batch_size: int = 256, device=None) -> dict:
    """The mean loss and ``metrics`` of ``model`` over ``data``, in eval mode.

    ``data``: a DataLoader, a dataset or an ``(x, y)`` tuple (batched by ``batch_size``, in
    order). ``loss``: ``loss(outputs, targets)`` returning the batch mean (``None``: no loss).
    ``metrics``: names or ``Metric`` objects (see ``strided.train.metrics``), accumulated over
    batches; class metrics are left out for float targets. Returns ``{"loss": ..., "accuracy":
    ..., ...}`` (arrays for ``confusion_matrix`` and ``per_class``). ``device``: move the model
    there first (``model.to(device)``); ``None``: the model's own device. Each batch is moved to
    that device before the forward pass; the results are host values.

    Args:
        model: the ``Module`` evaluated (put in eval mode, then back in its mode).
        data: a ``DataLoader``, a dataset or an ``(x, y)`` tuple.
        loss: ``loss(outputs, targets)`` returning the batch mean, or ``None``.
        metrics: metric names or ``Metric`` objects.
        batch_size: the batch size when ``data`` is not a loader.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (the model is moved there), or ``None``: the model's device.

    Example:
        >>> import numpy as np
        >>> import strided as st
        >>> x, y = np.zeros((6, 3), dtype=np.float32), np.array([0, 1, 2, 0, 1, 2])
        >>> model = st.nn.Linear(3, 3, bias=False, rng=0)        # no bias: zero inputs give equal logits
        >>> results = evaluate(model, (x, y), batch_size=4)
        >>> sorted(results), round(results["loss"], 4)          # the loss is log(3)
        (['accuracy', 'loss'], 1.0986)
    """
    loader = as_loader(data, batch_size, shuffle=False, seed=0, owner="evaluate")
    place = model_device(model, device, "evaluate")
    results = MetricSet(metrics)
    with eval_mode(model):
        for x, y in loader:
            x_on, y_on = batch_to_device((x, y), place)
            outputs = model(x_on)
            value = float(loss(outputs, y_on).item()) if loss is not None else float("nan")
            results.update(value, _values(outputs), y)
    out = results.compute()
    if loss is None:
        out.pop("loss")
    return out


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """``exp(z - max) / sum``: probabilities along ``axis`` without overflow. Shape: unchanged."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _batches(data, batch_size: int):
    """Input batches of ``data``: an array (sliced), an ``(x, y)`` tuple (its ``x``), a dataset or a loader."""
    if isinstance(data, np.ndarray):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray):
        yield from _batches(data[0], batch_size)
        return
    if not is_loader(data) and hasattr(data, "x") and isinstance(data.x, np.ndarray):
        yield from _batches(data.x, batch_size)                  # ArrayDataset: no labels needed
        return
    for batch in as_loader(data, batch_size, shuffle=False, seed=0, owner="predict"):
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def predict(model, data, batch_size: int = 256, output: str = "logits", k: int = 5, device=None):
    """The model's outputs for every example of ``data``, in order, in eval mode.

    ``data``: an input array ``(N, *)``, an ``(x, y)`` tuple, a dataset or a loader (its
    batches' inputs). ``output``: ``'logits'`` (the model's raw outputs, ``(N, C)``),
    ``'probabilities'`` (softmax over the class axis 1) or ``'topk'``: the ``k`` most probable
    classes and their probabilities, ``(classes (N, k) int64, probabilities (N, k))``, most
    probable first (``k`` is capped at ``C``). ``device``: move the model there first
    (``model.to(device)``); ``None``: the model's own device. The batches are computed there; the
    results are host NumPy arrays.

    Args:
        model: the ``Module`` run (in eval mode, without gradients).
        data: an input array ``(N, *)``, an ``(x, y)`` tuple, a dataset or a loader.
        batch_size: the batch size when ``data`` is not a loader.
        output: ``'logits'``, ``'probabilities'`` or ``'topk'``.
        k: with ``'topk'``, how many classes per example.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (the model is moved there), or ``None``: the model's device.

    Example:
        >>> import numpy as np
        >>> import strided as st
        >>> model = st.nn.Linear(3, 4, rng=0)
        >>> predict(model, np.ones((5, 3), dtype=np.float32)).shape
        (5, 4)
        >>> classes, probabilities = predict(model, np.ones((5, 3), dtype=np.float32), output="topk", k=2)
        >>> classes.shape, probabilities.shape
        ((5, 2), (5, 2))
    """
    if output not in OUTPUTS:
        raise ValueError(f"predict: output must be one of {OUTPUTS}, got {output!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"predict: k must be a positive int, got {k!r}")
    place = model_device(model, device, "predict")
    chunks = []
    with eval_mode(model):
        for x in _batches(data, batch_size):
            chunks.append(np.array(_values(model(batch_to_device(x, place)))))     # a host copy
    if not chunks:
        raise ValueError("predict: the data has no examples")
    logits = np.concatenate(chunks)                                  # (N, C, ...)
    if output == "logits":
        return logits
    probabilities = softmax(logits, axis=1)
    if output == "probabilities":
        return probabilities
    if logits.ndim != 2:
        raise ValueError(f"predict: output='topk' needs outputs (N, C), got {logits.shape}")
    k = min(int(k), logits.shape[1])
    classes = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]          # (N, k)
    return classes.astype(np.int64), np.take_along_axis(probabilities, classes, axis=1)


__all__ = ["evaluate", "predict", "softmax", "eval_mode", "model_device"]
