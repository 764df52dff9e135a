"""``Block``: a module built from children, whose static rules follow from its data flow.

A block describes how data moves through its children once, in ``walk``, without arrays;
``output_shape``, ``cost`` and ``receptive_field`` are derived from it, and the analysis
tool uses the same walk to list every layer. A residual block, for instance::

    def walk(self, in_shape, rf, visit):
        main = self.body.walk(in_shape, rf, visit)
        skip = self.shortcut.walk(in_shape, rf, visit)
        return Block.join_add(self, (main, skip))
"""

from __future__ import annotations

from ..errors import ShapeError, shape_str
from ..geometry import ReceptiveField, concat_shape
from .module import Cost, Module
from .registry import has_static_rules
from .trace import traced_walk


def _ignore(module, in_shape, out_shape, rf):
    pass


class Block(Module):
    """Base class of modules whose ``forward`` is a composition of their children.

    Subclasses implement ``walk(in_shape, rf, visit) -> (out_shape, rf)`` by calling their
    children's ``walk`` in the order ``forward`` uses them. One that writes a ``forward`` and no
    ``walk`` has no static rules, and is traced like any such module (``nn.trace``).

    Shape: whatever the composition of its children gives, as ``walk`` describes it (``output_shape``
    returns it without running ``forward``).

    Example:
        >>> from strided import nn
        >>> class Chain(nn.Block):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.first, self.second = nn.Linear(4, 3, rng=0), nn.Linear(3, 2, rng=0)
        ...     def forward(self, x):
        ...         return self.second(self.first(x))
        ...     def walk(self, in_shape, rf, visit):
        ...         shape, rf = self.first.walk(in_shape, rf, visit)
        ...         return self.second.walk(shape, rf, visit)
        >>> Chain().output_shape((5, 4))
        (5, 2)
    """

    def walk(self, in_shape, rf, visit):
        if not has_static_rules(self):                                  # a forward but no walk: trace it
            return traced_walk(self, in_shape, visit)
        raise NotImplementedError(f"{type(self).__name__} must describe its data flow in walk()")

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.walk(tuple(in_shape), None, _ignore)[0]

    def receptive_field(self, rf: ReceptiveField, in_shape) -> ReceptiveField:
        return self.walk(tuple(in_shape), rf, _ignore)[1]

    def cost(self, in_shape) -> Cost:
        """All parameters below this block (shared ones once) and the MACs of every layer application."""
        macs = []

        def add(module, shape, out, rf):
            # a traced leaf without static rules reports itself: its MACs are unknown, counted 0
            macs.append(module.cost(shape).macs if has_static_rules(module) else 0)
        self.walk(tuple(in_shape), None, add)
        return Cost(self.num_parameters(), sum(macs))

    def join_add(self, branches):
        """Shape and receptive field where branch outputs are added element-wise (residuals)."""
        shapes = {tuple(shape) for shape, _ in branches}
        if len(shapes) != 1:
            raise ShapeError(f"{self._describe()}: branches to be added must have equal shapes, got "
                             f"{', '.join(shape_str(s) for s, _ in branches)}")
        fields = [rf for _, rf in branches]
        return branches[0][0], (None if fields[0] is None else ReceptiveField.merge(fields))

    def join_concat(self, branches, dim: int = 1):
        """Shape and receptive field where branch outputs are concatenated along ``dim`` (channels)."""
        out = concat_shape([shape for shape, _ in branches], dim, self._describe())
        fields = [rf for _, rf in branches]
        return out, (None if fields[0] is None else ReceptiveField.merge(fields))
