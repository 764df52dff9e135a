"""strided against PyTorch on issue 18's workloads, each side in fresh processes, alternated.

Every workload (``workloads.py``) runs ``--processes`` times per side, each run in a fresh
process: strided and PyTorch eager, each with 2 threads (``st.set_num_threads(2)``,
``torch.set_num_threads(2)``) and, for 2-D images, PyTorch with ``channels_last`` tensors and
weights; the order of the sides rotates from one round of processes to the next. Per side it prints the best and the median process, the
spread between processes (warned above 20%: rerun), GFLOP/s as a share of the float32 matrix
product peak measured at start-up in the same run, and peak RSS; the ratio is strided's best
over PyTorch's best (eager or channels_last, whichever is faster), as speeds: above 1 strided
is faster, for latencies too.

    python benchmarks/run.py                                   # every workload, 6 processes per side
    python benchmarks/run.py --workloads lenet5_train_64 mnist1d_train --processes 8
    python benchmarks/run.py --busy                            # with a busy process on every CPU
    python benchmarks/run.py --threads 1 --busy                # both sides on one thread, under load
    python benchmarks/run.py --quick --workloads mnist1d_train # smoke run: 1 process per side
    python benchmarks/run.py --markdown >> benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (OPENBLAS_TUNING_VARS, TORCH_THREADS, BusyProcesses, contended, emit, load_warning,  # noqa: E402
                    matmul_peak_gflops, openblas_env_note, peak_rss_mib, rss_mib, strided_worker, time_latency_for,
                    time_rounds, timed_spawn, usable_cpus)
from report import compile_package, import_seconds, markdown_table, summarize, text_report  # noqa: E402
from workloads import LR, MOMENTUM, WORKLOADS, prepare_strided, prepare_torch, random_batch  # noqa: E402

SCRIPT = str(Path(__file__).resolve())
MIRROR_MODULES = ("torch_zoo", "test_resnet", "test_mobilenet", "test_unet")


# ----------------------------------------------------------------------------------- workers
def measure(workload, model, loss_fn, opt, x, y, no_grad, args) -> dict:
    """Time one workload's step (training) or forward pass (inference, latency) on one side."""
    if workload.kind == "train":
        model.train()

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return time_rounds(step, workload.batch, args.rounds, args.round_s, args.warmup)
    model.eval()

    def forward():
        with no_grad():
            return model(x)
    if workload.kind == "infer":
        return time_rounds(forward, workload.batch, args.rounds, args.round_s, args.warmup)
    return time_latency_for(forward, args.rounds * args.round_s, args.warmup * 5)


def engine_path(st) -> str:
    """Which of strided's paths ran: ``numba`` (the compiled kernels of ``strided.fast``, with the
    kernels that were loaded) or ``NumPy``."""
    if st.fast.path() == "numpy":
        return "NumPy"
    loaded = sorted(name.rsplit(".", 1)[-1] for name in sys.modules if name.startswith("strided.fast."))
    return "numba (" + ", ".join(loaded) + ")" if loaded else "numba (no kernel used)"


def run_strided(workload, args) -> dict:
    st = strided_worker()     # keeps freed memory for reuse, as `strided train` does
    st.set_num_threads(args.threads or TORCH_THREADS)   # the BLAS and strided's own kernels, as PyTorch's
    model = workload.strided(st)
    x, y = random_batch(workload)
    opt = st.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = st.nn.CrossEntropyLoss()
    if workload.prepared:
        model = prepare_strided(st, model, x)
    if workload.kind == "pipeline":
        result = run_pipeline(st, workload, model, opt, loss_fn, args)
    else:
        result = measure(workload, model, loss_fn, opt, st.Tensor(x), y, st.no_grad, args)
    assert "torch" not in sys.modules, "importing strided pulled in torch"
    result.update(peak_rss_mib=peak_rss_mib(), threads=st.get_num_threads(), path=engine_path(st))
    return result


def run_pipeline(st, workload, model, opt, loss_fn, args) -> dict:
    """The loader's time per batch (shuffled, ``shift:2`` augmentation, as ``strided train`` on grey images)
    as a share of a training step at the same batch size."""
    from strided.train.job import augment_transform
    x, y = random_batch(workload, batch=workload.batch * 32, seed=1)
    loader = st.data.DataLoader((x, y), batch_size=workload.batch, shuffle=True, drop_last=True, seed=0,
                                transform=augment_transform("shift:2", workload.shape))
    batches = iter(())

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(loader)
            return next(batches)
    xb, yb = next_batch()
    as_training = dataclasses.replace(workload, kind="train")
    step = measure(as_training, model, loss_fn, opt, st.Tensor(xb), yb, st.no_grad, args)
    load = time_rounds(next_batch, workload.batch, args.rounds, args.round_s, args.warmup)
    return {"images_per_s": load["images_per_s"], "loader_ms": load["ms_per_step"], "step_ms": step["ms_per_step"],
            "share": load["ms_per_step"] / step["ms_per_step"]}


