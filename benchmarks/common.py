"""Helpers shared by the benchmark scripts: timing protocol, fresh worker processes, CPU contention.

Protocol (issue 6): warm-up, then the median of repetitions inside a process; each side runs in
several fresh processes and the best process counts, because PyTorch's speed on a small CPU
differs between processes (bimodally, up to ~1.7x here).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MARKER = "@@RESULT@@ "
TORCH_THREADS = 2
CONTENDED_CPUS = 0.25           # other processes' CPU use above which a measurement is flagged
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")   # the issue asks for runs with these unset


# ----------------------------------------------------------------------------------- timing
def time_training(step, batch: int, steps: int, rounds: int, warmup: int) -> dict:
    """Images/s from the median of ``rounds`` timings of ``steps`` calls of ``step()``."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"images_per_s": steps * batch / median, "ms_per_step": 1e3 * median / steps, "round_s": times}


def time_latency(forward, calls: int, warmup: int) -> dict:
    """Median and best milliseconds of single ``forward()`` calls."""
    for _ in range(warmup):
        forward()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times)}


def calibrated_count(call, seconds: float) -> int:
    """How many calls of ``call()`` fill about ``seconds`` (timed from one call; at least 1)."""
    start = time.perf_counter()
    call()
    return max(1, round(seconds / max(time.perf_counter() - start, 1e-9)))


def time_rounds(step, batch: int, rounds: int, round_s: float, warmup: int) -> dict:
    """``time_training`` with as many steps per round as fill ``round_s`` seconds (workloads differ 1000x)."""
    for _ in range(warmup):
        step()
    return time_training(step, batch, calibrated_count(step, round_s), rounds, 0)


def time_latency_for(forward, seconds: float, warmup: int) -> dict:
    """``time_latency`` over as many single calls as fill ``seconds``."""
    for _ in range(warmup):
        forward()
    return time_latency(forward, calibrated_count(forward, seconds / 3) * 3, 0)


def rss_mib() -> float:
    """This process's resident set size now, MiB (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_strided():
    try:
        import strided
    except ImportError:  # not installed: run from the checkout
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        import strided
    return strided


def strided_worker():
    """``strided`` for a worker about to time it, set up as ``strided train`` runs: freed memory kept
    for reuse (``strided.memory.keep_freed_memory()``, the explicit call that importing ``strided``
    no longer makes; without it about 40% of a LeNet-5 batch-64 step was page faults)."""
    strided = import_strided()
    strided.memory.keep_freed_memory()
    return strided


# ----------------------------------------------------------------------------------- processes
def spawn(script: str, args: list[str], env_changes: dict | None = None, unset: tuple = ()) -> dict:
    """Run ``python script *args`` in a fresh process; return the JSON it printed after ``MARKER``."""
    env = dict(os.environ)
    env.update(env_changes or {})
    for var in unset:
        env.pop(var, None)
    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"worker {args} failed (exit {proc.returncode})")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    return json.loads(lines[-1][len(MARKER):])


def emit(result: dict) -> None:
    print(MARKER + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------- contention
def usable_cpus() -> int:
    """CPUs this process may run on (``taskset`` and container limits), not all the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_snapshot() -> tuple[float, float] | None:
    """``(machine busy CPU-seconds, CPU-seconds of this process and its finished children)``, Linux only."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    machine = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")   # all but idle, iowait
    mine = sum(getattr(resource.getrusage(who), attr) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for attr in ("ru_utime", "ru_stime"))
    return machine, mine


def others_busy(before, after, seconds: float) -> float | None:
    """CPUs' worth of work done by other processes between two ``cpu_snapshot()``s."""
    if before is None or after is None or seconds <= 0:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / seconds


def busy_cpus(interval: float = 1.0) -> float | None:
    """How many CPUs' worth of work other processes are doing now, measured over ``interval`` s."""
    before = cpu_snapshot()
    time.sleep(interval)
    return others_busy(before, cpu_snapshot(), interval)


def load_warning() -> bool:
    """Warn when other work is competing for the CPUs (measured over a second, else the load average)."""
    busy = busy_cpus()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            return False
    if busy > CONTENDED_CPUS:
        print(f"WARNING: other processes keep {busy:.1f} CPUs busy (of {usable_cpus()} usable) before starting; "
              f"both sides' numbers will suffer (OpenBLAS threads especially)")
    return busy > CONTENDED_CPUS


def contended(run: dict) -> bool:
    return (run.get("others_cpus") or 0) > CONTENDED_CPUS


class BusyProcesses:
    """``n`` processes spinning on the CPUs for the duration of a ``with`` block (the contention mode)."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:          # only the processes started here, by their own handles
            proc.terminate()
        for proc in self.procs:
            proc.wait()
        return False


def timed_spawn(script: str, args: list[str], **kwargs) -> dict:
    """``spawn`` plus the wall time and how busy other processes kept the CPUs meanwhile."""
    t0, cpu0 = time.perf_counter(), cpu_snapshot()
    result = spawn(script, args, **kwargs)
    wall = time.perf_counter() - t0
    result["wall_s"] = wall
    result["others_cpus"] = others_busy(cpu0, cpu_snapshot(), wall)
    return result


def openblas_env_note() -> str:
    """Which of the OpenBLAS tuning variables are set in this environment."""
    set_vars = [f"{v}={os.environ[v]}" for v in OPENBLAS_TUNING_VARS if v in os.environ]
    return ", ".join(set_vars) if set_vars else "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set"


def matmul_peak_gflops() -> float:
    """Best float32 GFLOP/s of a 2048^2 NumPy matrix product in this process."""
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(5))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
