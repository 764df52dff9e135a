"""Run folders: what one holds, its protection and lock, options merged on resume, loading it back.

``strided.train.digits_job.train_run`` trains into a run folder; ``load_run`` rebuilds its model.

Files in a run folder: ``config.json`` (strict JSON: the options, the model's input shape, the
class names, the data spec, the normalisation; written before training starts),
``checkpoint.npz`` (after every epoch: exact resume), ``best.npz`` (best test accuracy),
``metrics.json`` (when training ends: configuration, history, final test accuracy, top-5,
confusion matrix) and, while a process trains into it, ``run.lock`` (its pid and host).

Protection: a folder holding a run is not overwritten unless ``force`` (its run files are then
deleted first); ``resume`` continues it: the run's options win over those given (the
differences are reported), except ``epochs`` (more epochs extend the run, ``Replan``'s rule);
with ``resume`` and ``force`` the given ``lr``, ``momentum``, ``weight_decay``, ``augment`` and
``batch_size`` take effect from the resume point, and the others (``FIXED``) cannot change. A
folder locked by a live process is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time


from ..checks import as_int
from ..data.sources import parse_data_spec
from ..io.serialization import load
from .checkpoint import BEST, CHECKPOINT, load_checkpoint
from .job import DEFAULTS, FIXED, FORMAT, OPTIONS, augment_text, build_model, flag, normalize_model, parse_augment
from .records import write_json

CONFIG, METRICS, LOCK = "config.json", "metrics.json", "run.lock"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, BEST)
RECORDED = tuple(name for name in OPTIONS if name != "device") + ("input_shape", "classes", "normalize", "resize")
# ``device`` is recorded too, but a run folder from before it existed (no ``device``) is still read: as 'cpu'



class RunExists(ValueError):
    """The output folder already holds a run, and neither ``resume`` nor ``force`` was asked for."""


class RunInUse(ValueError):
    """The output folder is locked by a live training process."""


class ConfigConflict(ValueError):
    """A resumed run cannot take an option given (its checkpoint would not fit), or fewer epochs than done."""


def default_out_dir(model: str | None = None, data: str | None = None) -> str:
    """``runs/<model>-<data set>`` (defaults ``lenet5``, ``digits``); a spec string is named
    ``spec-<8 hex digits of the sha1 of its normalised form>``."""
    from ..models import list_models
    model = normalize_model(model or DEFAULTS["model"])
    name = model if model in list_models() else "spec-" + hashlib.sha1(model.encode()).hexdigest()[:8]
    spec = parse_data_spec(data or DEFAULTS["data"])
    return os.path.join("runs", f"{name}-{spec.kind}{spec.args[0] if spec.kind == 'digits' and spec.args else ''}")


# ----------------------------------------------------------------------------------- status and lock
def _read_json(path: str):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def checkpoint_summary(path: str) -> dict:
    """A checkpoint's ``position``, ``config`` and ``history`` without reading its arrays."""
    try:
        state = load(path, arrays=False)                  # the structure only, checked; arrays not read
        summary = {key: state[key] for key in ("position", "config", "history")}
        int(summary["position"]["epoch"])
    except Exception as error:            # a damaged or foreign file fails in many ways: each is "not a checkpoint"
        raise ValueError(f"{path} is not a readable training checkpoint ({type(error).__name__}: {error})") from None
    return summary


def lock_owner(run_dir: str) -> dict | None:
    """The lock's ``{"pid", "host"}`` if a live process holds it (a stale lock is ignored)."""
    info = _read_json(os.path.join(run_dir, LOCK))
    if not isinstance(info, dict):
        return None
    if info.get("host") != socket.gethostname():
        return info                                          # another machine: assume it is alive
    try:
        os.kill(int(info.get("pid", -1)), 0)
    except (ProcessLookupError, ValueError, OverflowError):
        return None
    except PermissionError:
        pass
    return info


def run_state(run_dir: str) -> dict:
    """What ``run_dir`` holds: ``config`` (the checkpoint's, else ``config.json``'s, else ``None``),
    ``checkpoint`` (its path or ``None``), ``done`` (epochs completed), ``finished``, ``metrics``,
    ``locked`` (the live lock's info or ``None``) and ``exists`` (any run file)."""
    path = os.path.join(run_dir, CHECKPOINT)
    checkpoint = path if os.path.isfile(path) else None
    metrics = _read_json(os.path.join(run_dir, METRICS))
    config = _read_json(os.path.join(run_dir, CONFIG))
    done = 0
    if checkpoint:                        # the checkpoint's own configuration is what a resume continues
        summary = checkpoint_summary(checkpoint)
        done = int(summary["position"]["epoch"])
        config = dict(summary.get("config") or {}) or config
    finished = bool(metrics and metrics.get("finished", True) and config and done >= int(config.get("epochs", 0)))
    exists = any(os.path.exists(os.path.join(run_dir, f)) for f in RUN_FILES)
    return {"config": config, "checkpoint": checkpoint, "done": done, "finished": finished, "metrics": metrics,
            "locked": lock_owner(run_dir), "exists": exists}


