"""Where a step's time goes, per workload: by layer family, and the array functions inside them.

    python benchmarks/profile_step.py --workloads resnet20_train vgg11_infer --steps 5 --threads 1

Two passes over the same steps of one strided workload (``workloads.py``):

1. cProfile, its self time grouped by the source file of the function that spent it, with the
   time of NumPy's C functions (reductions, einsum, copies) given to the files that called them:
   convolution (``conv*.py``, ``windows.py``, ``blocked_matmul.py``), normalisation, element-wise
   activations, pooling, losses, the optimizer, and the engine (autograd, modules, Python).
2. Every call the ops make through the array namespace (``backend.CPU.xp``) timed by name: the
   matrix products (``matmul``, ``einsum``), the window copies (``copyto``) and the rest. Operators
   (``a * b``) do not pass through the namespace; they stay in pass 1's families.

Each pass reports shares of its own (instrumented) step time; the plain step time comes first.

Shape: each workload's own input batch (``workloads.WORKLOADS``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

FAMILIES = [("conv", "convolution"), ("windows", "convolution"), ("blocked_matmul", "convolution"),
            ("local", "convolution"), ("separable", "convolution"), ("winograd", "convolution"),
            ("depthwise", "convolution"), ("elementwise", "element-wise"), ("norm", "normalisation"),
            ("activation", "element-wise"), ("dropout", "element-wise"), ("pool", "pooling"),
            ("adaptive", "pooling"), ("upsample", "resampling"), ("padding", "resampling"), ("loss", "loss"),
            ("optim", "optimizer"), ("linear", "linear")]
MATRIX = {"matmul", "dot", "einsum", "tensordot", "vdot"}
COPIES = {"copyto", "ascontiguousarray", "concatenate", "stack", "pad"}


def family(filename: str) -> str:
    base = filename.replace(os.sep, "/")
    if "/strided/" not in base:
        return "engine (autograd, modules, Python)"
    name = base.rsplit("/", 1)[-1]
    for key, label in FAMILIES:
        if key in name or f"/{key}/" in base:
            return label
    return "engine (autograd, modules, Python)"


def by_family(stats: pstats.Stats) -> dict[str, float]:
    """Self time per family; a C function's time is split among its callers by their calls' time."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, self_time, _, callers) in stats.stats.items():
        if filename != "~" or not callers:
            totals[family(filename)] += self_time
            continue
        spent = sum(c[3] for c in callers.values()) or 1.0
        for (caller_file, _, _), c in callers.items():
            totals[family(caller_file)] += self_time * c[3] / spent
    return totals


class TimingNamespace:
    """NumPy, with the wall time of each function called through it summed by name."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __getattr__(self, name):
        obj = getattr(np, name)
        if isinstance(obj, type) or not callable(obj):
            return obj
        timed = _Timed(obj, name, self)
        return timed if isinstance(obj, np.ufunc) else timed.__call__


class _Timed:
    """One function (or ufunc: its methods such as ``.reduce`` pass through untimed), timed when called."""

    def __init__(self, function, name: str, owner: TimingNamespace):
        self.function, self.name, self.owner = function, name, owner

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.owner.seconds[self.name] += time.perf_counter() - start
            self.owner.calls[self.name] += 1

    def __getattr__(self, attr):
        return getattr(self.function, attr)


def make_step(st, workload):
    from strided.nn import functional as F
    model = workload.strided(st)
    opt = st.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = workloads.random_batch(workload)
    if workload.kind == "train":
        model.train()

        def step():
            opt.zero_grad()
            F.cross_entropy(model(st.Tensor(x)), y).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with st.no_grad():
                model(st.Tensor(x))
    return step


def profile(name: str, steps: int) -> None:
    import strided as st
    from strided import backend
    st.memory.keep_freed_memory()
    step = make_step(st, workloads.WORKLOADS[name])
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    plain = (time.perf_counter() - start) / steps
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    families = by_family(pstats.Stats(profiler))
    total = sum(families.values())
    timing, saved = TimingNamespace(), backend.CPU.xp
    backend.CPU.xp = timing
    try:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        timed_total = time.perf_counter() - start
    finally:
        backend.CPU.xp = saved
    print(f"\n### {name}: {plain * 1e3:.1f} ms a step ({workloads.WORKLOADS[name].batch} images)\n")
    print("| layer family (cProfile self time) | share |\n|---|---|")
    for label, seconds in sorted(families.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {100 * seconds / total:.1f}% |")
    print("\n| through the namespace | share of the step | calls a step |\n|---|---|---|")
    groups = (("matrix products", lambda k: k in MATRIX), ("window and layout copies", lambda k: k in COPIES),
              ("other namespace calls", lambda k: k not in MATRIX | COPIES))
    for label, member in groups:
        seconds = sum(v for k, v in timing.seconds.items() if member(k))
        calls = sum(n for k, n in timing.calls.items() if member(k))
        print(f"| {label} | {100 * seconds / timed_total:.1f}% | {calls // steps} |")
    top = sorted(timing.seconds.items(), key=lambda kv: -kv[1])[:6]
    print("\nlargest: " + ", ".join(f"{k} {100 * v / timed_total:.1f}%" for k, v in top))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["lenet5_train_64", "resnet20_train", "vgg11_infer"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the library's)")
    args = parser.parse_args(argv)
    if args.threads:
        import strided as st
        st.set_num_threads(args.threads)
    for name in args.workloads:
        profile(name, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
