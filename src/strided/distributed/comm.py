"""The process group: rank, world size and the collectives, over MPI (``mpi4py``) or a single process.

``init()`` decides once per process. Started by an MPI launcher (``mpirun``/``mpiexec``: the
launcher's variables ``OMPI_COMM_WORLD_SIZE``, ``PMI_SIZE``, ``PMIX_RANK`` or
``MV2_COMM_WORLD_SIZE`` are set) it imports ``mpi4py`` and uses ``MPI.COMM_WORLD``; without a
launcher it is one process (rank 0 of 1) and never imports ``mpi4py``, so a single process needs
no MPI installed. Nothing happens at import.

Every collective works on NumPy arrays through mpi4py's buffer interface (no pickling):
``all_reduce(a, op='sum'|'mean'|'max'|'min')``, ``broadcast(a, root)``, ``all_gather(a)``,
``barrier()``. ``abort_on_error()`` turns an exception on any rank into ``MPI.Abort`` of the
whole job after printing ``rank N of W: <error>``, so no rank waits forever for one that died.

>>> import numpy as np
>>> group = init()
>>> group.rank, group.world_size
(0, 1)
>>> all_reduce(np.array([1.0, 2.0]), op="mean")
array([1., 2.])
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager

import numpy as np

LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")
INSTALL_HINT = 'pip install "strided[mpi]"'
OPS = ("sum", "mean", "max", "min")


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (one of ``LAUNCHER_VARIABLES`` is set).

    Example:
        >>> launched_by_mpi()                # True under mpirun / srun
        False
    """
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


class _Request:
    """A finished request: what a single process's non-blocking collective returns."""

    def Test(self) -> bool:
        return True

    def Wait(self) -> None:
        return None


class LocalComm:
    """The communicator of one process: every collective leaves its buffers as they are.

    It has the methods of ``mpi4py.MPI.Comm`` that strided uses (buffer forms, capitalised), so
    code written for MPI runs unchanged on one process.

    Example:
        >>> comm = LocalComm()
        >>> comm.Get_rank(), comm.Get_size()
        (0, 1)
    """

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def Allreduce(self, send, recv, op=None) -> None:
        if send is not IN_PLACE:
            np.copyto(recv, send)

    def Iallreduce(self, send, recv, op=None) -> _Request:
        self.Allreduce(send, recv, op)
        return _Request()

    def Bcast(self, buffer, root: int = 0) -> None:
        return None

    def Allgather(self, send, recv) -> None:
        np.copyto(recv.reshape(np.shape(send)), send)

    def Barrier(self) -> None:
        return None

    def Abort(self, errorcode: int = 1) -> None:
        os._exit(errorcode)


IN_PLACE = object()
"""Stands for ``MPI.IN_PLACE`` in ``LocalComm`` (``ProcessGroup.in_place`` gives the right one)."""


class ProcessGroup:
    """Rank, world size and the communicator (``mpi4py.MPI.Comm`` or ``LocalComm``).

    Args:
        comm: the communicator, an ``mpi4py.MPI.Comm`` or a ``LocalComm``.
        mpi: the ``mpi4py.MPI`` module, or ``None`` on one process.

    Example:
        >>> group = ProcessGroup(LocalComm())
        >>> group.rank, group.world_size
        (0, 1)
    """

    def __init__(self, comm, mpi=None):
        self.comm, self.mpi = comm, mpi
        self.rank, self.world_size = int(comm.Get_rank()), int(comm.Get_size())

    @property
    def in_place(self):
        return IN_PLACE if self.mpi is None else self.mpi.IN_PLACE

    def op(self, name: str):
        """The MPI reduction for ``'sum'``/``'mean'`` (a sum, divided after), ``'max'``, ``'min'``."""
        if name not in OPS:
            raise ValueError(f"strided.distributed: op must be one of {OPS}, got {name!r}")
        if self.mpi is None:
            return name
        return {"sum": self.mpi.SUM, "mean": self.mpi.SUM, "max": self.mpi.MAX, "min": self.mpi.MIN}[name]

    def __repr__(self) -> str:
        return f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, {'MPI' if self.mpi else 'one process'})"


_group: ProcessGroup | None = None


def init() -> ProcessGroup:
    """The process group of this process (made on the first call; later calls return the same).

    Under an MPI launcher: ``mpi4py``'s ``COMM_WORLD`` (an ``ImportError`` saying to
    ``pip install "strided[mpi]"`` when mpi4py is missing). Otherwise one process: rank 0 of 1.

    Example:
        >>> group = init()                   # without a launcher: one process
        >>> group.rank, group.world_size, init() is group
        (0, 1, True)
    """
    global _group
    if _group is None:
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError as error:
                raise ImportError(f"strided.distributed: this process was started by an MPI launcher "
                                  f"({', '.join(v for v in LAUNCHER_VARIABLES if v in os.environ)} is set), "
                                  f"but mpi4py is not installed ({error}); install it with {INSTALL_HINT}") from None
            _group = ProcessGroup(MPI.COMM_WORLD, MPI)
        else:
            _group = ProcessGroup(LocalComm())
    return _group


