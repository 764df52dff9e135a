"""A run folder's pieces for pictures: its model, history and examples, rebuilt as ``strided eval`` does.

``open_run(run_dir)`` reads the configuration, the model with its last (or best) checkpoint's
weights, the history (``metrics.json``'s, or the checkpoint's while the run is unfinished) and
``metrics.json`` itself. ``run_examples(config)`` loads the run's data set from its recorded spec
(the same fixed subset with the run's ``limit``) and returns its test (or training) part twice:
normalised as in training (what the model takes) and on its own scale (what a person looks at).
``example_input(text, ...)`` turns a command-line input into one example: an image file, a
``.npy`` array holding one example, or ``test:K`` / ``train:K`` for the K-th example of the run's
data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np


@dataclass
class RunView:
    """A trained run folder: ``model`` (eval mode), ``config``, ``weights`` (the file), ``history``, ``metrics``."""

    run_dir: str
    model: object
    config: dict
    weights: str
    history: list
    metrics: dict | None


@dataclass
class RunExamples:
    """Examples of a run's data set: ``x`` normalised as in training, ``images`` on the data set's own scale."""

    x: np.ndarray
    y: np.ndarray
    images: np.ndarray
    classes: list
    split: str
    source: str


def run_history(run_dir: str) -> tuple[list, dict | None]:
    """``(history, metrics)``: ``metrics.json``'s history (and the document), else the checkpoint's history."""
    from ..train.checkpoint import CHECKPOINT
    from ..train.runs import METRICS, checkpoint_summary
    path = os.path.join(run_dir, METRICS)
    if os.path.isfile(path):
        with open(path) as handle:
            metrics = json.load(handle)
        return list(metrics.get("history") or []), metrics
    checkpoint = os.path.join(run_dir, CHECKPOINT)
    if os.path.isfile(checkpoint):
        return list(checkpoint_summary(checkpoint).get("history") or []), None
    return [], None


def open_run(run_dir, best: bool = False) -> RunView:
    """The run in ``run_dir`` (``load_run``'s model and configuration, plus its history and metrics)."""
    from ..train.checkpoint import BEST, CHECKPOINT
    from ..train.runs import load_run
    run_dir = os.fspath(run_dir)
    model, config = load_run(run_dir, best=best)
    history, metrics = run_history(run_dir)
    return RunView(run_dir, model, config, BEST if best else CHECKPOINT, history, metrics)


def run_examples(config: dict, split: str = "test") -> RunExamples:
    """The run's data set (its spec and ``limit``), part ``split``; raises if its examples no longer fit the model."""
    from ..data.sources import load_data, normalize_, parse_data_spec
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    spec = parse_data_spec(config["data"])
    shape = tuple(config["input_shape"])
    data = load_data(spec, limit=config.get("limit"), image_size=tuple(shape[1:]) if spec.kind == "folder" else None)
    part = data.test if split == "test" else data.train
    if tuple(part.x.shape[1:]) != shape:
        raise ValueError(f"{spec.text} now gives examples of {'x'.join(map(str, part.x.shape[1:]))}, but the run's "
                         f"model takes {'x'.join(map(str, shape))}")
    images = part.x
    x = normalize_(images.copy(), config["normalize"]["mean"], config["normalize"]["std"])
    source = data.test_source if split == "test" else "the training part"
    return RunExamples(x, np.asarray(part.y, np.int64), images, list(config["classes"]), split, source)


def example_input(text: str, config: dict, examples=None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x (1, *input_shape) normalised, image (*input_shape) on its own scale, label)`` for one input.

    ``text``: ``test:K`` or ``train:K`` (``examples``, when given, is that part already loaded),
    a ``.npy`` file holding one example, or an image file (converted, resized and scaled as
    ``strided predict`` does).
    """
    from ..data.sources import normalize_
    from ..train.inputs import read_inputs
    part, colon, rest = str(text).partition(":")
    if colon and part in ("test", "train") and not os.path.exists(text):
        if not rest.strip().lstrip("-").isdigit():
            raise ValueError(f"{text}: expected {part}:K with K an example number")
        examples = examples if examples is not None and examples.split == part else run_examples(config, part)
        k = int(rest)
        if not 0 <= k < len(examples.x):
            raise ValueError(f"{text}: the run's {part} part has {len(examples.x)} examples (0 to "
                             f"{len(examples.x) - 1})")
        label = f"{part} example {k} (true class {examples.classes[int(examples.y[k])]})"
        return examples.x[k:k + 1], examples.images[k], label
    (name, raw), = read_inputs([text], config, normalized=True)            # on the data set's scale
    if len(raw) != 1:
        raise ValueError(f"{text} holds {len(raw)} examples; give one (or test:K for the run's K-th test example)")
    x = normalize_(raw.copy(), config["normalize"]["mean"], config["normalize"]["std"])
    return x, raw[0], os.path.basename(name)


__all__ = ["RunView", "RunExamples", "open_run", "run_history", "run_examples", "example_input"]
