"""The training job behind ``strided train``: a model trained on a data set into a run folder.

``train_run(options, out_dir=...)`` trains (or continues) the run the options describe:
``options`` are those of ``strided train`` (``job.OPTIONS``: model, data, epochs, batch size,
optimizer, learning rate, momentum, weight decay, scheduler, augmentation, seed, limit, image
size, device); the rest take their defaults (``job.DEFAULTS``), or a resumed run's own values. The run
folder (``strided.train.runs``) gets ``config.json`` (written before training starts),
``checkpoint.npz`` after every epoch (atomically: the whole training state, so a resume
continues exactly), ``best.npz`` and, when training ends, ``metrics.json`` (strict JSON).

With no options it is the main job: LeNet-5 on scikit-learn's real handwritten digits (8x8
images upsampled to 32x32, standardised with the training images' mean and standard deviation),
SGD with momentum 0.9 and weight decay 5e-4, lr 0.02 on a cosine schedule, batch 32, 20 epochs,
random shifts of up to 2 pixels; ``run_digits_job`` keeps that job's own signature. The same
seed gives the same numbers: the seed fixes the weights (``default_rng(seed)``), the shuffling
and the augmentation (the ``DataLoader``'s ``(seed, epoch, batch)`` streams); every train/test
split is fixed independently of it.
"""

from __future__ import annotations

import os
import platform
import time
from contextlib import nullcontext

import numpy as np

from .. import __version__
from ..backend import backend_for
from ..checks import as_int
from ..data import DataLoader
from ..data.sources import channel_stats, load_data, normalize_
from ..distributed import barrier, fit_sync, is_main, world_size
from ..memory import keep_freed_memory
from ..nn.functional import cross_entropy
from .callbacks import Checkpoint
from .checkpoint import CHECKPOINT
from .evaluation import evaluate
from .job import (DEFAULTS, FORMAT, OPTIONS, Replan, augment_transform, build_model, make_optimizer, make_scheduler,
                  resolve_defaults)
from .loop import fit
from .records import write_json
from .runs import (CONFIG, METRICS, ConfigConflict, RunExists, RunLock, canonical, clear_run, default_out_dir,
                   describe_run, in_use, merge_options, run_state)

__all__ = ["train_run", "run_digits_job", "CHECKPOINT", "METRICS", "CONFIG"]


