"""A training run described by a configuration: what ``strided train`` runs and ``strided eval``/``predict`` rebuild.

A run is a folder holding ``config.json`` (the options, and what the data set gave: input
shape, class names, the normalisation), ``checkpoint.npz`` (after every epoch; exact resume),
``best.npz`` and, once training ends, ``metrics.json``. The configuration alone rebuilds the
model (``build_model``) and the data (``strided.data.sources.load_data`` with the recorded
``normalize``), so evaluation and prediction need nothing else.

Options (``OPTIONS``) and their defaults: ``model`` ``'lenet5'`` (a zoo name or a spec string
such as ``'conv3-16 maxpool FC-10'``), ``data`` ``'digits'``, ``epochs`` 20, ``batch_size`` 32,
``optimizer`` ``'sgd'`` (``lr`` 0.02, ``momentum`` 0.9, ``weight_decay`` 5e-4; ``'adam'``: lr
1e-3, weight decay 0; ``'adamw'``: lr 1e-3, weight decay 0.01), ``scheduler`` ``'cosine'``,
``augment`` (``'shift:2'`` for grey images, ``'crop:4,flip'`` for colour ones, ``'none'`` for
1-D signals), ``seed`` 0, ``limit`` and ``image_size`` ``None``, ``device`` ``'cpu'`` (where this
process trains: ``'cuda'`` needs CuPy and a GPU; not a property of the run, so a resumed run
takes the device given now, and a run folder written before ``device`` existed reads as ``'cpu'``).

Schedules are planned over the run's epochs: ``cosine`` anneals to 0 at the last epoch,
``step`` multiplies the rate by 0.1 at 1/2 and 3/4 of the epochs, ``onecycle`` is
``OneCycleLR`` over every batch (peak ``lr``, momentum not cycled), ``none`` keeps ``lr``.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..data import transforms as T
from ..models import create_model, list_models
from ..nn import Softmax, from_spec, meta
from ..optim import SGD, Adam, AdamW
from ..optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, OneCycleLR
from .callbacks import Callback

FORMAT = "strided-run/1"
OPTIONS = ("model", "data", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler",
           "augment", "seed", "limit", "image_size", "device")
DEFAULTS = {"model": "lenet5", "data": "digits", "epochs": 20, "batch_size": 32, "optimizer": "sgd",
            "scheduler": "cosine", "seed": 0, "limit": None, "image_size": None, "device": "cpu"}
OPTIMIZERS = {"sgd": (SGD, 0.02, 5e-4), "adam": (Adam, 1e-3, 0.0), "adamw": (AdamW, 1e-3, 1e-2)}
SCHEDULERS = ("cosine", "step", "onecycle", "none")
AUGMENTS = {"shift": (int, 2), "crop": (int, 4), "flip": (float, 0.5), "rotate": (float, 10.0)}
# what a resumed run cannot change, even with --force (the checkpoint would not fit)
FIXED = ("model", "data", "limit", "image_size", "optimizer", "scheduler", "seed")


class ModelInputError(ValueError):
    """A model that cannot take the data set's input, or does not give one score per class."""


def flag(name: str) -> str:
    """How the command line spells an option: ``'--batch-size'``; the model is the positional ``MODEL``."""
    return "MODEL" if name == "model" else "--" + name.replace("_", "-")


# ----------------------------------------------------------------------------------- augmentation
def parse_augment(text: str | None) -> list[tuple[str, float]]:
    """``'shift:2,flip'`` -> ``[('shift', 2), ('flip', 0.5)]``; ``'none'`` or ``''`` -> ``[]``."""
    items = []
    for word in (text or "").replace(" ", "").split(","):
        if word in ("", "none"):
            continue
        name, colon, arg = word.partition(":")
        if name not in AUGMENTS:
            raise ValueError(f"--augment: unknown augmentation {word!r}; expected shift:N, crop:N, flip, flip:P, "
                             f"rotate:DEGREES or none, comma-separated")
        kind, default = AUGMENTS[name]
        try:
            value = kind(arg) if colon else default
        except ValueError:
            raise ValueError(f"--augment: {word!r}: expected {'an int' if kind is int else 'a number'} after "
                             f"'{name}:'") from None
        if value < 0 or (name == "flip" and value > 1):
            raise ValueError(f"--augment: {word!r}: out of range")
        items.append((name, value))
    return items


def augment_text(items) -> str:
    """The canonical spelling of ``parse_augment``'s result (``'none'`` when empty)."""
    words = [name if (name == "flip" and value == 0.5) else f"{name}:{value:g}" for name, value in items]
    return ",".join(words) or "none"


