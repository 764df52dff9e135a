"""LeNet-5 throughput and latency: strided against PyTorch eager, on this machine's CPU.

Trains LeNet-5 (1x28x28 input, first convolution padded by 2) with SGD (lr 0.01, momentum 0.9)
and cross-entropy on random float32 data, once with ``strided`` and once with an identical
``torch.nn`` network, and measures

* training throughput (images/s) at each batch size: warm-up steps, then the median over
  ``--rounds`` timed rounds of ``--steps`` steps each;
* inference latency at batch 1 (median ms over many single forward passes, under
  ``strided.no_grad()`` / ``torch.no_grad()``).

PyTorch's speed on a small CPU differs between fresh processes (bimodally, up to ~1.7x here),
so each side is run in ``--processes`` fresh subprocesses (interleaved strided, torch,
strided, ...) and the best result per side and workload is reported; every process's
figure is printed too. The strided worker never imports torch (checked), and it checks
that every activation, gradient, parameter and momentum buffer stays float32.

    python benchmarks/bench_lenet.py                      # default, about 1-2 minutes
    python benchmarks/bench_lenet.py --quick              # smoke run, about 15 s
    python benchmarks/bench_lenet.py --batch-sizes 32 128 --steps 30 --processes 5
    python benchmarks/bench_lenet.py --blas-threads 1     # strided with a single-threaded BLAS
    python benchmarks/bench_lenet.py --profile 256        # cProfile of strided training steps
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (BLAS_THREAD_VARS, CONTENDED_CPUS, MARKER, TORCH_THREADS, contended,  # noqa: E402
                    cpu_snapshot, import_strided, load_warning, matmul_peak_gflops, others_busy, peak_rss_mib,
                    strided_worker, time_latency, time_training, usable_cpus)
from common import spawn as run_worker  # noqa: E402
from workloads import torch_lenet5  # noqa: E402

LR, MOMENTUM = 0.01, 0.9
IN_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


# ----------------------------------------------------------------------------------- timing
def random_batch(batch: int, seed: int = 0):
    """Random float32 images ``(B, 1, 28, 28)`` and int64 labels ``(B,)``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + IN_SHAPE, dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, size=batch, dtype=np.int64)
    return x, y


# ----------------------------------------------------------------------------------- strided side


def strided_setup(st, batch: int, seed: int = 0):
    """A fresh LeNet-5, its SGD and loss, and a closure doing one training step."""
    model = st.models.create_model("lenet5", input_size=28, seed=seed)
    model.train()
    opt = st.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = st.nn.CrossEntropyLoss()
    x, y = random_batch(batch, seed)
    xt = st.Tensor(x)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), y)
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


class Float32Audit:
    """Records the dtype of every op output and every gradient an op's backward returns.

    Wraps ``Tensor.from_op`` for the duration of a ``with`` block (no library change): each
    coarse op (conv, pool, linear, relu, loss, ...) passes through it, forward and backward.
    """

    def __init__(self, st):
        self.tensor_cls = st.Tensor
        self.records: list[tuple[str, str, np.dtype]] = []   # (op, 'out' | 'grad', dtype)

    def __enter__(self):
        self.original = self.tensor_cls.__dict__["from_op"]   # the classmethod object itself
        plain = self.original.__func__
        records = self.records

        def from_op(cls, data, parents, backward, op):
            records.append((op, "out", np.asarray(data).dtype))

            def checked_backward(g):
                grads = backward(g)
                for grad in grads:
                    if grad is not None:
                        records.append((op, "grad", np.asarray(grad).dtype))
                return grads
            return plain(cls, data, parents, checked_backward, op)
        self.tensor_cls.from_op = classmethod(from_op)
        return self

    def __exit__(self, *exc):
        self.tensor_cls.from_op = self.original
        return False


