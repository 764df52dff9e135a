"""Issue 6's larger workloads: strided against PyTorch eager (2 threads), each side in fresh processes.

* CIFAR ResNet-20 training at batch 128 (SGD lr 0.01 momentum 0.9, cross-entropy, random data):
  images/s, and the process's peak RSS (``ru_maxrss``; the training process runs nothing else);
* VGG-11, CIFAR variant (3x32x32: the ``vgg11`` features, then Flatten and Linear 512->10),
  inference at batch 256 (images/s) and at batch 1 (median ms);
* ``import strided`` (and ``import torch``) wall time in a fresh interpreter, best of several.

Every workload of every side runs in its own fresh process, ``--processes`` times, interleaved;
the best process per side counts (PyTorch's speed differs between processes by up to ~1.7x).
GFLOP/s counts 2 FLOPs per multiply-accumulate (``strided.summary``), x3 for a training step
(forward, input gradient, weight gradient), as a share of a measured float32 NumPy matmul peak.

    python benchmarks/bench_models.py                  # about 5 minutes on 2 cores
    python benchmarks/bench_models.py --quick          # smoke run
    python benchmarks/bench_models.py --unset-openblas-env   # workers without OPENBLAS_CORETYPE/_L2_SIZE
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import (OPENBLAS_TUNING_VARS, TORCH_THREADS, contended, emit, import_strided, load_warning,
                    matmul_peak_gflops, openblas_env_note, peak_rss_mib, strided_worker, time_latency, time_training,
                    timed_spawn, usable_cpus)

SCRIPT = str(Path(__file__).resolve())
LR, MOMENTUM = 0.01, 0.9
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
# name: (model, kind, batch)
WORKLOADS = {
    "resnet20_train": ("resnet20", "train", 128),
    "vgg11_infer": ("vgg11_cifar", "infer", 256),
    "vgg11_latency": ("vgg11_cifar", "latency", 1),
}


def random_batch(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, 3, 32, 32), dtype=np.float32),
            rng.integers(0, 10, size=batch, dtype=np.int64))


# ----------------------------------------------------------------------------------- strided side
def strided_model(st, name: str):
    if name == "resnet20":
        return st.models.create_model("resnet20", seed=0)
    from strided.models.vgg import make_features
    return st.nn.Sequential(make_features(VGG11, rng=0), st.nn.Flatten(), st.nn.Linear(512, 10, rng=0))


def run_strided(workload: str, args) -> dict:
    st = strided_worker()     # keeps freed memory for reuse, as `strided train` does
    name, kind, batch = WORKLOADS[workload]
    model = strided_model(st, name)
    x, y = random_batch(batch)
    xt = st.Tensor(x)
    if kind == "train":
        model.train()
        opt = st.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = st.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(xt), y)
            loss.backward()
            opt.step()
        result = time_training(step, batch, args.steps, args.rounds, args.warmup)
    else:
        model.eval()

        def forward():
            with st.no_grad():
                return model(xt)
        assert forward().dtype == np.float32
        result = (time_training(forward, batch, args.steps, args.rounds, args.warmup) if kind == "infer"
                  else time_latency(forward, args.latency_calls, args.warmup * 4))
    assert "torch" not in sys.modules, "importing strided pulled in torch"
    result["peak_rss_mib"] = peak_rss_mib()
    return result


# ----------------------------------------------------------------------------------- PyTorch side
def torch_model(torch, name: str):
    nn = torch.nn
    if name == "vgg11_cifar":
        layers, c = [], 3
        for item in VGG11:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, item, 3, padding=1), nn.ReLU(inplace=True)]
                c = item
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))

    class Block(nn.Module):      # torchvision's BasicBlock with He et al.'s option-A shortcut
        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.pad = planes // 4 if stride != 1 or cin != planes else None

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            identity = x if self.pad is None else torch.nn.functional.pad(
                x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
            return self.relu(out + identity)

    blocks, cin = [], 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            blocks.append(Block(cin, planes, stride if i == 0 else 1))
            cin = planes
    return nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                         *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def run_torch(workload: str, args) -> dict:
    import torch
    torch.set_num_threads(TORCH_THREADS)
    torch.manual_seed(0)
    name, kind, batch = WORKLOADS[workload]
    model = torch_model(torch, name)
    x, y = random_batch(batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if kind == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt), yt).backward()
            opt.step()
        result = time_training(step, batch, args.steps, args.rounds, args.warmup)
    else:
        model.eval()

        def forward():
            with torch.no_grad():
                return model(xt)
        result = (time_training(forward, batch, args.steps, args.rounds, args.warmup) if kind == "infer"
                  else time_latency(forward, args.latency_calls, args.warmup * 4))
    result["peak_rss_mib"] = peak_rss_mib()
    result["torch"] = torch.__version__
    return result


# ----------------------------------------------------------------------------------- driver
def import_seconds(module: str, tries: int, unset: tuple) -> float:
    """Best wall time of ``import module`` in ``tries`` fresh interpreters."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {k: v for k, v in __import__("os").environ.items() if k not in unset}
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                    check=True).stdout) for _ in range(tries))