def rank() -> int:
    """This process's rank (0 .. world_size - 1).

    Example:
        >>> rank()                           # without a launcher
        0
    """
    return init().rank


def world_size() -> int:
    """The number of processes training together (1 without a launcher).

    Example:
        >>> world_size()                     # without a launcher
        1
    """
    return init().world_size


def is_main() -> bool:
    """Rank 0: the process that prints, logs and writes files.

    Example:
        >>> is_main()                        # without a launcher
        True
    """
    return init().rank == 0


def barrier() -> None:
    """Wait until every rank has reached this call.

    Example:
        >>> barrier()                        # returns at once on one process
    """
    init().comm.Barrier()


def _reduce_dtype(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    return array


def all_reduce(array, op: str = "sum") -> np.ndarray:
    """The element-wise ``op`` over every rank's ``array`` (same shape on every rank); a new array.

    ``'mean'`` divides the sum by the world size (integers become float64 then).

    Args:
        array: this rank's array (a number is accepted).
        op: ``'sum'``, ``'mean'``, ``'max'`` or ``'min'``.

    Shape: ``(*S)`` -> ``(*S)``.

    Example:
        >>> all_reduce(np.array([1, 2]), op="max").tolist()    # one process: its own array
        [1, 2]
    """
    group = init()
    mpi_op = group.op(op)
    send = np.ascontiguousarray(_reduce_dtype(np.asarray(array)))
    recv = np.empty_like(send)
    group.comm.Allreduce(send, recv, op=mpi_op)
    if op == "mean":
        recv = recv / group.world_size
    return recv


def broadcast(array, root: int = 0) -> np.ndarray:
    """Rank ``root``'s ``array`` on every rank (written in place into ``array`` when it is a
    contiguous NumPy array; returned in every case). Shape and dtype must agree across ranks.

    Args:
        array: on ``root`` the array sent; on the other ranks a buffer of the same shape and dtype.
        root: the rank whose array everyone gets.

    Example:
        >>> broadcast(np.array([3.0, 4.0]), root=0).tolist()
        [3.0, 4.0]
    """
    group = init()
    if not 0 <= root < group.world_size:
        raise ValueError(f"strided.distributed.broadcast: root must lie in [0, {group.world_size}), got {root}")
    buffer = array if isinstance(array, np.ndarray) and array.flags.c_contiguous and array.flags.writeable \
        else np.ascontiguousarray(array).copy()
    group.comm.Bcast(buffer, root=root)
    return buffer


def all_gather(array) -> np.ndarray:
    """Every rank's ``array`` stacked in rank order. Shape: ``(*S)`` -> ``(world_size, *S)``.

    Args:
        array: this rank's array.

    Example:
        >>> all_gather(np.array([1, 2])).shape                   # (world_size, 2)
        (1, 2)
    """
    group = init()
    send = np.ascontiguousarray(array)
    recv = np.empty((group.world_size,) + send.shape, dtype=send.dtype)
    group.comm.Allgather(send, recv)
    return recv


@contextmanager
def abort_on_error(stream=None, passthrough: tuple = ()):
    """Inside: an exception on any rank of a job of several prints ``rank N of W: <Type>: message``
    (with the traceback) to ``stream`` (stderr) and aborts the whole job (``MPI.Abort``), so the
    other ranks never wait for this one. On one process the exception propagates unchanged, and
    so do the types in ``passthrough``: errors every rank raises alike (a ``NonFiniteLoss``,
    decided on the global loss), which the caller reports.

    Args:
        stream: where the failing rank's message goes (``None``: stderr).
        passthrough: exception types raised alike on every rank, let through unchanged.

    Example:
        >>> with abort_on_error() as group:  # on one process an exception propagates unchanged
        ...     group.world_size
        1
    """
    group = init()
    if group.world_size == 1:
        yield group
        return
    try:
        yield group
    except SystemExit as stop:
        if stop.code not in (0, None):
            _abort(group, f"exited with status {stop.code}", stream, int(stop.code) if isinstance(stop.code, int) else 1)
        raise
    except passthrough:
        raise
    except BaseException as error:  # noqa: BLE001 - every failure must stop the job, not only Exceptions
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        _abort(group, f"{type(error).__name__}: {error}\n{detail}", stream, 1)


def _abort(group: ProcessGroup, message: str, stream, code: int) -> None:
    stream = stream or sys.stderr
    print(f"strided: rank {group.rank} of {group.world_size}: {message}".rstrip(), file=stream, flush=True)
    group.comm.Abort(code)


__all__ = ["init", "rank", "world_size", "is_main", "barrier", "all_reduce", "broadcast", "all_gather",
           "abort_on_error", "launched_by_mpi", "ProcessGroup", "LocalComm", "INSTALL_HINT"]
