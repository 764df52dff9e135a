"""The optimizer base: parameter groups, ``step``, ``zero_grad`` and ``state_dict`` as PyTorch lays them out.

A subclass declares its defaults and writes one method, ``_update(param, grad, state, group)``:
the rule for one parameter, reading its hyper-parameters from ``group`` (so every group can
carry its own ``lr``, ``betas``, ...) and keeping its running buffers in ``state``.

>>> # opt = SGD([{"params": model.features.parameters()}, {"params": head, "lr": 0.1}], lr=0.01)
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..backend import CPU, backend_of, to_device
from ..checks import as_number, is_int
from ..nn import shape_only
from ..nn.state import as_state_array, convert_exactly
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
    ``state`` is keyed by ``id(param)``. Updates run on each parameter's device (CPU or GPU), its
    gradient and state buffers there with it.

    ``state_keys``: ``{name: (kind, required)}`` of a parameter's state, for ``load_state_dict``'s
    checks; kinds ``'param'`` (an array of the parameter's shape), ``'count'`` (a whole number
    >= 0), ``'number'`` (a finite float). ``None`` (a subclass that does not say): arrays must
    have the parameter's shape, anything else be a finite number.

    Args:
        params: the parameters to optimise: an iterable of ``Parameter``s (``model.parameters()``) or of
            dicts ``{'params': [...], 'lr': ...}``, groups with their own hyper-parameters.
        defaults: the hyper-parameters a group takes when it does not set them.

    Example:
        >>> import strided as st
        >>> optimizer = Optimizer(st.nn.Linear(2, 1, rng=0).parameters(), {"lr": 0.1})
        >>> len(optimizer.param_groups), optimizer.param_groups[0]["lr"], len(optimizer.param_groups[0]["params"])
        (1, 0.1, 2)
    """

    state_keys: dict | None = None

    def __init__(self, params, defaults: dict):
        if isinstance(params, (Tensor, np.ndarray)) or backend_of(params) is not CPU:
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
                    param.grad = backend_of(param.grad).xp.zeros_like(param.grad)

    def step(self, closure: object = None) -> object:
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
                grad = _on_device_of(param.grad, param.data)
                if group.get("maximize", False):
                    grad = -grad
                self._update(param, grad, self.state.setdefault(id(param), {}), group)
        return loss

    def _update(self, param, grad: np.ndarray, state: dict, group: dict) -> None:
        """Update ``param.data`` in place from ``grad`` (an array on the parameter's device); buffers kept
        in ``state`` are made with the namespace of ``param.data`` (``namespace(param.data).zeros_like``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """``{'state': {index: {name: array}}, 'param_groups': [{..., 'params': [index, ...]}]}``; the buffers
        are host NumPy copies whatever the parameters' device."""
        index, groups, state = 0, [], {}
        for group in self.param_groups:
            indices = []
            for param in group["params"]:
                if id(param) in self.state:
                    state[index] = {k: _host_copy(v) for k, v in self.state[id(param)].items()}
                indices.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state; groups and their sizes must match this optimizer's.

        Everything is checked before anything changes (a refused state leaves the optimizer as it
        was): the layout (``state``, ``param_groups`` with ``params`` indices), each group's
        hyper-parameters by the optimizer's own rules (a string ``lr`` is a ``TypeError``, a
        negative one a ``ValueError``, both naming the group), and every state entry against
        ``state_keys``: buffers must be real numbers of their parameter's shape, step counts
        whole numbers >= 0, required entries present. Buffers are checked on the host and placed on
        their parameter's device, so a state saved on one device loads onto another.
        """
        self.prepare_state_dict(state_dict)()

    def prepare_state_dict(self, state_dict: dict):
        """Check ``state_dict`` as ``load_state_dict`` does, changing nothing; returns the function that loads it."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            found = sorted(map(str, state_dict)) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(f"{owner}: expected a dict with 'state' and 'param_groups' (from state_dict()), got {found}")
        groups, saved = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in groups):
            raise ValueError(f"{owner}: param_groups must be a list of dicts, got {groups!r:.100}")
        sizes = [len(g["params"]) if isinstance(g.get("params"), (list, tuple)) else None for g in groups]
        if sizes != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(f"{owner}: expected {len(self.param_groups)} groups of sizes "
                             f"{[len(g['params']) for g in self.param_groups]}, got {sizes}")
        indices = [index for g in groups for index in g["params"]]
        if not all(is_int(i) and i >= 0 for i in indices) or len(set(map(int, indices))) != len(indices):
            raise ValueError(f"{owner}: param_groups' params must be distinct indices, got {indices!r:.200}")
        if not isinstance(saved, Mapping):
            raise ValueError(f"{owner}: state must be a dict of index -> state, got {type(saved).__name__}")
        params = {int(i): param for g, own in zip(groups, self.param_groups) for i, param in zip(g["params"], own["params"])}
        new_state = {}
        for key, entry in saved.items():
            index = int(key) if is_int(key) or isinstance(key, str) and key.isdigit() else None
            if index not in params:
                raise ValueError(f"{owner}: state has an entry {key!r} for no parameter of param_groups")
            new_state[id(params[index])] = self._checked_entry(entry, params[index], f"{owner}: state[{index}]")
        new_groups = []
        for i, (group, own) in enumerate(zip(groups, self.param_groups)):
            merged = {key: value for key, value in own.items() if key != "params"}
            for key, value in group.items():
                if key == "params":
                    continue
                value = _plain(value)
                if not conforms(value, merged.get(key)):
                    raise TypeError(f"{owner}: param_groups[{i}]: {key} must be like {merged[key]!r}, got {value!r:.80}"
                                    if key in merged else f"{owner}: param_groups[{i}]: {key} = {value!r:.80} is not "
                                    f"a number, string, flag or list or dict of those")
                merged[key] = value
            checked = dict(merged, params=own["params"])
            try:
                self._check_group(checked)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{owner}: param_groups[{i}]: {error}") from None
            checked.pop("params")
            new_groups.append(checked)

        def commit():
            for own, values in zip(self.param_groups, new_groups):
                own.update(values)
            self.state = new_state
        return commit

    def _checked_entry(self, entry, param, where: str) -> dict:
        """One parameter's saved state, checked against ``state_keys`` and converted (copies)."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a dict of buffers, got {type(entry).__name__}")
        spec = self.state_keys
        unknown = [k for k in entry if spec is not None and k not in spec or not isinstance(k, str)]
        if unknown:
            raise ValueError(f"{where}: unknown entries {unknown} ({type(self).__name__} keeps "
                             f"{sorted(spec or {})})")
        missing = [k for k, (_, required) in (spec or {}).items() if required and k not in entry]
        if entry and missing:
            raise ValueError(f"{where}: lacks {', '.join(missing)}")
        checked = {}
        for key, value in entry.items():
            kind = spec[key][0] if spec is not None else ("param" if _ndim(value) else "number")
            if kind == "param" and value is None and spec is not None and not spec[key][1]:
                continue                                       # PyTorch's momentum_buffer=None: not made yet
            if kind == "param":
                array, problem = as_state_array(value)
                if problem is None and array.shape != param.shape:
                    problem = f"has shape {array.shape}, the parameter {param.shape}"
                if problem is None:
                    array, problem = convert_exactly(array, param.data.dtype)
                if problem:
                    raise ValueError(f"{where}: {key} {problem}")
                checked[key] = to_device(array, backend_of(param.data).device_of(param.data))
                continue
            is_array = isinstance(value, np.ndarray) or backend_of(value) is not CPU
            number = value.item() if is_array and value.ndim == 0 else value
            number = number.item() if isinstance(number, np.generic) else number
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise TypeError(f"{where}: {key} must be a number, got {value!r:.60}")
            if kind == "count":
                if not math.isfinite(number) or number < 0 or number != int(number):
                    raise ValueError(f"{where}: {key} must be a whole number >= 0, got {value!r:.60}")
                number = int(number)
            elif not math.isfinite(number):
                raise ValueError(f"{where}: {key} must be finite, got {value!r:.60}")
            checked[key] = number
        return checked


def is_plain(value) -> bool:
    """``None``, a flag, a number, a string, or lists, tuples and str/int-keyed dicts of those."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, (str, int)) and not isinstance(k, bool) and is_plain(v) for k, v in value.items())
    return False