def augment_transform(text: str, input_shape):
    """The batch transform ``text`` names for examples of ``input_shape`` (``None`` for no augmentation)."""
    items = parse_augment(text)
    if not items:
        return None
    if len(input_shape) != 3:
        raise ValueError(f"--augment {text}: augmentations move pixels of images (C, H, W); this data set's "
                         f"examples are {'x'.join(map(str, input_shape))} (use --augment none)")
    size = tuple(input_shape[1:])
    make = {"shift": T.RandomShift, "crop": lambda v: T.RandomCrop(size, padding=v),
            "flip": T.RandomHorizontalFlip, "rotate": T.RandomRotation}
    return T.Compose([make[name](value) for name, value in items])


def default_augment(input_shape) -> str:
    if len(input_shape) != 3:
        return "none"
    return "shift:2" if input_shape[0] == 1 else "crop:4,flip"


# ----------------------------------------------------------------------------------- models
def is_zoo(model: str) -> bool:
    return model in list_models()


def normalize_model(model: str) -> str:
    """A zoo name as it is; a spec string with single spaces between tokens."""
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"expected a model name (strided models lists them) or a spec string, got {model!r}")
    return model.strip() if is_zoo(model.strip()) else " ".join(model.replace(",", " ").split())


def factory_kwargs(name: str, input_shape, num_classes: int) -> dict:
    """What ``create_model(name, ...)`` is given: ``num_classes``, ``in_channels`` and, where the factory
    takes it, ``input_size`` (the side of square images, or a signal's length)."""
    from ..models.registry import MODELS
    accepted = inspect.signature(MODELS[name]).parameters
    kwargs = {"num_classes": int(num_classes)}
    if "in_channels" in accepted:
        kwargs["in_channels"] = int(input_shape[0])
    spatial = tuple(int(s) for s in input_shape[1:])
    if "input_size" in accepted and spatial:
        kwargs["input_size"] = spatial[0] if len(set(spatial)) == 1 else spatial
    return kwargs


def _spec_model(spec: str, input_shape, rng, built_meta: bool):
    try:
        if built_meta:
            with meta():
                return from_spec(spec, input_shape)
        return from_spec(spec, input_shape, rng=rng)
    except ValueError as error:
        reason = str(error).splitlines()[0]
        if " " not in spec and "cannot parse token 1" in reason:           # one word: a mistyped zoo name?
            try:
                create_model(spec)
            except ValueError as unknown:
                hint = ("; " + str(unknown).split("; ", 1)[1].split(" (", 1)[0]) if "did you mean" in str(unknown) else ""
                raise ValueError(f"unknown model {spec!r}: neither a registered model (strided models lists them) "
                                 f"nor a spec string such as 'conv3-16 maxpool FC-10'{hint}") from None
        raise ModelInputError(f"model {spec!r}: {reason.removeprefix('from_spec: ')}") from None


def build_model(model: str, input_shape, num_classes: int, seed=0, data_name: str = "the data set",
                built_meta: bool = False):
    """The network ``model`` names (zoo name or spec string), built for ``input_shape`` ``(C, *spatial)`` and
    ``num_classes``; weights from ``default_rng(seed)``. ``built_meta``: shape-only (load weights to run it).

    Refuses, naming the model and the input, a model that cannot take the input or does not give
    ``(N, num_classes)`` scores, and a spec ending in ``softmax`` (training takes the logits).
    """
    shape = tuple(int(s) for s in input_shape)
    where = f"the input of {data_name}, {'x'.join(map(str, shape))}"
    rng = np.random.default_rng(seed)
    if is_zoo(model):
        kwargs = factory_kwargs(model, shape, num_classes)
        try:
            net = create_model(model, meta=True, **kwargs)                 # shapes only: a cheap check
            out = net.output_shape((1,) + shape)
        except ValueError as error:
            raise ModelInputError(f"model {model!r} cannot take {where}: {str(error).splitlines()[0]}") from None
        if not built_meta:
            net = create_model(model, seed=rng, **kwargs)
    else:
        net = _spec_model(model, shape, rng, built_meta)
        if list(net) and isinstance(list(net)[-1], Softmax):
            raise ModelInputError(f"model {model!r}: leave out the final 'softmax': training takes the logits "
                                  f"(cross-entropy), and eval/predict report probabilities")
        out = net.output_shape((1,) + shape)
    if tuple(out) != (1, num_classes):
        raise ModelInputError(f"model {model!r} gives outputs of {'x'.join(map(str, out[1:]))} per example for "
                              f"{where}; {data_name} has {num_classes} classes, so it needs one score per class"
                              + (f" (end the spec with FC-{num_classes})" if not is_zoo(model) else ""))
    return net


