"""Data-parallel training (strided.distributed): the API on one process, and ``mpirun -n 2`` runs
whose final weights must equal those of one process with the same global batch.

Oracles: PyTorch's BatchNorm for SyncBatchNorm (one process); plain loops for the loader's
shards; an ordinary one-process ``fit`` for every two-rank run (same data, seed, global batch).
This file is also the MPI worker: ``python tests/test_distributed.py worker CONFIG OUT``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import strided as st
from strided import distributed as dist
from strided.data import DataLoader

from oracle import needs_torch, torch

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------------------ one process
def test_single_process_group_needs_no_mpi():
    group = dist.init()
    assert (group.rank, group.world_size, dist.is_main()) == (0, 1, True)
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(dist.all_reduce(a), a)
    np.testing.assert_array_equal(dist.all_reduce(a, op="mean"), a)
    np.testing.assert_array_equal(dist.broadcast(a.copy()), a)
    np.testing.assert_array_equal(dist.all_gather(a), a[None])
    dist.barrier()
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(a, op="prod")


def test_launcher_without_mpi4py_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import strided.distributed as d\n"
            "try:\n    d.init()\nexcept ImportError as e:\n    print(e)\n")
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert 'pip install "strided[mpi]"' in out.stdout, out.stdout + out.stderr


def test_loader_shards_are_disjoint_parts_of_each_global_batch():
    x, y = np.arange(24, dtype=np.float32).reshape(24, 1), np.arange(24)   # batches 7, 7, 7, 3
    whole = DataLoader((x, y), batch_size=7, shuffle=True, seed=3)
    parts = [DataLoader((x, y), batch_size=7, shuffle=True, seed=3, num_replicas=3, rank=r) for r in range(3)]
    for epoch in range(2):
        for batch, *shards in zip(whole, *parts):
            joined = np.concatenate([s[1] for s in shards])             # rank order = the global batch's order
            np.testing.assert_array_equal(joined, batch[1])
            assert all(len(s[1]) >= 1 for s in shards)
    assert all(p.state_dict() == whole.state_dict() for p in parts)      # positions count global batches
    assert len(parts[0]) == len(whole) == 4


def test_loader_shards_see_the_transform_of_the_global_batch():
    x, y = np.random.default_rng(0).standard_normal((10, 1, 2, 3)).astype(np.float32), np.arange(10)

    def jitter(batch, rng):                                              # per-example noise from the batch's rng
        return batch + rng.standard_normal(batch.shape).astype(np.float32)
    whole = list(DataLoader((x, y), batch_size=5, shuffle=True, seed=1, transform=jitter))
    halves = [list(DataLoader((x, y), batch_size=5, shuffle=True, seed=1, transform=jitter, num_replicas=2, rank=r))
              for r in range(2)]
    for b, (bx, _) in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([halves[0][b][0], halves[1][b][0]]), bx)


def test_loader_refuses_a_batch_smaller_than_the_ranks():
    data = (np.zeros((9, 2), np.float32), np.zeros(9, np.int64))
    with pytest.raises(ValueError, match="last batch.*drop_last"):
        DataLoader(data, batch_size=4, num_replicas=2, rank=0)           # 9 = 4 + 4 + 1
    assert len(DataLoader(data, batch_size=4, drop_last=True, num_replicas=2, rank=1)) == 2
    with pytest.raises(ValueError, match="rank must lie"):
        DataLoader(data, batch_size=4, num_replicas=2, rank=2)


def _bn_net(rng, dtype=np.float64):
    net = st.nn.Sequential(st.nn.Conv2d(2, 3, 3, padding=1, rng=rng), st.nn.BatchNorm2d(3), st.nn.ReLU(),
                           st.nn.Flatten(), st.nn.Linear(3 * 4 * 4, 3, rng=rng))
    return net.to(dtype=dtype)


@needs_torch
def test_sync_batchnorm_on_one_process_is_batchnorm():
    x = np.random.default_rng(0).standard_normal((5, 3, 4, 2))
    g = np.random.default_rng(1).standard_normal(x.shape)
    ref = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    xt = torch.tensor(x, requires_grad=True)
    expected = ref(xt)
    expected.backward(torch.tensor(g))
    bn = st.nn.SyncBatchNorm(3).to(dtype=np.float64)
    bn.weight.data[...] = ref.weight.detach().numpy()
    bn.bias.data[...] = ref.bias.detach().numpy()
    xs = st.Tensor(x, requires_grad=True)
    out = bn(xs)
    out.backward(g)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, ref.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(bn.bias.grad, ref.bias.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), atol=1e-12)
    bn.eval(), ref.eval()
    np.testing.assert_allclose(bn(x).data, ref(torch.tensor(x)).detach().numpy(), atol=1e-12)


def test_convert_sync_batchnorm_keeps_parameters_and_state():
    net = _bn_net(np.random.default_rng(0))
    bn = net[1]
    bn.running_mean[...] = 0.25
    keys = sorted(net.state_dict())
    st.nn.convert_sync_batchnorm(net)
    assert type(net[1]) is st.nn.SyncBatchNorm and net[1].weight is bn.weight
    assert sorted(net.state_dict()) == keys and np.all(net[1].running_mean == 0.25)


def test_ddp_on_one_process_gives_the_plain_gradients():
    x = np.random.default_rng(2).standard_normal((6, 2, 4, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    plain, wrapped = _bn_net(np.random.default_rng(0)), _bn_net(np.random.default_rng(0))
    ddp = dist.DistributedDataParallel(wrapped, bucket_mb=1e-4)          # several small buckets
    assert len(ddp.buckets) > 1 and ddp.buckets[0][0] == "4.bias"           # reverse order: the last layer first
    for step in range(2):                                                # twice: accumulation adds
        st.nn.functional.cross_entropy(plain(x), y).backward()
        st.nn.functional.cross_entropy(ddp(x), y).backward()
        for (name, p), q in zip(plain.named_parameters(), wrapped.parameters()):
            np.testing.assert_allclose(q.grad, p.grad, atol=1e-12, err_msg=name)


class _HalfUsed(st.nn.Module):
    """A model whose forward never uses its second layer."""

    def __init__(self):
        super().__init__()
        self.used, self.unused = st.nn.Linear(3, 2, rng=0), st.nn.Linear(2, 2, rng=1)

    def forward(self, x):
        return self.used(x)


def test_ddp_names_parameters_without_gradient():
    x = np.ones((2, 3), np.float32)
    ddp = dist.DistributedDataParallel(_HalfUsed())
    ddp(x).sum().backward()
    with pytest.raises(RuntimeError, match="no gradient to 2 parameters .unused.weight, unused.bias"):
        ddp(x)
    ddp.synchronize()                                                    # counts them as zero: forward works again
    assert not ddp.unused.weight.grad.any()
    ddp(x)
    found = dist.DistributedDataParallel(_HalfUsed(), find_unused_parameters=True)
    found.zero_grad()
    found(x).sum().backward()
    found(x).sum().backward()                                            # no error: both steps complete
    np.testing.assert_allclose(found.used.bias.grad, [4.0, 4.0])          # 2 rows x 2 backward passes
    assert not found.unused.bias.grad.any()


# ------------------------------------------------------------------------------ mpirun -n 2
MPIRUN = shutil.which("mpirun")
try:
    import mpi4py  # noqa: F401
    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False
needs_mpi = pytest.mark.skipif(not (MPIRUN and HAVE_MPI4PY),
                               reason="needs mpirun and mpi4py: pip install \"strided[mpi]\"")
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def launch(config: dict, out: str, ranks: int, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the worker: ``ranks`` 0 means one plain process (no launcher)."""
    worker = [sys.executable, os.path.abspath(__file__), "worker", json.dumps(config), out]
    command = worker if ranks == 0 else [MPIRUN, "-n", str(ranks), "--oversubscribe", *worker]
    env = dict(os.environ, **MPI_ENV)
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang): {error.stderr}")