def macs_per_image(st, name: str) -> int:
    return st.summary(strided_model(st, name), (1, 3, 32, 32)).macs


def report(results: dict, args, peak: float, imports: dict) -> str:
    st = import_strided()
    rows = ["| workload | strided | PyTorch | ratio | strided GFLOP/s (% of peak) | processes strided / PyTorch |",
            "|---|---|---|---|---|---|"]
    for workload in args.workloads:
        name, kind, batch = WORKLOADS[workload]
        runs = {side: results[side][workload] for side in ("strided", "torch")}
        clean = {side: [r for r in rs if not contended(r)] or rs for side, rs in runs.items()}
        if kind == "latency":
            s, t = (min(r["median_ms"] for r in clean[side]) for side in ("strided", "torch"))
            flops = 2 * macs_per_image(st, name) / (s / 1e3) / 1e9
            cells = (f"{s:.2f} ms", f"{t:.2f} ms", f"{s / t:.2f}x (lower better)")
            each = [", ".join(f"{r['median_ms']:.2f}" + ("*" if contended(r) else "") for r in runs[side])
                    for side in ("strided", "torch")]
        else:
            s, t = (max(r["images_per_s"] for r in clean[side]) for side in ("strided", "torch"))
            flops = (6 if kind == "train" else 2) * macs_per_image(st, name) * s / 1e9
            cells = (f"{s:,.0f} img/s", f"{t:,.0f} img/s", f"{s / t:.2f}x")
            each = [", ".join(f"{r['images_per_s']:,.0f}" + ("*" if contended(r) else "") for r in runs[side])
                    for side in ("strided", "torch")]
        label = {"train": f"{name} train, batch {batch}", "infer": f"{name} inference, batch {batch}",
                 "latency": f"{name} inference, batch 1 (latency)"}[kind]
        rows.append(f"| {label} | {' | '.join(cells)} | {flops:.1f} ({100 * flops / peak:.0f}%) | "
                    f"{each[0]} / {each[1]} |")
    if "resnet20_train" in args.workloads:
        rss = {side: min(r["peak_rss_mib"] for r in results[side]["resnet20_train"]) for side in ("strided", "torch")}
        rows.append(f"| resnet20 train, batch 128: peak RSS | {rss['strided']:.0f} MiB | {rss['torch']:.0f} MiB | "
                    f"{rss['strided'] / rss['torch']:.2f}x (lower better) | | |")
    rows.append(f"| import time | {imports['strided']:.3f} s | {imports['torch']:.3f} s | "
                f"{imports['strided'] / imports['torch']:.2f}x (lower better) | | |")
    return "\n".join(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--steps", type=int, default=None, help="steps (batches) per timed round (default 3)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds; the median counts (default 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps (default 2)")
    p.add_argument("--latency-calls", type=int, default=None, help="timed batch-1 calls (default 50)")
    p.add_argument("--processes", type=int, default=None, help="fresh processes per side and workload (default 3)")
    p.add_argument("--unset-openblas-env", action="store_true",
                   help="run every worker with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", nargs=2, metavar=("SIDE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(steps=(1, 3), rounds=(2, 3), warmup=(1, 2), latency_calls=(10, 50), processes=(1, 3))
    for key, (quick, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        side, workload = args.worker
        emit((run_strided if side == "strided" else run_torch)(workload, args))
        return
    unset = OPENBLAS_TUNING_VARS if args.unset_openblas_env else ()
    peak = matmul_peak_gflops()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {usable_cpus()} usable CPUs, torch threads "
          f"{TORCH_THREADS}; {openblas_env_note()}{' (unset for the workers)' if unset else ''}; "
          f"NumPy float32 matmul peak {peak:.0f} GFLOP/s")
    load_warning()
    common = ["--steps", str(args.steps), "--rounds", str(args.rounds), "--warmup", str(args.warmup),
              "--latency-calls", str(args.latency_calls)]
    results = {"strided": {w: [] for w in WORKLOADS}, "torch": {w: [] for w in WORKLOADS}}
    start = time.perf_counter()
    for i in range(args.processes):
        for workload in args.workloads:
            for side in ("strided", "torch"):
                r = timed_spawn(SCRIPT, ["--worker", side, workload] + common, unset=unset)
                results[side][workload].append(r)
                print(f"  {i + 1}/{args.processes} {workload:<15} {side:<7} {r['wall_s']:5.1f} s"
                      f"{'  (contended)' if contended(r) else ''}", flush=True)
    imports = {m: import_seconds(m, 5 if not args.quick else 2, unset) for m in ("strided", "torch")}
    print()
    print(report(results, args, peak, imports))
    print(f"\nbest of {args.processes} fresh processes per side (* = contended); total "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