# ----------------------------------------------------------------------------------- optimisation
def resolve_defaults(config: dict, input_shape) -> dict:
    """Fill what depends on other choices: lr, momentum, weight decay (optimizer), augment (data)."""
    config = dict(config)
    name = config["optimizer"]
    if name not in OPTIMIZERS:
        raise ValueError(f"--optimizer: expected one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if config["scheduler"] not in SCHEDULERS:
        raise ValueError(f"--scheduler: expected one of {', '.join(SCHEDULERS)}, got {config['scheduler']!r}")
    _, lr, decay = OPTIMIZERS[name]
    config["lr"] = lr if config.get("lr") is None else float(config["lr"])
    config["weight_decay"] = decay if config.get("weight_decay") is None else float(config["weight_decay"])
    if name == "sgd":
        config["momentum"] = 0.9 if config.get("momentum") is None else float(config["momentum"])
    elif config.get("momentum") is not None:
        raise ValueError(f"--momentum applies to --optimizer sgd, not {name}")
    else:
        config["momentum"] = None
    if config.get("augment") is None:
        config["augment"] = default_augment(input_shape)
    if not config["lr"] > 0:
        raise ValueError(f"train: lr must be positive, got {config['lr']!r}")
    if not config["weight_decay"] >= 0:
        raise ValueError(f"train: weight_decay must be >= 0, got {config['weight_decay']!r}")
    return config


def make_optimizer(config: dict, parameters):
    cls = OPTIMIZERS[config["optimizer"]][0]
    if config["optimizer"] == "sgd":
        return cls(parameters, lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"])
    return cls(parameters, lr=config["lr"], weight_decay=config["weight_decay"])


def make_scheduler(kind: str, optimizer, epochs: int, steps_per_epoch: int, lr: float):
    """The schedule ``kind`` planned over ``epochs`` epochs of ``steps_per_epoch`` batches (``None`` for 'none')."""
    if kind == "cosine":
        return CosineAnnealingLR(optimizer, T_max=epochs)
    if kind == "step":
        return MultiStepLR(optimizer, milestones=sorted({m for m in (epochs // 2, 3 * epochs // 4) if m >= 1}))
    if kind == "onecycle":
        return OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch, cycle_momentum=False)
    return None


class Replan(Callback):
    """Apply a resumed run's changed plan once the checkpoint is restored (``fit`` calls ``on_train_begin``
    after resuming): more epochs, or, with ``--force``, a new ``lr``, ``momentum``, ``weight_decay``.

    The rule: the schedule is rebuilt for the new plan and continues from the run's position in it,
    as if it had been planned that way from the start (cosine over the new total epochs, so the
    rate rises from 0 to where the longer cosine would be; ``step`` with the new milestones;
    ``onecycle`` over the new number of steps). Epochs already trained are not redone.
    """

    def __init__(self, config: dict, steps_per_epoch: int, changes=()):
        self.config, self.steps_per_epoch, self.changes = config, steps_per_epoch, set(changes)

    def on_train_begin(self, logs=None) -> None:
        run, config = self.run, self.config
        if not self.changes or not (run.step or run.epoch):
            return
        groups = run.optimizer.param_groups
        for group in groups:
            if "lr" in self.changes:
                group["initial_lr"] = group["lr"] = config["lr"]
            if "momentum" in self.changes and "momentum" in group:
                group["momentum"] = config["momentum"]
            if "weight_decay" in self.changes:
                group["weight_decay"] = config["weight_decay"]
        old = run.scheduler
        if old is not None and self.changes & {"epochs", "lr", "batch_size"}:
            new = make_scheduler(config["scheduler"], run.optimizer, config["epochs"], self.steps_per_epoch,
                                 config["lr"])
            new.last_epoch, new._step_count = old.last_epoch, old._step_count
            closed = getattr(new, "_get_closed_form_lr", None)
            lrs = closed() if closed is not None else new.get_lr()
            for group, lr in zip(groups, lrs):
                group["lr"] = lr
            new._last_lr = list(lrs)
            run.scheduler = new
        run.log(f"replanned from epoch {run.epoch + 1} on: {config['epochs']} epochs, {config['scheduler']} "
                f"schedule, lr now {groups[0]['lr']:.4g}")


__all__ = ["FORMAT", "OPTIONS", "DEFAULTS", "FIXED", "ModelInputError", "build_model", "factory_kwargs",
           "parse_augment", "augment_text", "augment_transform", "make_optimizer", "make_scheduler", "Replan",
           "resolve_defaults", "normalize_model", "flag"]
