"""The optimizer base: parameter groups, ``step``, ``zero_grad`` and ``state_dict`` as PyTorch lays them out.

A subclass declares its defaults and writes one method, ``_update(param, grad, state, group)``:
the rule for one parameter, reading its hyper-parameters from ``group`` (so every group can
carry its own ``lr``, ``betas``, ...) and keeping its running buffers in ``state``.

>>> # opt = SGD([{"params": model.features.parameters()}, {"params": head, "lr": 0.1}], lr=0.01)
"""

from __future__ import annotations

import copy

import numpy as np

from ..checks import as_number
from ..nn import shape_only
from ..tensor import Tensor


def check_number(value, name: str, owner: str, low: float = 0.0, high: float | None = None,
                 high_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``[low, high)`` with ``high_open``); named errors."""
    number = as_number(value, name, owner)
    above = high is not None and (number >= high if high_open else number > high)
    if not number >= low or above:            # `not >=` also refuses nan
        upper = "" if high is None else f" and {'<' if high_open else '<='} {high}"
        raise ValueError(f"{owner}: {name} must be >= {low}{upper}, got {name}={value!r}")
    return number


def check_flag(value, name: str, owner: str) -> bool:
    """``value`` as a ``bool``; ints, strings and ``None`` are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_betas(betas, owner: str) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got betas={betas!r}")
    pair = tuple(as_number(b, "betas", owner) for b in betas)
    if not all(0 <= b < 1 for b in pair):
        raise ValueError(f"{owner}: betas must be two numbers in [0, 1), got betas={tuple(betas)!r}")
    return pair


class Optimizer:
    """Holds parameter groups (dicts with ``'params'`` and hyper-parameters) and per-parameter state.

    ``params`` is an iterable of parameters or of dicts ``{'params': [...], 'lr': ...}`` whose
    missing hyper-parameters take the defaults. Subclasses implement ``_update``; ``step``
    calls it for every parameter that has a gradient (``maximize=True`` negates the gradient).
    ``state`` is keyed by ``id(param)``.
    """

    def __init__(self, params, defaults: dict):
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of parameters or of dicts, "
                            f"got a single {type(params).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for group in (params if isinstance(params[0], dict) else [{"params": params}]):
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (``{'params': [...], **options}``); options it leaves out take the defaults.

        Useful to start training layers that were frozen. A parameter may belong to one group only.
        """
        owner = f"{type(self).__name__}.add_param_group"
        if not isinstance(param_group, dict):
            raise TypeError(f"{owner}: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, set):
            raise TypeError(f"{owner}: params must be an ordered collection (a list), not a set")
        params = [params] if isinstance(params, Tensor) else list(params if params is not None else [])
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"{owner}: can only optimize Tensors/Parameters, got {type(param).__name__}")
            if shape_only.is_meta(param):
                raise shape_only.meta_error(owner, "be trained", f"a parameter of shape {param.shape} is")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(f"{owner}: some parameters appear more than once (in this or another group)")
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)
        for param in params:
            self._init_state(param, group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's hyper-parameters (subclasses refine)."""

    def _init_state(self, param, group: dict) -> None:
        """State made when a parameter is added (PyTorch's Adagrad); most optimizers make it lazily."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the accumulated gradients: set them to ``None`` (PyTorch's default) or to zeros."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none or param.grad is None:
                    param.grad = None
                else:
                    param.grad = np.zeros_like(param.grad)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (as in PyTorch, for methods that
        need it; none here does).
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if shape_only.USED and shape_only.is_meta(param):
                    raise shape_only.meta_error(f"{type(self).__name__}.step", "be updated",
                                                f"a parameter of shape {param.shape} is")
                grad = np.asarray(param.grad)
                if group.get("maximize", False):
                    grad = -grad
                self._update(param, grad, self.state.setdefault(id(param), {}), group)
        return loss

    def _update(self, param, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """``{'state': {index: {name: array}}, 'param_groups': [{..., 'params': [index, ...]}]}``."""
        index, groups, state = 0, [], {}
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                if id(param) in self.state:
                    state[index] = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                                    for k, v in self.state[id(param)].items()}
                indices.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state; groups and their sizes must match this optimizer's."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected {len(self.param_groups)} groups "
                             f"of sizes {[len(g['params']) for g in self.param_groups]}, got "
                             f"{[len(g['params']) for g in groups]}")
        saved = {int(k): v for k, v in state_dict["state"].items()}
        new_state = {}
        for saved_group, group in zip(groups, self.param_groups):
            for index, param in zip(saved_group["params"], group["params"]):
                if int(index) in saved:
                    entry = copy.deepcopy(dict(saved[int(index)]))
                    for key, value in entry.items():
                        if isinstance(value, np.ndarray) and value.shape == param.shape:
                            entry[key] = value.astype(param.data.dtype)
                        elif isinstance(value, np.ndarray) and value.ndim == 0:
                            entry[key] = value.item()          # a step count or product saved as an array
                    new_state[id(param)] = entry
        for saved_group, group in zip(groups, self.param_groups):
            for key, value in saved_group.items():
                if key != "params":
                    group[key] = _plain(value)
        self.state = new_state


def _plain(value):
    """A saved hyper-parameter as the plain Python value it was (arrays of one number, tuples)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
