"""Summaries and tables of ``run.py``'s measurements: best and median per side, spread, ratio, GFLOP/s, RSS.

A side's figure per process is images/s (training, inference; higher is better), a median latency
in ms (batch 1; lower is better), or the loader's share of a training step (the data pipeline;
lower is better). The ratio is strided's best over PyTorch's best as speeds (above 1: strided is
faster), PyTorch's best being the faster of eager and ``channels_last``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from common import import_strided
from workloads import WORKLOADS, flops_per_image, macs_per_image

SPREAD_WARNING = 0.20        # spread between a side's processes above which the figures are flagged
SIDE_NAMES = {"strided": "strided", "torch": "PyTorch eager", "torch_cl": "PyTorch channels_last"}


def figure(kind: str, run: dict) -> float:
    return {"latency": run.get("median_ms"), "pipeline": run.get("share")}.get(kind, run.get("images_per_s"))


def lower_is_better(kind: str) -> bool:
    return kind in ("latency", "pipeline")


def summarize(results: dict, peak: float, busy: bool = False) -> dict:
    """``{workload: summary}`` from ``{workload: {side: [process results]}}`` (see the module's docstring)."""
    st = import_strided()
    out = {}
    for name, by_side in results.items():
        workload = WORKLOADS[name]
        kind = workload.kind
        flops = None if kind == "pipeline" else flops_per_image(workload, macs_per_image(st, workload))
        pick = min if lower_is_better(kind) else max
        sides = {}
        for side, runs in by_side.items():
            values = [figure(kind, r) for r in runs]
            best = pick(values)
            speed = (1e3 / best * workload.batch if kind == "latency" else best) if flops else None
            sides[side] = {"best": best, "median": statistics.median(values), "values": values,
                           "spread": max(values) / min(values) - 1 if min(values) > 0 else float("inf"),
                           "gflops": speed * flops / 1e9 if flops else None,
                           "peak_share": speed * flops / 1e9 / peak if flops else None,
                           "peak_rss_mib": min(r["peak_rss_mib"] for r in runs),
                           "threads": runs[0].get("threads"), "path": runs[0].get("path"),
                           "contended": 0 if busy else sum((r.get("others_cpus") or 0) > 0.25 for r in runs)}
            if kind == "pipeline":
                sides[side].update(loader_ms=runs[values.index(best)]["loader_ms"],
                                   step_ms=runs[values.index(best)]["step_ms"])
        torch_sides = [s for s in sides if s != "strided"]
        torch_best = pick(torch_sides, key=lambda s: sides[s]["best"]) if torch_sides else None
        ratio = None
        if torch_best:
            s, t = sides["strided"]["best"], sides[torch_best]["best"]
            ratio = t / s if lower_is_better(kind) else s / t
        out[name] = {"title": workload.title, "kind": kind, "unit": unit(kind), "sides": sides,
                     "torch_best_side": torch_best, "ratio": ratio,
                     "noisy": [side for side, v in sides.items() if v["spread"] > SPREAD_WARNING]}
    return out


def unit(kind: str) -> str:
    return {"latency": "ms", "pipeline": "% of a step"}.get(kind, "img/s")


def fmt(value: float, kind: str) -> str:
    if kind == "latency":
        return f"{value:.3f} ms"
    if kind == "pipeline":
        return f"{100 * value:.1f}%"
    return f"{value:,.0f} img/s" if value >= 100 else f"{value:.1f} img/s"


def fmt_flops(side: dict) -> str:
    return "" if side["gflops"] is None else f"{side['gflops']:.1f} ({100 * side['peak_share']:.0f}%)"


def rerun_hint(summary: dict) -> list[str]:
    noisy = {name: s["noisy"] for name, s in summary.items() if s["noisy"]}
    if not noisy:
        return []
    names = " ".join(noisy)
    return [f"WARNING: the spread between processes exceeds {SPREAD_WARNING:.0%} for "
            + "; ".join(f"{name} ({', '.join(SIDE_NAMES[s] for s in sides)})" for name, sides in noisy.items())
            + f": the machine was noisy; rerun those: python benchmarks/run.py --workloads {names}"]


def spread(side: dict) -> str:
    return f"{side['spread']:.0%}" if len(side["values"]) > 1 else "-"


def text_report(summary: dict, imports: dict | None) -> str:
    lines = []
    for name, s in summary.items():
        lines.append(f"\n{s['title']}  [{name}]")
        lines.append(f"  {'side':<22} {'best':>14} {'median':>14} {'spread':>7}  {'GFLOP/s (% of peak)':>20} "
                     f"{'peak RSS':>10}  threads  each process")
        for side, v in s["sides"].items():
            mark = " !" if v["spread"] > SPREAD_WARNING else "  "
            each = ", ".join(fmt(x, s["kind"]).split(" ")[0] for x in v["values"])
            lines.append(f"  {SIDE_NAMES[side]:<22} {fmt(v['best'], s['kind']):>14} {fmt(v['median'], s['kind']):>14} "
                         f"{spread(v):>7}{mark}{fmt_flops(v):>20} {v['peak_rss_mib']:>6.0f} MiB  "
                         f"{v['threads']!s:>7}  {each}")
        if s["kind"] == "pipeline":
            v = s["sides"]["strided"]
            lines.append(f"  loader {v['loader_ms']:.2f} ms per batch against a training step of {v['step_ms']:.2f} ms")
        if s["ratio"] is not None:
            lines.append(f"  ratio of the bests (strided speed / {SIDE_NAMES[s['torch_best_side']]} speed): "
                         f"{s['ratio']:.2f}x")
    if imports:
        lines.append(f"\nimport time (best of 5 fresh interpreters): strided {imports['strided']:.3f} s, "
                     f"torch {imports['torch']:.3f} s")
    paths = {v["path"] for s in summary.values() for side, v in s["sides"].items() if side == "strided"}
    lines.append(f"strided path: {', '.join(sorted(map(str, paths)))}")
    return "\n".join(lines + rerun_hint(summary))


def markdown_table(summary: dict, imports: dict | None) -> str:
    rows = ["| workload | strided best / median | PyTorch best / median | ratio of bests | strided GFLOP/s "
            "(% of peak) | PyTorch GFLOP/s (% of peak) | peak RSS strided / PyTorch | spread strided / PyTorch |",
            "|---|---|---|---|---|---|---|---|"]
    for s in summary.values():
        st_side, kind = s["sides"]["strided"], s["kind"]
        pt = s["sides"].get(s["torch_best_side"]) if s["torch_best_side"] else None
        label = s["title"] + (" (channels_last)" if s["torch_best_side"] == "torch_cl" else "")
        cells = [label, f"{fmt(st_side['best'], kind)} / {fmt(st_side['median'], kind)}",
                 f"{fmt(pt['best'], kind)} / {fmt(pt['median'], kind)}" if pt else "",
                 f"**{s['ratio']:.2f}x**" if s["ratio"] is not None else "",
                 fmt_flops(st_side), fmt_flops(pt) if pt else "",
                 f"{st_side['peak_rss_mib']:.0f} / {pt['peak_rss_mib']:.0f} MiB" if pt else
                 f"{st_side['peak_rss_mib']:.0f} MiB",
                 f"{spread(st_side)} / {spread(pt)}" if pt else spread(st_side)]
        rows.append("| " + " | ".join(cells) + " |")
    if imports:
        rows.append(f"| `import strided` / `import torch` | {imports['strided']:.3f} s | {imports['torch']:.3f} s | "
                    "| | | | |")
    return "\n".join(rows + rerun_hint(summary))


def import_seconds(module: str, tries: int) -> float:
    """Best wall time of ``import module`` in ``tries`` fresh interpreters (see ``compile_package``)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                                    check=True).stdout) for _ in range(tries))


def compile_package(module: str) -> None:
    """Write the bytecode of ``module``'s package, as pip does when it installs a wheel.

    An editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` (as this machine's environment sets)
    has none, and compiles every module again at each import (strided: 0.19-0.26 s against
    0.08-0.12 s with its bytecode); an installed package has it. A no-op where it is current.
    """
    import compileall
    import importlib.util
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)