def run_torch(workload, args, channels_last: bool) -> dict:
    import torch
    torch.set_num_threads(args.threads or TORCH_THREADS)
    from workloads import test_module
    before = rss_mib()
    for name in MIRROR_MODULES:      # the test modules holding the mirrors also import pytest and strided
        test_module(name)
    mirrors_mib = rss_mib() - before
    torch.manual_seed(0)
    model = workload.torch(torch)
    x, y = (torch.from_numpy(a) for a in random_batch(workload))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    if workload.prepared:
        model = prepare_torch(torch, model, x)
    result = measure(workload, model, torch.nn.CrossEntropyLoss(), opt, x, y, torch.no_grad, args)
    # the mirrors' modules (pytest, strided) are not PyTorch's memory: their resident size is left out
    result.update(peak_rss_mib=peak_rss_mib() - mirrors_mib, mirrors_mib=mirrors_mib,
                  threads=torch.get_num_threads(), torch=torch.__version__)
    return result


def run_worker(side: str, name: str, args) -> dict:
    workload = WORKLOADS[name]
    if side == "strided":
        return run_strided(workload, args)
    return run_torch(workload, args, channels_last=side == "torch_cl")


# ----------------------------------------------------------------------------------- driver
def measure_all(args) -> dict:
    """``{workload: {side: [result of each process]}}``, processes alternated between sides and workloads."""
    timing = ["--rounds", str(args.rounds), "--round-s", str(args.round_s), "--warmup", str(args.warmup)]
    if args.threads:
        timing += ["--threads", str(args.threads)]
    results = {name: {side: [] for side in WORKLOADS[name].sides(args.channels_last)} for name in args.workloads}
    for i in range(args.processes):
        for name in args.workloads:
            sides = list(results[name])
            sides = sides[i % len(sides):] + sides[:i % len(sides)]        # who goes first rotates
            for side in sides:
                run = timed_spawn(SCRIPT, ["--worker", side, name] + timing,
                                  unset=OPENBLAS_TUNING_VARS if args.unset_openblas_env else (),
                                  env_changes={"STRIDED_FAST": "0"} if args.numpy else None)
                results[name][side].append(run)
                note = "  (other processes competed)" if contended(run) and not args.busy else ""
                print(f"  {i + 1}/{args.processes} {name:<20} {side:<8} {run['wall_s']:5.1f} s{note}",
                      file=sys.stderr, flush=True)
    return results


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS), metavar="NAME",
                   help="default: all of " + ", ".join(WORKLOADS))
    p.add_argument("--processes", type=int, default=None, help="fresh processes per side and workload (default 6)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per process; the median counts (default 5)")
    p.add_argument("--round-s", type=float, default=None, help="seconds per timed round (default 1.0)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help=f"threads on both sides (st.set_num_threads, torch.set_num_threads; default {TORCH_THREADS})")
    p.add_argument("--busy", action="store_true", help="a competing busy process on every usable CPU while measuring")
    p.add_argument("--unset-openblas-env", action="store_true",
                   help="run the workers without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in their environment")
    p.add_argument("--numpy", action="store_true",
                   help="strided on NumPy alone (STRIDED_FAST=0 for the workers); default: the compiled kernels "
                        "where Numba is installed (strided[fast])")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="skip the PyTorch channels_last processes")
    p.add_argument("--no-import-time", dest="import_time", action="store_false", help="skip the import-time row")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 process per side, 1 short round")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table for RESULTS.md")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the summary and every process's result")
    p.add_argument("--worker", nargs=2, metavar=("SIDE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(processes=(1, 6), rounds=(1, 5), round_s=(0.05, 1.0), warmup=(1, 3))
    for key, (quick, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    if min(args.processes, args.rounds) < 1 or args.round_s <= 0 or args.warmup < 0 or (args.threads or 1) < 1:
        p.error("--processes, --rounds, --round-s and --threads must be positive, --warmup at least 0")
    if args.quick and not any(a.startswith("--no-import") for a in (argv or sys.argv[1:])):
        args.import_time = False
    return args


def header(args, peak: float) -> str:
    threads = f"{args.threads or TORCH_THREADS} threads on both sides (st.set_num_threads, torch.set_num_threads)"
    mode = f"; BUSY: {usable_cpus()} competing processes spinning during every measurement" if args.busy else ""
    unset = " (unset for the workers)" if args.unset_openblas_env else ""
    return (f"{time.strftime('%Y-%m-%d')}, {cpu_name()}, {usable_cpus()} usable CPUs; python "
            f"{platform.python_version()}, numpy {np.__version__}; {threads}; {openblas_env_note()}{unset}; "
            f"float32 matmul peak {peak:.0f} GFLOP/s; best and median of {args.processes} fresh process(es) per side"
            f"{mode}")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        emit(run_worker(*args.worker, args))
        return
    peak = matmul_peak_gflops()              # before any competing process starts
    if not args.busy:
        load_warning()
    start = time.perf_counter()
    if args.busy:
        with BusyProcesses(usable_cpus()):
            results = measure_all(args)
    else:
        results = measure_all(args)
    if args.import_time:
        compile_package("strided")     # as installed: its bytecode written (torch's was, by pip)
    imports = {m: import_seconds(m, 5) for m in ("strided", "torch")} if args.import_time else None
    summary = summarize(results, peak, busy=args.busy)
    print(header(args, peak))
    print(markdown_table(summary, imports) if args.markdown else text_report(summary, imports))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"peak_gflops": peak, "busy": args.busy, "threads": args.threads,
                                         "summary": summary, "imports": imports, "processes": results}, indent=1))


if __name__ == "__main__":
    main()
