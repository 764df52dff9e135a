"""The optimizer base: parameter groups, ``zero_grad``, and ``state_dict`` as PyTorch lays it out."""

from __future__ import annotations

import copy

import numpy as np


class Optimizer:
    """Holds parameter groups (dicts with ``'params'`` and hyper-parameters) and per-parameter state.

    ``params`` is an iterable of parameters or of dicts ``{'params': [...], 'lr': ...}`` whose
    missing hyper-parameters take the defaults. Subclasses implement ``step()``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for group in groups:
            group = dict(group)
            group["params"] = list(group["params"])
            for key, value in self.defaults.items():
                group.setdefault(key, value)
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}   # keyed by id(param)

    def zero_grad(self) -> None:
        """Forget the accumulated gradients (set them to ``None``, as PyTorch does by default)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def _params_with_grad(self, group):
        for param in group["params"]:
            if param.grad is not None:
                yield param, param.grad

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
                    entry = copy.deepcopy(saved[int(index)])
                    for key, value in entry.items():
                        if isinstance(value, np.ndarray) and value.shape == param.shape:
                            entry[key] = value.astype(param.data.dtype)
                    new_state[id(param)] = entry
        for saved_group, group in zip(groups, self.param_groups):
            for key, value in saved_group.items():
                if key != "params":
                    group[key] = value.item() if isinstance(value, np.ndarray) else value
        self.state = new_state
