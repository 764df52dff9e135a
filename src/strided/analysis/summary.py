"""``summary(model, input_shape)``: every layer's shape, parameters, MACs, memory and receptive field.

Computed from the layers' static rules only (``Module.walk``): no forward pass, no arrays, so
``summary(vgg16(), (1, 3, 224, 224))`` is instant, and a model built under ``nn.meta()`` (no
weights at all) gives the same table. A module without static rules (a hand-written
``forward``, see ``nn.has_static_rules``) is traced instead (``nn.trace``): one forward pass on
zeros with the batch axis set to 1, its rows are the layers that pass calls, with their real
shapes, no receptive field, and a footer line names the traced module(s).

Conventions, stated once:

* **MACs**: multiply-accumulates per forward pass of the given input (one multiply plus one
  add); for a batch of one they are the "per example" figures that torchvision publishes.
  Convolutions count ``prod(out_spatial) * C_out * (C_in / groups) * prod(K)``, dense layers
  ``in * out``; biases, activations, pooling and normalisation count 0.
* **Memory**: the values of each layer's output (the whole batch), and those values in bytes
  at 4 bytes each (float32). Totals add the layers' outputs.
* **Receptive field**: size, jump (effective stride) and start (input index of the first
  window's centre, the first pixel's centre being 0) per spatial axis, after Araujo et al.;
  not given (``None``) from a traced module on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..geometry import ReceptiveField
from ..nn.registry import has_static_rules

BYTES_PER_VALUE = 4


@dataclass
class LayerRow:
    """One application of one layer.

    Args:
        name: the layer's dotted name in the model (``features.0``).
        type: the layer's class name (``Conv2d``).
        input_shape: the shape it receives, batch axis first.
        output_shape: the shape it returns.
        params: its parameters (counted on its first application only).
        trainable_params: those of them that take gradients.
        macs: its multiply-accumulates for this input (see the module notes).
        memory_values: the number of values of its output (the whole batch).
        receptive_field: the receptive field of its output (default ``None``: not computed, e.g. traced).
        biases: how many of ``params`` are biases (default 0).

    Example:
        >>> from strided import nn
        >>> row = summary(nn.Conv2d(1, 4, 3, rng=0), (1, 1, 8, 8)).rows[0]
        >>> row.type, row.output_shape, row.params, row.macs
        ('Conv2d', (1, 4, 6, 6), 40, 1296)
    """

    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int
    memory_values: int
    receptive_field: ReceptiveField | None = None
    biases: int = 0

    @property
    def weights(self) -> int:
        """Parameters other than biases (the "params" column of cs231n's VGG table)."""
        return self.params - self.biases

    @property
    def memory_bytes(self) -> int:
        return self.memory_values * BYTES_PER_VALUE

    def to_dict(self) -> dict:
        rf = self.receptive_field
        return {
            "name": self.name, "type": self.type, "output_shape": list(self.output_shape),
            "params": self.params, "trainable_params": self.trainable_params, "weights": self.weights,
            "macs": self.macs,
            "memory_values": self.memory_values, "memory_bytes": self.memory_bytes,
            "receptive_field": None if rf is None else {
                "size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start)},
        }


@dataclass
class Summary:
    """The rows of ``summary`` and their totals; render with ``str()``, ``to_markdown()``, ``to_html()``,
    ``to_json()``.

    Args:
        model_name: the model's name, shown in the header.
        input_shape: the input the table was computed for, batch axis first.
        rows: one ``LayerRow`` per application of a layer, in call order.
        params: the model's parameters (each counted once).
        trainable_params: those of them that take gradients.
        output_shape: the model's output shape (default ``()``).
        traced: names of the modules traced with one forward pass (default ``()``: none).

    Example:
        >>> from strided import nn
        >>> s = summary(nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU()), (1, 1, 8, 8))
        >>> len(s.rows), s.params, s.trainable_params
        (2, 40, 40)
    """

    model_name: str
    input_shape: tuple
    rows: list[LayerRow]
    params: int
    trainable_params: int
    output_shape: tuple = ()
    traced: tuple = ()
    """Names of the modules without static rules that were traced with one forward pass (outermost only)."""

    @property
    def note(self) -> str | None:
        """The footer line of a traced summary (``None`` when it was computed statically)."""
        if not self.traced:
            return None
        verb = "has" if len(self.traced) == 1 else "have"
        return (f"traced: one forward pass (zeros, batch 1) through {', '.join(self.traced)}, which {verb} no "
                f"static rules; receptive fields not given from there on")

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def memory_bytes(self) -> int:
        return sum(row.memory_bytes for row in self.rows)

    def to_dict(self) -> dict:
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "layers": [row.to_dict() for row in self.rows],
            "total": {"params": self.params, "trainable_params": self.trainable_params, "macs": self.macs,
                      "memory_bytes": self.memory_bytes},
            "traced": list(self.traced),
            "note": self.note,
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        from .render import render_text
        return render_text(self)

    def to_markdown(self) -> str:
        from .render import render_markdown
        return render_markdown(self)

    def to_html(self) -> str:
        """An HTML table (one row per layer application, escaped) and the totals."""
        from .render import render_html
        return render_html(self)

    def __str__(self) -> str:
        return self.to_text()


class _Visit:
    """``walk``'s ``visit``: one row per layer application; ``traced`` hears of each traced module."""

    def __init__(self, names: dict):
        self.names, self.rows, self.traced_names = names, [], []

    def __call__(self, module, in_shape, out_shape, rf):
        # a visited module is a layer, or a module whose children it accounts for itself
        params = list(module.parameters())
        biases = sum(p.size for name, p in module.named_parameters() if name.split(".")[-1] == "bias")
        macs = module.cost(in_shape).macs if has_static_rules(module) else 0    # a traced leaf: unknown, 0
        self.rows.append(LayerRow(self.names.get(id(module), type(module).__name__), type(module).__name__,
                                  in_shape, out_shape, sum(p.size for p in params),
                                  sum(p.size for p in params if p.requires_grad), macs,
                                  int(np.prod(out_shape)), rf, biases))

    def traced(self, module, trace) -> None:
        name = self.names.get(id(module), type(module).__name__)
        self.traced_names.append(name if name == type(module).__name__ else f"{name} ({type(module).__name__})")


def summary(model, input_shape) -> Summary:
    """Describe ``model`` for an input of ``input_shape`` (batch axis included) without running it
    (a module without static rules excepted: it is traced, see above).

    Args:
        model: a ``Module`` (a model built shape-only with ``meta=True`` works and allocates nothing).
        input_shape: the input's shape with the batch axis, e.g. ``(1, 3, 224, 224)``.

    >>> from strided.models import create_model
    >>> s = summary(create_model("lenet5"), (1, 1, 32, 32))
    >>> s.params, s.macs
    (61706, 416520)
    """
    input_shape = tuple(int(v) for v in input_shape)
    names = {}
    for name, module in model.named_modules():
        names.setdefault(id(module), name or type(module).__name__)
    visit = _Visit(names)
    spatial = len(input_shape) - 2
    rf0 = ReceptiveField.identity(spatial) if spatial >= 1 else None
    out_shape, _ = model.walk(input_shape, rf0, visit)
    params = model.num_parameters()
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    return Summary(type(model).__name__, input_shape, visit.rows, params, trainable, tuple(out_shape),
                   tuple(visit.traced_names))