def train_run(options: dict | None = None, *, out_dir: str | None = None, resume: bool = False, force: bool = False,
              progress: bool | None = None, log=print, warn=None, stop_after: int | None = None,
              checkpoint_every: int | None = None, allow_nonfinite: bool = False) -> dict:
    """Train (or continue) the run ``options`` describe in ``out_dir``; returns what ``metrics.json`` holds.

    ``options``: ``{name: value}`` for the options chosen (``job.OPTIONS``; ``None`` values are
    not chosen): the rest take their defaults, or, with ``resume``, the run's own values.
    ``out_dir``: default ``default_out_dir(model, data)``. ``stop_after``: stop once this many
    epochs are done (as an interruption would; ``resume`` continues). ``warn``: prints the
    notes about options a resumed run keeps or changes (default: ``log``). ``allow_nonfinite``:
    resume even from a checkpoint holding NaN or infinite weights (``fit``'s). ``options["device"]``
    (default ``'cpu'``): where to train; one that cannot be used here (``'cuda'`` without CuPy or a
    GPU) raises the ``RuntimeError`` of ``strided.backend.backend_for`` before anything is read.

    Raises ``RuntimeError`` (an unusable device), ``RunExists``, ``RunInUse``, ``ConfigConflict``, ``NonFiniteCheckpoint`` (``ValueError``s), ``NonFiniteLoss``
    and ``TrainingInterrupted`` (after saving the checkpoint), as ``fit`` does.
    """
    warn = warn or log
    main = is_main()                                # data-parallel (mpirun): rank 0 alone prints and writes
    log, warn = (log, warn) if main else ((lambda *args: None),) * 2
    given = {name: canonical(name, value) for name, value in (options or {}).items() if value is not None}
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise TypeError(f"train_run: unknown options {unknown}; known: {list(OPTIONS)}")
    backend_for(given.get("device", DEFAULTS["device"]))   # a device not usable here fails before any work
    out_dir = out_dir or default_out_dir(given.get("model", DEFAULTS["model"]), given.get("data", DEFAULTS["data"]))
    state = run_state(out_dir)
    if state["locked"] is not None:
        raise in_use(out_dir, state["locked"])
    saved, resume_from = None, None
    if state["exists"] and resume:
        saved = state["config"]
        if not saved or saved.get("format") != FORMAT:
            raise ConfigConflict(f"{out_dir} holds a run without a {CONFIG} of this version; start over with --force")
        resume_from = state["checkpoint"]
    elif state["exists"] and not force:
        raise RunExists(f"{out_dir} already holds {describe_run(state)}; add --resume to continue it, --force to "
                        f"replace it, or choose another --out")
    elif resume:
        log(f"no run in {out_dir} to resume: starting a new one")
    options, changes, notes = merge_options(given, saved, force, state["done"])
    for note in notes:
        warn(note)
    if not resume_from:
        changes = set()
    elif state["done"] >= options["epochs"] and state["finished"]:
        log(f"{out_dir} holds {describe_run(state)}: nothing to train (a larger --epochs trains more)")
        return state["metrics"]

    data = load_data(options["data"], limit=options["limit"], image_size=options["image_size"])
    shape = data.input_shape
    if saved is not None and (list(shape) != saved["input_shape"] or list(data.classes) != saved["classes"]):
        raise ConfigConflict(f"{options['data']} now gives {'x'.join(map(str, shape))} examples of "
                             f"{len(data.classes)} classes, but the run was trained on "
                             f"{'x'.join(map(str, saved['input_shape']))} and {len(saved['classes'])}")
    options = resolve_defaults(options, shape)
    transform = augment_transform(options["augment"], shape)
    mean, std = (saved["normalize"]["mean"], saved["normalize"]["std"]) if saved else channel_stats(data.train.x)
    normalize_(data.train.x, mean, std)
    normalize_(data.test.x, mean, std)
    model = build_model(options["model"], shape, len(data.classes), seed=options["seed"], data_name=data.spec.kind)
    if world_size() > 1:                            # batch statistics over the global batch, as one process
        from ..nn import convert_sync_batchnorm
        convert_sync_batchnorm(model)
    config = {"format": FORMAT, **{name: options[name] for name in OPTIONS}, "input_shape": list(shape),
              "classes": list(data.classes), "normalize": {"mean": mean, "std": std}, "resize": data.resize,
              "train_size": len(data.train), "test_size": len(data.test), "test_source": data.test_source}

    optimizer = make_optimizer(config, model.parameters())
    loader = DataLoader(data.train, batch_size=config["batch_size"], shuffle=True, seed=config["seed"],
                        transform=transform)
    scheduler = make_scheduler(config["scheduler"], optimizer, config["epochs"], len(loader), config["lr"])
    callbacks = [Replan(config, len(loader), changes),
                 Checkpoint(out_dir, monitor="test_accuracy", mode="max", every_n_steps=checkpoint_every)]
    test = (data.test.x, data.test.y)
    barrier()                                       # every rank has read the run folder before rank 0 changes it
    if main:
        os.makedirs(out_dir, exist_ok=True)
    with RunLock(out_dir) if main else nullcontext():
        if main and force and not resume:
            clear_run(out_dir)
        elif main and os.path.exists(os.path.join(out_dir, METRICS)):
            os.remove(os.path.join(out_dir, METRICS))                  # a finished run goes on: not finished now
        if main:
            write_json(config, os.path.join(out_dir, CONFIG))
        log(f"{config['model']} on {data.spec.kind}: {len(data.train)} train / {len(data.test)} test examples of "
            f"{'x'.join(map(str, shape))}, {len(data.classes)} classes; {model.num_parameters():,} parameters; "
            f"{config['optimizer']} lr {config['lr']:g}, {config['scheduler']} schedule, augment "
            f"{config['augment']}; seed {config['seed']}" + ("" if config["device"] == "cpu" else f"; on {config['device']}"))
        started = time.perf_counter()
        epochs = config["epochs"] if stop_after is None else min(config["epochs"], stop_after)
        history = fit(model, loader, test, optimizer=optimizer, scheduler=scheduler, epochs=epochs,
                      callbacks=callbacks, val_name="test", val_batch_size=512, progress=progress, log=log,
                      resume_from=resume_from, allow_nonfinite=allow_nonfinite, config=config, device=config["device"])
        k = min(5, len(data.classes))
        sync, final_metrics = fit_sync(), ("accuracy", f"top{k}", "confusion_matrix")
        final = (evaluate(model, test, metrics=final_metrics, batch_size=512) if sync is None else
                 sync.evaluate(model, DataLoader(test, batch_size=512), cross_entropy, final_metrics))
        metrics = {
            "config": config,
            "history": history,
            "finished": len(history) >= config["epochs"],
            "final": {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
                      f"test_top{k}_accuracy": final[f"top{k}_accuracy"], "epochs": len(history),
                      "train_seconds": time.perf_counter() - started,
                      "confusion_matrix": final["confusion_matrix"]},
            "environment": {"strided": __version__, "numpy": np.__version__, "python": platform.python_version()},
        }
        if main:
            write_json(metrics, os.path.join(out_dir, METRICS))
    log(f"test accuracy {final['accuracy']:.4f} (top-{k} {final[f'top{k}_accuracy']:.4f}) after {len(history)} of "
        f"{config['epochs']} epochs; wrote {os.path.join(out_dir, CHECKPOINT)} and {os.path.join(out_dir, METRICS)}")
    return metrics


def run_digits_job(epochs: int = 20, batch_size: int = 32, lr: float = 0.02, momentum: float = 0.9,
                   weight_decay: float = 5e-4, shift: int = 2, seed: int = 0, out_dir: str = "runs/lenet5-digits",
                   resume: bool = False, progress: bool | None = None, log=print, stop_after: int | None = None,
                   checkpoint_every: int | None = None) -> dict:
    """The main job: LeNet-5 on the digits (upsampled to 32x32); returns the metrics written to ``metrics.json``.

    ``shift``: training images are translated by up to this many pixels (of 32) each batch.
    ``stop_after``: end after this many epochs of the ``epochs``-long schedule (as an interrupted
    run would; ``resume=True`` then continues from the checkpoint). ``checkpoint_every``: also
    checkpoint every this many steps. Unlike ``strided train``, a run already in ``out_dir`` is
    replaced unless ``resume``. Raises ``NonFiniteLoss`` if the loss diverges and
    ``TrainingInterrupted`` on Ctrl-C (after saving the checkpoint).
    """
    shift = as_int(shift, "shift", "train", minimum=0)
    keep_freed_memory()   # once per run, explicitly (import never does it): see strided/memory.py
    options = {"model": "lenet5", "data": "digits", "epochs": epochs, "batch_size": batch_size, "optimizer": "sgd",
               "lr": lr, "momentum": momentum, "weight_decay": weight_decay, "scheduler": "cosine",
               "augment": f"shift:{shift}", "seed": seed}
    return train_run(options, out_dir=out_dir, resume=resume, force=not resume, progress=progress, log=log,
                     stop_after=stop_after, checkpoint_every=checkpoint_every)
