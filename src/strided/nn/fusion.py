"""Preparing a trained network for inference: batch norm folded into the convolution before it, and
weights frozen so that what is derived from them is computed once.

* ``fuse_conv_bn_weights`` / ``fuse_conv_bn_eval`` (PyTorch's ``torch.nn.utils.fusion``): the
  convolution whose output equals ``bn(conv(x))`` in evaluation mode,
  ``W' = W * s``, ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)`` per output
  channel, computed in float64.
* ``fold_batch_norms(model, *example_inputs)``: finds every convolution whose output feeds one
  batch norm and nothing else, by running the example once with hooks and reading the recorded
  graph, folds each pair and puts an ``Identity`` where the batch norm was.
* ``freeze(model)``: evaluation mode, no gradients, and every parameter's array a read-only copy
  of its own. A read-only array that owns its memory cannot change behind the library's back, so
  a 3x3 convolution keeps its Winograd filter transform (``fast.winograd.weight_transform_of``)
  instead of recomputing it at every call.
* ``optimize_for_inference(model, *example_inputs)``: a frozen copy with the batch norms folded
  (PyTorch's ``torch.jit.optimize_for_inference`` does the same two things to a scripted module).
  The original model is not touched.

The folded network's outputs equal the original's to float rounding; its ``state_dict`` has
a bias for each folded convolution and no batch-norm entries.
"""

from __future__ import annotations

import copy

import numpy as np

from ..backend import namespace
from ..tensor import Tensor, enable_grad
from .conv import Conv1d, Conv2d, Conv3d, _ConvNd
from .module import Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .reshape import Identity
from .sync_batchnorm import SyncBatchNorm

CONV_TYPES = (Conv1d, Conv2d, Conv3d)
BATCH_NORM_TYPES = (BatchNorm1d, BatchNorm2d, BatchNorm3d, SyncBatchNorm)


def fuse_conv_bn_weights(conv_w, conv_b, bn_mean, bn_var, bn_eps: float, bn_w=None, bn_b=None) -> tuple:
    """The weight and bias of a convolution followed by an evaluation-mode batch norm, as one.

    Args:
        conv_w: the convolution's weight ``(C_out, C_in/groups, *K)``, an array.
        conv_b: its bias ``(C_out,)`` or ``None`` (zeros).
        bn_mean: the batch norm's running mean ``(C_out,)``.
        bn_var: its running variance ``(C_out,)``.
        bn_eps: its ``eps``.
        bn_w: its affine ``weight`` ``(C_out,)``, or ``None`` (ones).
        bn_b: its affine ``bias`` ``(C_out,)``, or ``None`` (zeros).

    Shape: returns ``(W', b')`` shaped ``conv_w`` and ``(C_out,)``, in ``conv_w``'s dtype.

    Example:
        >>> w, b = fuse_conv_bn_weights(np.ones((2, 1, 1)), np.array([1.0, 2.0]), np.array([1.0, 0.0]),
        ...                             np.array([3.0, 0.0]), 1.0)                   # s = 1/sqrt(var + eps)
        >>> w.ravel().tolist(), b.tolist()
        ([0.5, 1.0], [0.0, 2.0])
    """
    xp = namespace(conv_w)
    c_out = conv_w.shape[0]
    for name, value in (("running mean", bn_mean), ("running variance", bn_var), ("weight", bn_w), ("bias", bn_b)):
        if value is not None and tuple(value.shape) != (c_out,):
            raise ValueError(f"fuse_conv_bn_weights: the batch norm's {name} has shape {tuple(value.shape)}; "
                             f"expected ({c_out},), one per output channel of the convolution")
    wide = np.float64
    scale = 1.0 / xp.sqrt(bn_var.astype(wide) + bn_eps)                 # (C_out,)
    if bn_w is not None:
        scale = scale * bn_w.astype(wide)
    shift = -bn_mean.astype(wide) * scale if conv_b is None else (conv_b.astype(wide) - bn_mean) * scale
    if bn_b is not None:
        shift = shift + bn_b.astype(wide)
    weight = conv_w.astype(wide) * scale.reshape((c_out,) + (1,) * (conv_w.ndim - 1))   # (C_out, C_in/G, *K)
    return weight.astype(conv_w.dtype), shift.astype(conv_w.dtype)


