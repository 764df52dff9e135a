"""``SyncBatchNorm``: batch normalisation whose statistics span the global batch of every rank.

In training, each channel's mean and variance are those of the union of every rank's part of
the batch (two all-reduces of per-channel sums in float64: the sums, then the squared
deviations from the global mean), so the output equals ``BatchNorm`` over the global batch;
the backward all-reduces the two per-channel sums it needs (``sum g`` and ``sum g (x - mean)``).
On one process (``strided.distributed.world_size() == 1``) the collectives do nothing and it is
``BatchNorm``. In evaluation it uses the running statistics, which every rank updates
identically.

Gradient scale: ``DistributedDataParallel`` averages gradients weighted by each rank's share
``w_r = n_r / N`` of the global batch, so a rank's upstream gradient is ``1 / w_r`` times its part
of the global one; the backward sums are weighted the same way (``sum_r w_r s_r``, then ``/ w_r``
on rank ``r``), which makes input gradients exact for uneven shards too.
"""

from __future__ import annotations

import numpy as np

from ..backend import backend_of, namespace
from ..errors import expected_input, shape_str
from ..tensor import Tensor, as_tensor
from .helpers import check_param_shape
from .norm import _BatchNorm, channel_rows, from_channel_rows
from .registry import register_layer


def _group():
    from ..distributed.comm import init
    return init()


def _sum_over_ranks(group, local, xp):
    """The sum over ranks of every rank's ``local`` (float64), back in the namespace ``xp``: MPI reduces
    host arrays, so a device array goes to the host and back (on the CPU both moves are the array itself)."""
    total = np.ascontiguousarray(backend_of(local).to_host(local), dtype=np.float64)
    group.comm.Allreduce(group.in_place, total, op=group.op("sum"))
    return xp.asarray(total)


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum: float = 0.1, eps: float = 1e-5,
                    owner: str = "sync_batch_norm", group=None) -> Tensor:
    """Training-mode batch norm with statistics over every rank's ``x`` (see the module docstring).

    Running statistics (NumPy arrays, may be ``None``) are updated in place with the global
    mean and the unbiased global variance. Shape: ``(N_r, C, *S)``, unchanged.
    """
    group = group or _group()
    x, weight, bias = Tensor.match_dtypes(owner, x, weight, bias)
    x = as_tensor(x)
    if x.ndim < 2:
        raise expected_input(owner, "(N, C, *)", x.shape)
    c, dtype = x.shape[1], x.dtype
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        check_param_shape(value, (c,), name, owner)
    xp = namespace(x.data)
    xm = channel_rows(x.data)                                           # (C, M_r)
    local_count = xm.shape[1]
    sums = _sum_over_ranks(group, xp.append(xm.sum(axis=1, dtype=np.float64), local_count), xp)   # (C + 1,)
    count = int(round(float(sums[-1])))
    if count <= 1:
        raise ValueError(f"{owner}: expected more than 1 value per channel over all ranks in training, got input "
                         f"{shape_str(x.shape)} on each of {group.world_size} ranks")
    mean64 = sums[:c] / count                                           # (C,)
    centred = xm - mean64.astype(dtype)[:, None]                        # (C, M_r)
    var64 = _sum_over_ranks(group, xp.einsum("ij,ij->i", centred, centred, dtype=np.float64), xp) / count   # (C,) biased
    inv_std = (1.0 / xp.sqrt(var64 + eps)).astype(dtype)                # (C,)
    w = None if weight is None else as_tensor(weight)
    b = None if bias is None else as_tensor(bias)
    wv = xp.ones(c, dtype=dtype) if w is None else w.data.astype(dtype, copy=False)
    bv = xp.zeros(c, dtype=dtype) if b is None else b.data.astype(dtype, copy=False)
    out_m = centred * (wv * inv_std)[:, None] + bv[:, None]             # (C, M_r)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += (momentum * mean64).astype(running_mean.dtype)
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * var64 * count / (count - 1)).astype(running_var.dtype)
    share = local_count / count                                         # this rank's weight w_r

    def backward(g):
        gm = channel_rows(g)                                            # (C, M_r)
        sg = gm.sum(axis=1, dtype=np.float64)                           # (C,) sum of g
        sgd = xp.einsum("ij,ij->i", gm, centred, dtype=np.float64)      # (C,) sum of g * (x - mean)
        grads = []
        if x.requires_grad:
            both = _sum_over_ranks(group, xp.concatenate([sg, sgd]) * share, xp) / share   # (2C,) global, this rank's scale
            k1 = wv * inv_std                                           # (C,)
            k2 = (-k1 * inv_std * inv_std * both[c:] / count).astype(dtype)
            k3 = (-k1 * both[:c] / count).astype(dtype)
            gx = gm * k1[:, None] + centred * k2[:, None] + k3[:, None]   # (C, M_r)
            grads.append(from_channel_rows(gx.astype(dtype, copy=False), x.shape))
        else:
            grads.append(None)
        if w is not None:
            grads.append((sgd * inv_std).astype(dtype) if w.requires_grad else None)   # local: DDP averages
        if b is not None:
            grads.append(sg.astype(dtype) if b.requires_grad else None)
        return tuple(grads)

    parents = [x] + [p for p in (w, b) if p is not None]
    return Tensor.from_op(from_channel_rows(out_m, x.shape), parents, backward, "sync_batch_norm")