def check_strided_float32(st, model, opt, step) -> dict:
    """One audited training step, then parameters, gradients and momentum buffers: all float32."""
    f32 = np.dtype(np.float32)
    with Float32Audit(st) as audit:
        loss = step()
    bad = [f"{op} {kind} is {dt}" for op, kind, dt in audit.records if dt != f32]
    if loss.dtype != f32:
        bad.append(f"loss is {loss.dtype}")
    params = list(model.named_parameters())
    for name, p in params:
        if p.data.dtype != f32:
            bad.append(f"parameter {name} is {p.data.dtype}")
        if p.grad is not None and p.grad.dtype != f32:
            bad.append(f"gradient of {name} is {p.grad.dtype}")
    buffers = [s["momentum_buffer"] for s in opt.state.values() if "momentum_buffer" in s]
    bad += [f"momentum buffer is {b.dtype}" for b in buffers if b.dtype != f32]
    assert not bad, "strided upcast away from float32: " + "; ".join(bad)
    outs = sum(kind == "out" for _, kind, _ in audit.records)
    return {"op_outputs": outs, "op_grads": len(audit.records) - outs, "params": len(params),
            "grads": sum(p.grad is not None for _, p in params), "momentum_buffers": len(buffers)}


def run_strided(args) -> dict:
    st = strided_worker()     # keeps freed memory for reuse, as `strided train` does
    result = {"side": "strided", "train": {}, "float32": {}}
    for batch in args.batch_sizes:
        model, opt, step = strided_setup(st, batch)
        result["float32"][str(batch)] = check_strided_float32(st, model, opt, step)      # untimed
        result["train"][str(batch)] = time_training(step, batch, args.steps, args.rounds, args.warmup)
        # still float32 after all the timed steps
        assert all(p.data.dtype == np.float32 for p in model.parameters()), "parameters left float32"
    model = st.models.create_model("lenet5", input_size=28, seed=0).eval()
    x1 = st.Tensor(random_batch(1)[0])

    def forward():
        with st.no_grad():
            return model(x1)
    out = forward()
    assert out.dtype == np.float32 and not out.requires_grad, "inference output not float32 / recorded a graph"
    result["latency"] = time_latency(forward, args.latency_calls, args.warmup * 4)
    assert "torch" not in sys.modules, "importing strided pulled in torch"
    result["numpy"] = np.__version__
    result["peak_rss_mib"] = peak_rss_mib()
    return result


# ----------------------------------------------------------------------------------- PyTorch side
def run_torch(args) -> dict:
    import torch
    torch.set_num_threads(TORCH_THREADS)
    result = {"side": "torch", "train": {}, "torch": torch.__version__, "threads": torch.get_num_threads()}
    for batch in args.batch_sizes:
        torch.manual_seed(0)
        model = torch_lenet5(torch).train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        loss_fn = torch.nn.CrossEntropyLoss()
        x, y = random_batch(batch)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt), yt)
            loss.backward()
            opt.step()
            return loss
        result["train"][str(batch)] = time_training(step, batch, args.steps, args.rounds, args.warmup)
        assert all(p.dtype == torch.float32 for p in model.parameters())
    torch.manual_seed(0)
    model = torch_lenet5(torch).eval()
    x1 = torch.from_numpy(random_batch(1)[0])

    def forward():
        with torch.no_grad():
            return model(x1)
    result["latency"] = time_latency(forward, args.latency_calls, args.warmup * 4)
    result["peak_rss_mib"] = peak_rss_mib()
    return result


# ----------------------------------------------------------------------------------- profile
def run_profile(args) -> None:
    """cProfile of ``--steps`` strided training steps at batch ``args.profile`` (after warm-up)."""
    import cProfile
    import pstats
    load_warning()
    st = strided_worker()
    batch = args.profile
    _, _, step = strided_setup(st, batch)
    for _ in range(max(args.warmup, 1)):
        step()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(args.steps):
        step()
    profiler.disable()
    wall = time.perf_counter() - start
    print(f"strided LeNet-5, {args.steps} training steps at batch {batch}: {1e3 * wall / args.steps:.1f} ms/step "
          f"under cProfile ({args.steps * batch / wall:.0f} images/s)")
    for key in ("cumulative", "tottime"):
        print(f"\n--- top {args.profile_top} by {key} ---")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(key).print_stats(args.profile_top)