def run_ok(config, out, ranks):
    result = launch(config, out, ranks)
    assert result.returncode == 0, result.stdout + result.stderr
    with np.load(os.path.join(out, "weights.npz")) as f:
        weights = dict(f)
    with open(os.path.join(out, "history.json")) as f:
        return weights, json.load(f)


def assert_same_training(one, two):
    (w1, h1), (w2, h2) = one, two
    assert sorted(w1) == sorted(w2)
    for key in w1:
        np.testing.assert_allclose(w2[key], w1[key], rtol=2e-4, atol=2e-5, err_msg=key)
    assert len(h1) == len(h2)
    for r1, r2 in zip(h1, h2):
        for key in r1:
            if key != "seconds":
                assert r2[key] == pytest.approx(r1[key], rel=1e-4, abs=1e-5), key


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("model", ["plain", "batchnorm"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_train_the_weights_of_one_process(tmp_path, model, optimizer):
    config = {"model": model, "optimizer": optimizer, "batch_size": 9, "epochs": 2}   # 9 = 4 + 5: uneven parts
    one = run_ok(config, str(tmp_path / "one"), 0)
    two = run_ok(config, str(tmp_path / "two"), 2)
    assert_same_training(one, two)


@needs_mpi
@pytest.mark.slow
def test_resume_with_another_number_of_ranks(tmp_path):
    config = {"model": "batchnorm", "optimizer": "sgd", "batch_size": 8, "epochs": 2}
    whole = run_ok(config, str(tmp_path / "whole"), 0)
    first = dict(config, epochs=1, checkpoint=str(tmp_path / "ckpt"))
    run_ok(first, str(tmp_path / "first"), 2)                           # epoch 1 on two ranks
    resumed = run_ok(dict(config, resume=str(tmp_path / "ckpt")), str(tmp_path / "second"), 0)   # epoch 2 on one
    assert_same_training(whole, resumed)


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("failure", ["error", "nan"])
def test_a_failing_rank_stops_every_rank_naming_it(tmp_path, failure):
    config = {"model": "plain", "optimizer": "sgd", "batch_size": 8, "epochs": 2, "fail": failure}
    result = launch(config, str(tmp_path / "fail"), 2, timeout=120)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    if failure == "error":
        assert "rank 1 of 2" in text and "worker failure on purpose" in text, text
    else:
        assert "not finite" in text or "the loss is nan" in text, text
        assert "on rank 1 of 2" in text, text


@needs_mpi
@pytest.mark.slow
def test_strided_train_under_mpirun_resumes_on_one_process(tmp_path):
    """``mpirun -n 2 strided train`` for one epoch, ``--resume`` on one process: the weights and
    metrics of one process trained straight through."""
    strided = shutil.which("strided")
    if strided is None:
        pytest.skip("the strided command is not installed (pip install -e .)")
    common = ["train", "--epochs", "2", "--limit", "200", "--batch-size", "20", "--no-progress"]
    env = dict(os.environ, **MPI_ENV)

    def run(command):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    run([strided, *common, "--out", str(tmp_path / "one")])
    two = run([MPIRUN, "-n", "2", "--oversubscribe", strided, *common, "--out", str(tmp_path / "two"), "--stop-after", "1"])
    assert two.count("epoch   1/1") == 1 and two.count(" on digits: ") == 1, two   # rank 0 alone prints
    run([strided, "train", "--resume", "--out", str(tmp_path / "two"), "--no-progress"])
    metrics, states = [], []
    for name in ("one", "two"):
        with open(tmp_path / name / "metrics.json") as f:
            metrics.append(json.load(f))
        states.append(st.load(tmp_path / name / "checkpoint.npz"))
    assert metrics[0]["final"]["test_loss"] == pytest.approx(metrics[1]["final"]["test_loss"], rel=1e-4)
    one, two = states
    assert list(one["model"]) == list(two["model"])
    for key, value in one["model"].items():
        np.testing.assert_allclose(two["model"][key], value, rtol=2e-4, atol=2e-5, err_msg=key)
    # the momentum buffers are sums of gradients that nearly cancel in this barely trained network
    # (test accuracy at chance after two epochs): a batch of 20 and two of 10 round differently,
    # and that moved the buffers by up to 0.4% of their largest value (so do the NumPy and the
    # compiled paths, one process each) while the weights agreed to 5e-6; to 1%, they must agree
    buffers = [[s["optimizer"]["state"][i]["momentum_buffer"] for i in range(len(one["model"]))] for s in states]
    for i, (b1, b2) in enumerate(zip(*buffers)):
        np.testing.assert_allclose(b2, b1, rtol=0, atol=1e-2 * np.abs(b1).max(), err_msg=f"momentum buffer {i}")


# ------------------------------------------------------------------------------ the worker
def worker_data(rng):
    x = rng.standard_normal((36, 2, 4, 4)).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 1].mean(axis=(1, 2)) > 0)   # 3 classes
    return x, y


