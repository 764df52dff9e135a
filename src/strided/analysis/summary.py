"""``summary(model, input_shape)``: every layer's shape, parameters, MACs, memory and receptive field.

Computed from the layers' static rules only (``Module.walk``): no forward pass, no arrays, so
``summary(vgg16(), (1, 3, 224, 224))`` is instant.

Conventions, stated once:

* **MACs**: multiply-accumulates per forward pass of the given input (one multiply plus one
  add); for a batch of one they are the "per example" figures that torchvision publishes.
  Convolutions count ``prod(out_spatial) * C_out * (C_in / groups) * prod(K)``, dense layers
  ``in * out``; biases, activations, pooling and normalisation count 0.
* **Memory**: the values of each layer's output (the whole batch), and those values in bytes
  at 4 bytes each (float32). Totals add the layers' outputs.
* **Receptive field**: size, jump (effective stride) and start (input index of the first
  window's centre, the first pixel's centre being 0) per spatial axis, after Araujo et al.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..geometry import ReceptiveField

BYTES_PER_VALUE = 4


@dataclass
class LayerRow:
    """One application of one layer."""

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
    """The rows of ``summary`` and their totals; render with ``str()``, ``to_markdown()``, ``to_json()``."""

    model_name: str
    input_shape: tuple
    rows: list[LayerRow]
    params: int
    trainable_params: int
    output_shape: tuple = ()

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
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        from .render import render_text
        return render_text(self)

    def to_markdown(self) -> str:
        from .render import render_markdown
        return render_markdown(self)

    def __str__(self) -> str:
        return self.to_text()


def summary(model, input_shape) -> Summary:
    """Describe ``model`` for an input of ``input_shape`` (batch axis included) without running it.

    >>> from strided.models import create_model
    >>> s = summary(create_model("lenet5"), (1, 1, 32, 32))
    >>> s.params, s.macs
    (61706, 416520)
    """
    input_shape = tuple(int(v) for v in input_shape)
    names = {}
    for name, module in model.named_modules():
        names.setdefault(id(module), name or type(module).__name__)
    rows: list[LayerRow] = []

    def visit(module, in_shape, out_shape, rf):
        # a visited module is a layer, or a module whose children it accounts for itself
        params = [p for p in module.parameters()]
        biases = sum(p.size for name, p in module.named_parameters() if name.split(".")[-1] == "bias")
        rows.append(LayerRow(names.get(id(module), type(module).__name__), type(module).__name__, in_shape,
                             out_shape, sum(p.size for p in params), sum(p.size for p in params if p.requires_grad),
                             module.cost(in_shape).macs,
                             int(np.prod(out_shape)), rf, biases))

    spatial = len(input_shape) - 2
    rf0 = ReceptiveField.identity(spatial) if spatial >= 1 else None
    out_shape, _ = model.walk(input_shape, rf0, visit)
    params = model.num_parameters()
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    return Summary(type(model).__name__, input_shape, rows, params, trainable, tuple(out_shape))