# ----------------------------------------------------------------------------------- driver
def spawn(side: str, args) -> dict:
    worker_args = ["--worker", side, "--batch-sizes", *map(str, args.batch_sizes), "--steps", str(args.steps),
                   "--rounds", str(args.rounds), "--warmup", str(args.warmup),
                   "--latency-calls", str(args.latency_calls)]
    threads = {}
    if side == "strided" and args.blas_threads:     # read by the BLAS when numpy loads it
        threads = {var: str(args.blas_threads) for var in BLAS_THREAD_VARS}
    return run_worker(str(Path(__file__).resolve()), worker_args, threads)


def fmt_rate(v: float) -> str:
    return f"{v:,.0f} img/s"


def mark(fmt: str, value: float, run: dict) -> str:
    return fmt.format(value) + ("*" if contended(run) else "")


def report(results: dict[str, list[dict]], args, peak: float) -> None:
    """The table: images/s or latency per side, the ratio, and strided's GFLOP/s as a share of ``peak``
    (2 FLOPs per multiply-accumulate from ``strided.summary``; x3 for a training step)."""
    st_runs, pt_runs = results["strided"], results["torch"]
    st = import_strided()
    macs = st.summary(st.models.create_model("lenet5", input_size=28, seed=0), (1, 1, 28, 28)).macs
    # the best process per side, among those no other process competed with when there are any
    st_clean = [r for r in st_runs if not contended(r)] or st_runs
    pt_clean = [r for r in pt_runs if not contended(r)] or pt_runs
    rows = []
    for batch in args.batch_sizes:
        key = str(batch)
        s = max(r["train"][key]["images_per_s"] for r in st_clean)
        t = max(r["train"][key]["images_per_s"] for r in pt_clean)
        rows.append((f"train, batch {batch} (img/s, higher better)", fmt_rate(s), fmt_rate(t), f"{s / t:.2f}x",
                     gflops(6 * macs * s, peak),
                     [r["train"][key]["images_per_s"] for r in st_runs],
                     [r["train"][key]["images_per_s"] for r in pt_runs], "{:,.0f}"))
    s, t = min(r["latency"]["median_ms"] for r in st_clean), min(r["latency"]["median_ms"] for r in pt_clean)
    rows.append(("inference, batch 1 (median ms, lower better)", f"{s:.3f} ms", f"{t:.3f} ms", f"{s / t:.2f}x",
                 gflops(2 * macs / (s / 1e3), peak),
                 [r["latency"]["median_ms"] for r in st_runs], [r["latency"]["median_ms"] for r in pt_runs], "{:.3f}"))

    head = ("workload", "strided", f"PyTorch {pt_runs[0]['torch']}", "ratio strided/PyTorch",
            "strided GFLOP/s (% of peak)")
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(5)]
    line = "-+-".join("-" * w for w in widths)
    print("\n" + " | ".join(h.ljust(w) for h, w in zip(head, widths)))
    print(line)
    for r in rows:
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r[:5], widths))))
    rss = {side: min(r["peak_rss_mib"] for r in runs) for side, runs in results.items()}
    print(f"peak RSS of a whole process (every batch size, then the latency run): strided {rss['strided']:.0f} MiB, "
          f"PyTorch {rss['torch']:.0f} MiB ({rss['strided'] / rss['torch']:.2f}x); "
          f"NumPy float32 matmul peak {peak:.0f} GFLOP/s")
    print(f"\nbest of {len(st_runs)} fresh processes per side; every process (training: median of {args.rounds} "
          f"rounds x {args.steps} steps; latency: median of {args.latency_calls} calls):")
    for r in rows:
        fmt = r[7]
        print(f"  {r[0].split(' (')[0]:<20} strided [{', '.join(mark(fmt, v, run) for v, run in zip(r[5], st_runs))}]"
              f"   PyTorch [{', '.join(mark(fmt, v, run) for v, run in zip(r[6], pt_runs))}]")
    if any(contended(run) for run in st_runs + pt_runs):
        print(f"  (* = other processes kept more than {CONTENDED_CPUS} CPUs busy during that process; the table "
              f"uses the unmarked processes of a side when it has any)")
    checks = st_runs[0]["float32"]
    print("\nfloat32 check (strided, one audited training step per batch size, then after the timed steps):")
    for batch, c in checks.items():
        print(f"  batch {batch}: {c['op_outputs']} op outputs, {c['op_grads']} op gradients, {c['params']} parameters, "
              f"{c['grads']} parameter gradients, {c['momentum_buffers']} momentum buffers: all float32 - OK")
    print("  inference output float32, no graph recorded - OK; torch never imported by strided - OK")