def worker_model(kind, rng):
    # no bias before a batch norm: its gradient is zero up to rounding, which Adam would magnify
    layers = [st.nn.Conv2d(2, 4, 3, padding=1, bias=kind != "batchnorm", rng=rng)]
    if kind == "batchnorm":
        layers.append(st.nn.BatchNorm2d(4))
    layers += [st.nn.ReLU(), st.nn.MaxPool2d(2), st.nn.Flatten(), st.nn.Linear(16, 3, rng=rng)]
    return st.nn.Sequential(*layers)


def worker(config: dict, out: str) -> None:
    group = dist.init()
    with dist.abort_on_error():
        rng = np.random.default_rng(0)
        x, y = worker_data(rng)
        model = worker_model(config["model"], rng)
        if group.world_size > 1:
            st.nn.convert_sync_batchnorm(model)
            model = dist.DistributedDataParallel(model, bucket_mb=1e-3)   # several buckets
        if config.get("fail") == "nan":
            x[30:] = np.nan                              # the first batch's positions 4.. (rank 1's part) of some epoch
        params = model.parameters()
        optimizer = (st.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3) if config["optimizer"] == "sgd"
                     else st.optim.Adam(params, lr=0.01))
        flip = st.data.transforms.RandomHorizontalFlip()
        loader = DataLoader((x, y), batch_size=config["batch_size"], shuffle=True, seed=5, transform=flip)
        callbacks = []
        if config.get("fail") == "error":
            class Fail(st.train.callbacks.Callback):
                def on_batch_end(self, step, logs=None):
                    if step == 3 and group.rank == 1:
                        raise RuntimeError("worker failure on purpose")
            callbacks.append(Fail())
        history = st.train.fit(model, loader, (x[:20], y[:20]), optimizer=optimizer, epochs=config["epochs"],
                               val_batch_size=6, log=None, progress=False, callbacks=callbacks,
                               checkpoint_dir=config.get("checkpoint"), resume_from=config.get("resume"))
        if dist.is_main():
            os.makedirs(out, exist_ok=True)
            np.savez(os.path.join(out, "weights.npz"), **model.state_dict())
            with open(os.path.join(out, "history.json"), "w") as f:
                json.dump(history, f)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "worker":
    sys.path.insert(0, HERE)
    worker(json.loads(sys.argv[2]), sys.argv[3])