def fuse_conv_bn_eval(conv: Module, bn: Module) -> Module:
    """A copy of ``conv`` computing ``bn(conv(x))`` of an evaluation-mode batch norm in one layer.

    Args:
        conv: a ``Conv1d``, ``Conv2d`` or ``Conv3d``.
        bn: a batch norm over its output channels that keeps running statistics.

    Shape: as ``conv``.

    Example:
        >>> import strided as st
        >>> conv, bn = st.nn.Conv2d(1, 2, 3, rng=0), st.nn.BatchNorm2d(2).eval()
        >>> fused = fuse_conv_bn_eval(conv, bn)
        >>> x = np.ones((1, 1, 4, 4), dtype=np.float32)
        >>> bool(np.allclose(fused(x).numpy(), bn(conv(x)).numpy(), atol=1e-6))
        True
    """
    check_foldable(conv, bn)
    fused = copy.deepcopy(conv)
    fold_into(fused, bn)
    return fused


def is_plain_conv(layer: Module) -> bool:
    """A ``Conv1d/2d/3d`` or a subclass computing as one (``DepthwiseConv2d``, ``PointwiseConv2d``, ...):
    its own ``forward`` and weight reading are the base class's, so a folded weight means the same."""
    return (isinstance(layer, CONV_TYPES) and type(layer).forward is _ConvNd.forward
            and type(layer)._weight_and_bias is Module._weight_and_bias)


def check_foldable(conv: Module, bn: Module) -> None:
    """Refuse, naming both, a pair that ``fuse_conv_bn_eval`` cannot fold."""
    if not is_plain_conv(conv):
        raise TypeError(f"fuse_conv_bn_eval: expected a Conv1d, Conv2d or Conv3d (or a subclass with their forward), "
                        f"got {type(conv).__name__}")
    if type(bn) not in BATCH_NORM_TYPES:
        raise TypeError(f"fuse_conv_bn_eval: expected a batch norm layer, got {type(bn).__name__}")
    if bn.training or bn.running_mean is None:
        raise ValueError(f"fuse_conv_bn_eval: {bn._describe()} must be in evaluation mode with running "
                         f"statistics (training={bn.training}, track_running_stats={bn.track_running_stats})")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"fuse_conv_bn_eval: {bn._describe()} normalises {bn.num_features} channels but "
                         f"{conv._describe()} gives {conv.out_channels}")


def fold_into(conv: Module, bn: Module) -> None:
    """Give ``conv`` (in place) the weight and bias of ``bn(conv(x))``; arrays as ``fuse_conv_bn_weights``."""
    bias = None if conv.bias is None else conv.bias.data
    affine = (bn.weight.data, bn.bias.data) if bn.affine else (None, None)
    weight, bias = fuse_conv_bn_weights(conv.weight.data, bias, bn.running_mean, bn.running_var, bn.eps, *affine)
    conv.weight = Parameter(weight, requires_grad=conv.weight.requires_grad)
    conv.bias = Parameter(bias, requires_grad=conv.weight.requires_grad)


# ---------------------------------------------------------------------------------------- a whole model
def fold_batch_norms(model: Module, *example_inputs) -> int:
    """Fold, in place, each batch norm that directly follows a convolution in ``model``'s data flow.

    The example runs once in evaluation mode with the graph recorded and a hook on every
    convolution and batch norm. A pair is folded when the batch norm's input is the very tensor
    the convolution returned, that tensor feeds nothing else, each layer ran once, and the
    convolution's weight feeds no other op. The batch norm is replaced by ``Identity`` in its
    parent. Returns how many pairs were folded.

    Shape: ``example_inputs`` as ``model`` takes them (one batch is enough).
    """
    model.eval()
    runs: dict[int, list] = {}                                          # id(layer) -> [(layer, input, output)]

    def record(layer, args, output):
        runs.setdefault(id(layer), []).append((layer, args[0] if args else None, output))

    layers = [m for m in model.modules() if is_plain_conv(m) or type(m) in BATCH_NORM_TYPES]
    handles = [layer.register_forward_hook(record) for layer in layers]
    try:
        with enable_grad():
            inputs = [Tensor(x.data if isinstance(x, Tensor) else x, requires_grad=True) if _floating(x) else x
                      for x in example_inputs]                       # index arrays stay as they are
            output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    uses = _uses(output)
    made_by = {id(out): layer for entries in runs.values() if len(entries) == 1
               for layer, _, out in entries if is_plain_conv(layer)}
    places = _places(model)
    folded = 0
    for entries in list(runs.values()):
        bn, x, _ = entries[0]
        conv = made_by.get(id(x)) if type(bn) in BATCH_NORM_TYPES and len(entries) == 1 else None
        if (conv is None or uses.get(id(x)) != 1 or uses.get(id(conv.weight)) != 1
                or bn.running_mean is None or len(places.get(id(bn), ())) != 1):
            continue
        parent, name = places[id(bn)][0]
        fold_into(conv, bn)
        setattr(parent, name, Identity())
        folded += 1
    return folded