def gflops(flops_per_s: float, peak: float) -> str:
    return f"{flops_per_s / 1e9:.1f} ({100 * flops_per_s / 1e9 / peak:.0f}%)"


def blas_threads(args) -> str:
    if args.blas_threads:
        return str(args.blas_threads)
    set_vars = [f"{v}={os.environ[v]}" for v in BLAS_THREAD_VARS if v in os.environ]
    if set_vars:
        return ", ".join(set_vars)
    note = "" if usable_cpus() == os.cpu_count() else f", on {usable_cpus()} usable CPUs: oversubscribed"
    return f"default (OpenBLAS: {os.cpu_count()}{note})"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256],
                   help="training batch sizes (default 64 256)")
    p.add_argument("--steps", type=int, default=None, help="training steps per timed round (default 20; quick 5)")
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds per process; the median counts (default 5; quick 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up steps (default 5; quick 2); latency uses 4x")
    p.add_argument("--latency-calls", type=int, default=None,
                   help="timed batch-1 forward passes (default 300; quick 50)")
    p.add_argument("--processes", "--repeats", dest="processes", type=int, default=None,
                   help="fresh subprocesses per side, best one reported (default 3; quick 1)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="BLAS threads of the strided processes (default: the environment's, i.e. all cores)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer steps, rounds and processes")
    p.add_argument("--profile", type=int, metavar="BATCH", default=None,
                   help="instead of benchmarking, cProfile --steps strided training steps at this batch size")
    p.add_argument("--profile-top", type=int, default=15, help="rows of each profile listing (default 15)")
    p.add_argument("--json", type=Path, default=None, help="also write every process's raw results here")
    p.add_argument("--worker", choices=["strided", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(steps=(5, 20), rounds=(3, 5), warmup=(2, 5), latency_calls=(50, 300), processes=(1, 3))
    for name, (quick, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if min(args.batch_sizes + [args.steps, args.rounds, args.latency_calls, args.processes]) < 1 or args.warmup < 0:
        p.error("batch sizes, --steps, --rounds, --latency-calls and --processes must be positive")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        result = run_strided(args) if args.worker == "strided" else run_torch(args)
        print(MARKER + json.dumps(result))
        return
    if args.profile:
        run_profile(args)
        return
    print(f"LeNet-5 (1x28x28, SGD lr {LR} momentum {MOMENTUM}, cross-entropy, random float32 data)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {usable_cpus()} usable CPUs, "
          f"torch threads {TORCH_THREADS}, strided BLAS threads {blas_threads(args)}")
    print(f"batch sizes {args.batch_sizes}, {args.warmup} warm-up steps, {args.rounds} rounds x {args.steps} steps, "
          f"{args.processes} processes per side")
    busy = load_warning()
    results: dict[str, list[dict]] = {"strided": [], "torch": []}
    start = time.perf_counter()
    for i in range(args.processes):                # interleaved, so drifts hit both sides alike
        for side in ("strided", "torch"):
            t0, cpu0 = time.perf_counter(), cpu_snapshot()
            result = spawn(side, args)
            wall = time.perf_counter() - t0
            result["others_cpus"] = others_busy(cpu0, cpu_snapshot(), wall)
            results[side].append(result)
            other = result["others_cpus"]
            other = "" if other is None else f", other processes kept {other:.1f} CPUs busy"
            print(f"  process {i + 1}/{args.processes} {side:<7} done in {wall:5.1f} s{other}", flush=True)
    report(results, args, matmul_peak_gflops())
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    noisy = [f"{side} {i + 1}" for side, runs in results.items() for i, r in enumerate(runs) if contended(r)]
    if busy or noisy:
        print("WARNING: other processes competed for the CPUs (" + (", ".join(f"process {c}" for c in noisy)
              or "at the start") + "); those numbers are not trustworthy, rerun on an idle machine")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