def describe_run(state: dict) -> str:
    config = state["config"] or {}
    what = f"{config.get('model', '?')} on {config.get('data', '?')}"
    kind = "a finished run" if state["finished"] else "an unfinished run"
    accuracy = ((state["metrics"] or {}).get("final") or {}).get("test_accuracy")
    score = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, float) and state["finished"] else ""
    return f"{kind} ({what}, {state['done']} of {config.get('epochs', '?')} epochs{score})"


def in_use(run_dir: str, owner: dict) -> RunInUse:
    return RunInUse(f"{run_dir} is in use by process {owner.get('pid')} on {owner.get('host')} (delete "
                    f"{os.path.join(run_dir, LOCK)} if that process is gone)")


class RunLock:
    """``with RunLock(dir):`` writes ``run.lock`` (pid, host), refusing a folder a live process holds."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK)

    def __enter__(self):
        owner = lock_owner(os.path.dirname(self.path))
        if owner is not None:
            raise in_use(os.path.dirname(self.path), owner)
        write_json({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}, self.path)
        return self

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        return False


def clear_run(run_dir: str) -> None:
    """Delete the run files (and nothing else) in ``run_dir``."""
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            os.remove(path)


# ----------------------------------------------------------------------------------- options
def canonical(name: str, value):
    """An option's value as recorded (so that equal choices compare equal)."""
    if value is None:
        return None
    if name == "device":
        from ..backend import parse_device
        try:
            return str(parse_device(value))
        except (TypeError, ValueError) as error:
            raise ValueError(f"--device: {error}") from None
    if name == "model":
        return normalize_model(value)
    if name == "data":
        return parse_data_spec(value).text
    if name == "augment":
        return augment_text(parse_augment(value))
    if name in ("optimizer", "scheduler"):
        return str(value).lower()
    if name in ("lr", "momentum", "weight_decay"):
        return float(value)
    if name == "image_size":
        if isinstance(value, (tuple, list)):
            return [as_int(v, name, "train") for v in value]
        return as_int(value, name, "train")
    return as_int(value, name, "train", minimum=0 if name == "seed" else 1)


def merge_options(given: dict, saved: dict | None, force: bool, done: int):
    """``(options, changes, notes)``: a new run's options are the given ones over ``DEFAULTS``; a resumed
    run's are its own, except ``epochs``, ``device`` (always the one given, default ``'cpu'``: where this
    process computes) and, with ``force``, the options not in ``FIXED``."""
    if saved is None:
        return {**DEFAULTS, **given}, set(), []
    options = {name: saved.get(name) for name in OPTIONS}
    changes, notes = set(), []
    device = given.get("device") or DEFAULTS["device"]
    before = saved.get("device") or DEFAULTS["device"]
    if device != before:
        notes.append(f"{flag('device')} {device}: the run trained on {before} so far and continues on {device}")
    options["device"] = device
    for name, value in given.items():
        if name == "device":
            continue
        old = options[name]
        if value == old:
            continue
        if name == "epochs":
            if value < done:
                raise ConfigConflict(f"--epochs {value}: the run has already trained {done} epochs")
            span = f"epoch {value}" if value == done + 1 else f"epochs {done + 1} to {value}"
            plan = ("" if options["scheduler"] == "none" else
                    f"; the {options['scheduler']} schedule is replanned over {value} epochs")
            notes.append(f"--epochs {value}: the run goes on with {span} (it was planned for {old}{plan})")
        elif not force:
            notes.append(f"{flag(name)} {value} differs from the run's {old}; keeping {old} "
                         f"(add --force to use {value} from here on)")
            continue
        elif name in FIXED:
            raise ConfigConflict(f"{flag(name)} {value}: a resumed run keeps its {name} ({old}); to change it, "
                                 f"start a new run (--force without --resume, or another --out)")
        else:
            notes.append(f"{flag(name)} {value} replaces the run's {old} from epoch {done + 1} on (--force)")
        options[name] = value
        changes.add(name)
    return options, changes, notes


# ----------------------------------------------------------------------------------- loading back
def read_config(run_dir: str) -> dict:
    """A run folder's configuration (``config.json``, else its checkpoint's); refuses a folder without one."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir} is not a folder (expected a run folder written by strided train)")
    config = run_state(run_dir)["config"]
    if not config or config.get("format") != FORMAT:
        raise ValueError(f"{run_dir} holds no {CONFIG} written by this version of strided train")
    missing = [key for key in RECORDED if key not in config]
    if missing:
        raise ValueError(f"{os.path.join(run_dir, CONFIG)} lacks {', '.join(missing)}")
    return config


def load_run(run_dir: str, best: bool = False, device=None):
    """``(model, config)``: the run's model with its last (or ``best``) checkpoint's weights, in eval mode,
    on ``device`` (``None``: the CPU; the run's recorded device is where it trained, not a requirement)."""
    config = read_config(run_dir)
    path = os.path.join(run_dir, BEST if best else CHECKPOINT)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir} has no {os.path.basename(path)} yet (no epoch finished)")
    model = build_model(config["model"], config["input_shape"], len(config["classes"]), built_meta=True)
    model.load_state_dict(load_checkpoint(path)["model"])
    if device is not None:
        model.to(device)
    model.eval()
    return model, config


__all__ = ["load_run", "read_config", "run_state", "describe_run", "merge_options", "canonical", "RunLock",
           "clear_run", "RunExists", "RunInUse", "ConfigConflict", "default_out_dir", "CONFIG", "METRICS", "LOCK"]