def _floating(value) -> bool:
    """A float array or tensor: an example input that can ask for a gradient, so the graph is recorded."""
    data = value.data if isinstance(value, Tensor) else value
    return hasattr(data, "dtype") and hasattr(data, "shape") and np.dtype(data.dtype).kind == "f"


def _uses(output) -> dict[int, int]:
    """How many recorded ops read each tensor (by id) in the graph that produced ``output``."""
    nodes = {id(node): node for root in _tensors(output) for node in root._topological_order()}
    uses: dict[int, int] = {}
    for node in nodes.values():                                         # every recorded op once
        for parent in node._parents:
            uses[id(parent)] = uses.get(id(parent), 0) + 1
    return uses


def _tensors(value):
    """The tensors in a model's output: a tensor, or nested tuples, lists and dict values of them."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _places(model: Module) -> dict[int, list[tuple[Module, str]]]:
    """Where each module is registered: ``id(module) -> [(parent, attribute name), ...]``."""
    places: dict[int, list] = {}
    for parent in model.modules():
        for name, child in parent._modules.items():
            places.setdefault(id(child), []).append((parent, name))
    return places


def freeze(model: Module) -> Module:
    """Put ``model`` (in place) in evaluation mode with frozen parameters, and return it.

    Every parameter stops asking for a gradient and its array becomes a read-only copy of its own
    (on the CPU), which lets layers keep what they derive from it (a 3x3 convolution's Winograd
    filter transform). Writing into a frozen array raises NumPy's read-only error; assigning a new
    array (``load_state_dict`` does) unfreezes that parameter.

    Args:
        model: the network, changed in place.

    Shape: unchanged.

    Example:
        >>> import strided as st
        >>> layer = freeze(st.nn.Linear(2, 1, rng=0))
        >>> layer.weight.requires_grad, layer.weight.data.flags.writeable
        (False, False)
    """
    return _freeze(model, copy_arrays=True)


def _freeze(model: Module, copy_arrays: bool) -> Module:
    """``freeze``; ``copy_arrays=False`` where no other view of the arrays can exist (a fresh deep copy)."""
    model.eval()
    for param in model.parameters():
        param.requires_grad = False
        data = param.data
        if isinstance(data, np.ndarray) and (data.flags.writeable or data.base is not None):   # not frozen yet
            if copy_arrays or data.base is not None:
                data = param.data = np.array(data, copy=True)          # owns its memory: nothing else writes it
            data.flags.writeable = False
    return model


def optimize_for_inference(model: Module, *example_inputs, fold_batch_norm: bool = True) -> Module:
    """A copy of ``model`` prepared for inference; ``model`` itself is left as it is.

    The copy is in evaluation mode, its batch norms that follow a convolution are folded into it
    (``fold_batch_norms``, which needs ``example_inputs`` to trace the data flow) and its parameters
    are frozen (``freeze``). Train the original, serve the copy.

    Args:
        model: a trained network.
        *example_inputs: one input batch (any size) as the model takes it; needed to fold.
        fold_batch_norm: ``False`` freezes without folding.

    Shape: as ``model``.

    Example:
        >>> import strided as st
        >>> net = st.nn.Sequential(st.nn.Conv2d(1, 4, 3, rng=0), st.nn.BatchNorm2d(4), st.nn.ReLU())
        >>> x = np.ones((1, 1, 6, 6), dtype=np.float32)
        >>> fast = optimize_for_inference(net, x)
        >>> [type(m).__name__ for m in fast.children()]
        ['Conv2d', 'Identity', 'ReLU']
        >>> bool(np.allclose(fast(x).numpy(), net.eval()(x).numpy(), atol=1e-5))
        True
    """
    if fold_batch_norm and not example_inputs:
        raise ValueError("optimize_for_inference: give an example input to trace which batch norms follow a "
                         "convolution (or fold_batch_norm=False)")
    prepared = copy.deepcopy(model)
    if fold_batch_norm:
        fold_batch_norms(prepared, *example_inputs)
    return _freeze(prepared, copy_arrays=False)                         # the copy's arrays are its own already