def conforms(value, current) -> bool:
    """A saved (plain) value may replace ``current``, the rule of optimizer and schedule states: flags for
    flags, numbers for numbers, strings for strings, lists/tuples of the same length item by item, dicts
    with the same keys key by key (other keys: any plain values); ``None`` either way; anything plain
    where ``current`` is ``None`` or absent."""
    if not is_plain(value):
        return False
    if value is None or current is None:
        return True
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(current, str):
        return isinstance(value, str)
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple)) and len(value) == len(current) and all(
            conforms(v, c) for v, c in zip(value, current))
    if isinstance(current, Mapping):
        return isinstance(value, Mapping) and (set(value) != set(current) or all(
            conforms(value[k], current[k]) for k in value))
    return True


def _ndim(value) -> int:
    """The number of dimensions of an array of any device, or of a list or number."""
    return value.ndim if hasattr(value, "ndim") else np.ndim(value)


def _on_device_of(grad, data):
    """``grad`` as an array on the device of ``data`` (a list or host array is moved to a device parameter)."""
    target = backend_of(data)
    if backend_of(grad) is target:
        return target.xp.asarray(grad) if target is CPU else grad
    return to_device(grad, target.device_of(data))


def _host_copy(value):
    """A state entry for ``state_dict()``: arrays as host NumPy copies (from any device), numbers as they are."""
    if isinstance(value, (int, float, np.generic)) or value is None:
        return value
    source = backend_of(value)
    if source is CPU:
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value
    return source.to_host(value)


def _plain(value):
    """A saved hyper-parameter as the plain Python value it was (arrays of one number, tuples)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