@register_layer(example=lambda: (SyncBatchNorm(3), (4, 3, 5)))
class SyncBatchNorm(_BatchNorm):
    """Batch normalisation of ``(N, C, *spatial)`` with statistics over the global batch of all ranks.

    The arguments of ``BatchNorm2d``, and the process group. ``convert_sync_batchnorm(model)`` swaps a
    model's ``BatchNorm*d`` layers for it. Same ``state_dict`` keys as ``BatchNorm*d``.

    Args:
        num_features: the number of channels ``C``.
        eps: added to the variance before the square root (default ``1e-5``).
        momentum: the weight of each batch in the running averages (default 0.1, PyTorch's).
        affine: learn a per-channel ``weight`` (initialised to ones) and ``bias`` (zeros) (default ``True``).
        track_running_stats: keep running averages; ``False``: batch statistics in evaluation too
            (default ``True``).
        group: the process group whose ranks share the statistics (default ``None``:
            ``strided.distributed.init()``'s).

    Shape: ``(N, C)`` or ``(N, C, *S)``, unchanged; statistics over every axis but 1 of every rank.

    >>> import numpy as np
    >>> bn = SyncBatchNorm(2)
    >>> y = bn(np.arange(8, dtype=np.float32).reshape(2, 2, 2))
    >>> np.round(y.data.mean(axis=(0, 2)), 6).tolist()
    [0.0, 0.0]
    """

    ranks = (2, 3, 4, 5)
    layout = "(N, {0}, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, group=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        object.__setattr__(self, "group", group)

    def fuse_with(self, after):
        return None                                                     # the statistics need the collectives

    def onnx_export(self, builder, x):
        """Exported in evaluation mode, where it is ``BatchNorm``: the same rule."""
        from ..onnx.export_layers import batch_norm as batch_norm_rule
        return batch_norm_rule(builder, self, x)

    def _normalize(self, x, relu: bool) -> Tensor:
        x = as_tensor(x)
        self._check(x.shape)
        if not self.training:                                           # running (or local) statistics
            return super()._normalize(x, relu)
        if self.track_running_stats:
            self._buffers["num_batches_tracked"] = self._buffers["num_batches_tracked"] + 1
        return sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.momentum,
                               self.eps, self._describe(), self.group)


def convert_sync_batchnorm(model, group=None):
    """Replace every ``BatchNorm1d/2d/3d`` in ``model`` by a ``SyncBatchNorm`` with the same
    settings, parameters and running statistics (in place); returns ``model`` (or the new layer
    when ``model`` itself is a batch norm).

    Args:
        model: a module: every batch norm in its tree is replaced, or a batch norm itself.
        group: the process group of the new layers (default ``None``: ``strided.distributed.init()``'s).

    Example:
        >>> from strided import nn
        >>> model = convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2)))
        >>> type(model[1]).__name__
        'SyncBatchNorm'
    """
    if isinstance(model, _BatchNorm) and not isinstance(model, SyncBatchNorm):
        return _as_sync(model, group)
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, _BatchNorm) and not isinstance(child, SyncBatchNorm):
                module._modules[name] = _as_sync(child, group)
    return model


def _as_sync(bn: _BatchNorm, group) -> SyncBatchNorm:
    sync = SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, group)
    if bn.affine:
        sync.weight, sync.bias = bn.weight, bn.bias
    for name, value in bn._buffers.items():
        sync._buffers[name] = value
    sync.training = bn.training
    return sync


__all__ = ["SyncBatchNorm", "convert_sync_batchnorm", "sync_batch_norm"]
