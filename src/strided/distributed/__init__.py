"""Data-parallel training over MPI: the process group, collectives, ``DistributedDataParallel``.

Run a script (or ``strided train``) under a launcher, ``mpirun -n 4 python train.py``; each
process is a rank. ``init()`` finds out which; without a launcher it is rank 0 of 1 and no MPI is
needed (``pip install "strided[mpi]"`` adds mpi4py and Open MPI). Pieces:

- ``comm``: ``init``, ``rank``, ``world_size``, ``is_main``, ``barrier``, ``all_reduce``,
  ``broadcast``, ``all_gather``, ``abort_on_error``;
- ``ddp``: ``DistributedDataParallel`` (rank 0's weights broadcast; gradients averaged in
  buckets, each all-reduce started during backward as soon as its bucket is complete);
- ``strided.data.DataLoader(..., num_replicas=R, rank=r)``: each rank's part of every global batch;
- ``strided.nn.SyncBatchNorm`` / ``convert_sync_batchnorm``: statistics over the global batch;
- ``training``: what ``fit`` uses (global loss and metrics per step, sharded evaluation).
"""

from .comm import (INSTALL_HINT, LocalComm, ProcessGroup, abort_on_error, all_gather, all_reduce, barrier, broadcast,
                   init, is_main, launched_by_mpi, rank, world_size)
from .ddp import DistributedDataParallel
from .training import fit_sync, reduce_metric_set

__all__ = ["init", "rank", "world_size", "is_main", "barrier", "all_reduce", "broadcast", "all_gather",
           "abort_on_error", "launched_by_mpi", "ProcessGroup", "LocalComm", "INSTALL_HINT",
           "DistributedDataParallel", "fit_sync", "reduce_metric_set"]
