"""``DistributedDataParallel``: every rank trains the same model on its part of each global batch.

At construction the parameters and buffers of rank 0 are broadcast to every rank. During each
``backward()`` a gradient hook on every trainable parameter (``Tensor.register_hook``: it runs
once the parameter's gradient of this backward is complete) copies the gradient into its
bucket, a flat buffer of about ``bucket_mb`` MB holding parameters in reverse registration
order (roughly the order in which backward completes them). A full bucket starts its
non-blocking all-reduce (``Iallreduce``) at once, while backward goes on with earlier layers;
the hook of the last parameter waits for all buckets, and every parameter's ``.grad`` becomes
the average over ranks. So once ``loss.backward()`` returns, the gradients are synchronised and
``optimizer.step()`` needs no change.

The average is weighted by each rank's share of the global batch, ``n_r / sum(n)`` (``n_r``: the
first axis of the model's input this step), so uneven shards still give the gradient of the
loss's mean over the global batch; with equal shards it is the plain mean. A gradient already in
``.grad`` (accumulation, ``no_sync``) is reduced together with the new one.

A parameter that got no gradient in a backward (not used by that forward) would leave its bucket
waiting: with ``find_unused_parameters=True`` the graph of each forward's output is walked and
such parameters count as ready with zero gradient; otherwise the next forward raises an error
naming them.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..tensor import Tensor
from .comm import init

DEFAULT_BUCKET_MB = 4.0


class _Bucket:
    """Parameters sharing one flat buffer and one all-reduce. ``slots``: ``(param, start, stop)``."""

    def __init__(self, dtype, params):
        self.dtype, self.slots, size = np.dtype(dtype), [], 0
        for p in params:
            self.slots.append((p, size, size + p.data.size))
            size += p.data.size
        self.size = size
        self.buffer = None
        self.ready = 0
        self.request = None

    def begin(self):
        self.buffer, self.ready, self.request = np.empty(self.size, dtype=self.dtype), 0, None


def _buckets(params, bucket_bytes: int) -> list[_Bucket]:
    """Group ``params`` (already in reverse order) by dtype into buckets of at most ``bucket_bytes``
    (a larger parameter gets a bucket of its own)."""
    buckets, current, current_bytes, current_dtype = [], [], 0, None
    for p in params:
        nbytes = p.data.nbytes
        if current and (p.data.dtype != current_dtype or current_bytes + nbytes > bucket_bytes):
            buckets.append(_Bucket(current_dtype, current))
            current, current_bytes = [], 0
        current.append(p)
        current_bytes += nbytes
        current_dtype = p.data.dtype
    if current:
        buckets.append(_Bucket(current_dtype, current))
    return buckets


class DistributedDataParallel:
    """Wrap ``model`` for data-parallel training over the ranks of ``strided.distributed.init()``.

    Calling the wrapper calls the model; every other attribute is the model's (``parameters()``,
    ``state_dict()``, ``train()``, ...), so checkpoints hold the model's own keys. ``module`` is
    the model. ``bucket_mb``: size of a gradient bucket. ``broadcast_buffers``: also copy rank 0's
    buffers (running statistics) at construction.

    Args:
        model: the ``Module`` to train, the same on every rank.
        bucket_mb: the size of a gradient bucket in MiB; a full bucket is all-reduced while the
            backward pass goes on.
        find_unused_parameters: allow parameters that get no gradient in a step (they count as zero).
        broadcast_buffers: also copy rank 0's buffers (running statistics) at construction.
        group: the ``ProcessGroup`` (``None``: ``strided.distributed.init()``).

    Shape: as the model; each rank passes its own part ``(n_r, *)`` of the global batch.

    >>> import numpy as np, strided as st
    >>> model = st.nn.Linear(3, 2, rng=0)
    >>> ddp = DistributedDataParallel(model)
    >>> ddp(np.ones((4, 3), np.float32)).sum().backward()
    >>> model.weight.grad.shape
    (2, 3)
    """

    def __init__(self, model, bucket_mb: float = DEFAULT_BUCKET_MB, find_unused_parameters: bool = False,
                 broadcast_buffers: bool = True, group=None):
        if not (hasattr(model, "parameters") and callable(model)):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(model).__name__}")
        if not bucket_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be positive, got {bucket_mb!r}")
        object.__setattr__(self, "module", model)
        object.__setattr__(self, "_state", _SyncState(model, group or init(), int(bucket_mb * 2 ** 20),
                                                      bool(find_unused_parameters)))
        self._state.broadcast_from_main(broadcast_buffers)

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)

    def __setattr__(self, name, value):
        setattr(self.module, name, value)

    @property
    def buckets(self) -> list[list[str]]:
        """The parameter names of each bucket, in the order their all-reduces start."""
        names = {id(p): n for n, p in self.module.named_parameters()}
        return [[names[id(p)] for p, _, _ in b.slots] for b in self._state.buckets]

    @contextmanager
    def no_sync(self):
        """Inside, backward accumulates local gradients without communicating (gradient
        accumulation); the first backward after it reduces the accumulated sum."""
        self._state.enabled = False
        try:
            yield
        finally:
            self._state.enabled = True

    def synchronize(self) -> None:
        """Finish a reduction still waiting for parameters that got no gradient (they count as zero)."""
        self._state.finish_missing()

    def remove(self) -> None:
        """Take the hooks off the model (it trains alone again)."""
        self._state.remove()

    def __repr__(self) -> str:
        return f"DistributedDataParallel({self._state.group!r}, {len(self._state.buckets)} buckets)\n{self.module!r}"


class _SyncState:
    """The hooks and buckets of one wrapped model."""

    def __init__(self, model, group, bucket_bytes: int, find_unused: bool):
        self.model, self.group, self.find_unused = model, group, find_unused
        self.enabled = True
        params = [p for p in model.parameters() if p.requires_grad]
        seen, unique = set(), []
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        self.params = unique
        self.buckets = _buckets(unique[::-1], bucket_bytes)
        self.where = {id(p): (bucket, start, stop) for bucket in self.buckets for p, start, stop in bucket.slots}
        self.local_count, self.weight, self.pending, self.fired = 1, None, False, set()
        self.handles = [p.register_hook(self._hook_for(p)) for p in unique]
        self.handles.append(model.register_forward_pre_hook(self._before_forward))
        if find_unused:
            self.handles.append(model.register_forward_hook(self._after_forward))

    def broadcast_from_main(self, buffers: bool) -> None:
        comm = self.group.comm
        for p in self.model.parameters():
            _broadcast_into(comm, p.data)
        if buffers:
            for _, buffer in self.model.named_buffers():
                if isinstance(buffer, np.ndarray):
                    _broadcast_into(comm, buffer)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    # ------------------------------------------------------------------ forward
    def _before_forward(self, module, args):
        if self.pending and self.fired:
            missing = [n for n, p in self.model.named_parameters() if p.requires_grad and id(p) not in self.fired]
            raise RuntimeError(f"DistributedDataParallel: the last backward gave no gradient to {len(missing)} "
                               f"parameters ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}), so their "
                               f"buckets were never reduced; pass find_unused_parameters=True, or call "
                               f"synchronize() after such a backward")
        first = args[0] if args else None
        self.local_count = int(first.shape[0]) if getattr(first, "ndim", 0) else 1
        self.weight, self.pending, self.fired = None, False, set()

    def _after_forward(self, module, args, output):
        """``find_unused_parameters``: parameters the output does not depend on are ready now."""
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        reached, stack = set(), [t for t in outputs if isinstance(t, Tensor)]
        visited = set()
        while stack:
            node = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if not node._parents:
                reached.add(id(node))
            stack.extend(node._parents)
        self.unused = [p for p in self.params if id(p) not in reached]

    # ------------------------------------------------------------------ backward
    def _hook_for(self, param):
        def hook(grad):
            return self._ready(param, grad)
        return hook

    def _start(self) -> None:
        """The first gradient of a backward: fresh buffers, and every rank's share of the batch."""
        for bucket in self.buckets:
            bucket.begin()
        total = np.array([self.local_count], dtype=np.int64)
        self.group.comm.Allreduce(self.group.in_place, total, op=self.group.op("sum"))
        self.weight = self.local_count / max(int(total[0]), 1)
        self.pending, self.fired = True, set()
        if self.find_unused:
            for p in getattr(self, "unused", ()):
                self._ready(p, np.zeros_like(p.data))

    def _ready(self, param, grad):
        if not self.enabled:
            return None
        if not self.pending:
            self._start()
        if id(param) in self.fired:
            return None
        self.fired.add(id(param))
        bucket, start, stop = self.where[id(param)]
        slot = bucket.buffer[start:stop]                                  # (numel,) view into the bucket
        if param.grad is not None:                                        # accumulated: reduce the sum
            np.add(param.grad.reshape(-1), grad.reshape(-1), out=slot)
            slot *= self.weight
        else:
            np.multiply(grad.reshape(-1), self.weight, out=slot)
        param.grad = None                                                 # the engine stores this step's copy
        bucket.ready += 1
        if bucket.ready == len(bucket.slots):
            bucket.request = self.group.comm.Iallreduce(self.group.in_place, bucket.buffer, op=self.group.op("sum"))
        for other in self.buckets:                                        # let MPI progress the earlier ones
            if other.request is not None and other.request is not True and other.request.Test():
                other.request = True
        if len(self.fired) == len(self.params):
            return self._finish(param)
        return None

    def _finish(self, last):
        """Every bucket reduced: each ``.grad`` a view into its bucket; the last one is returned to
        the engine, which stores it."""
        for bucket in self.buckets:
            if bucket.request is not None and bucket.request is not True:
                bucket.request.Wait()
            bucket.request = None
        self.pending = False
        result = None
        for p in self.params:
            bucket, start, stop = self.where[id(p)]
            reduced = bucket.buffer[start:stop].reshape(p.data.shape)     # (*param.shape)
            if p is last:
                result = reduced
            else:
                p.grad = reduced
        return result

    def finish_missing(self) -> None:
        if not self.pending:
            return
        for p in self.params:
            if id(p) not in self.fired:
                grad = np.zeros_like(p.data)
                stored = self._ready(p, grad)
                p.grad = stored if stored is not None else p.grad


def _broadcast_into(comm, array: np.ndarray) -> None:
    if array.flags.c_contiguous and array.flags.writeable:
        comm.Bcast(array, root=0)
        return
    buffer = np.ascontiguousarray(array).copy()
    comm.Bcast(buffer, root=0)
    array[...] = buffer


__all__ = ["DistributedDataParallel", "DEFAULT_BUCKET_MB"]
