"""The benchmark runner (``benchmarks/run.py``): its summary arithmetic and a smoke run.

The summary is checked on made-up process results against figures worked out by hand (best,
median, spread, ratio of the bests as speeds, the spread warning); the smoke run starts real
worker processes with ``--quick`` and checks the structure of what comes back (every side present,
the ratio equal to best over best). No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle import TORCH_REASON, torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import report  # noqa: E402
from workloads import WORKLOADS, macs_per_image  # noqa: E402


def runs(values, key="images_per_s", rss=100.0):
    return [{key: v, "peak_rss_mib": rss + i, "threads": 2, "path": "NumPy"} for i, v in enumerate(values)]


def test_summary_of_throughput_by_hand():
    results = {"lenet5_train_64": {"strided": runs([900, 1000, 950]), "torch": runs([800, 400, 500]),
                                   "torch_cl": runs([700, 850, 600])}}
    s = report.summarize(results, peak=100.0)["lenet5_train_64"]
    st_side, eager, cl = s["sides"]["strided"], s["sides"]["torch"], s["sides"]["torch_cl"]
    assert (st_side["best"], st_side["median"]) == (1000, 950)
    assert (eager["best"], eager["median"], cl["best"]) == (800, 500, 850)
    assert s["torch_best_side"] == "torch_cl"                 # the faster PyTorch counts
    assert s["ratio"] == pytest.approx(1000 / 850)
    assert eager["spread"] == pytest.approx(800 / 400 - 1) and st_side["spread"] == pytest.approx(1000 / 900 - 1)
    assert s["noisy"] == ["torch", "torch_cl"]                 # 100% and 42% > 20%; strided's 11% is not
    assert st_side["peak_rss_mib"] == 100.0                    # the smallest process
    import strided as st
    macs = macs_per_image(st, WORKLOADS["lenet5_train_64"])
    assert st_side["gflops"] == pytest.approx(1000 * 6 * macs / 1e9)       # 3 products x 2 FLOPs per MAC
    assert st_side["peak_share"] == pytest.approx(st_side["gflops"] / 100.0)
    text = report.text_report({"lenet5_train_64": s}, None)
    assert "ratio of the bests" in text and "1.18x" in text and "WARNING" in text
    assert "--workloads lenet5_train_64" in text               # the rerun command


def test_latency_ratio_is_a_ratio_of_speeds():
    results = {"lenet5_latency": {"strided": runs([0.30, 0.25], "median_ms"), "torch": runs([0.40, 0.5], "median_ms")}}
    s = report.summarize(results, peak=100.0)["lenet5_latency"]
    assert s["sides"]["strided"]["best"] == 0.25 and s["sides"]["torch"]["best"] == 0.40
    assert s["ratio"] == pytest.approx(0.40 / 0.25)             # above 1: strided answers sooner
    table = report.markdown_table({"lenet5_latency": s}, {"strided": 0.1, "torch": 1.5})
    header, rule, row, imports = table.splitlines()[:4]
    assert header.count("|") == rule.count("|") == row.count("|") == imports.count("|")
    assert "**1.60x**" in row and "0.250 ms" in row and "`import strided`" in imports


@pytest.mark.slow
@pytest.mark.skipif(torch is None, reason=TORCH_REASON)
def test_quick_run_has_both_sides_and_the_ratio_of_the_bests(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--workloads", "mnist1d_train",
                           "lenet5_latency", "resnet18_latency_prepared", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert set(data["summary"]) == {"mnist1d_train", "lenet5_latency", "resnet18_latency_prepared"}
    assert set(data["summary"]["resnet18_latency_prepared"]["sides"]) == {"strided", "torch"}   # each side prepared
    assert set(data["summary"]["mnist1d_train"]["sides"]) == {"strided", "torch"}      # 1-D: no channels_last
    assert set(data["summary"]["lenet5_latency"]["sides"]) == {"strided", "torch", "torch_cl"}
    for name, s in data["summary"].items():
        best = {side: v["best"] for side, v in s["sides"].items()}
        pt = best[s["torch_best_side"]]
        expected = pt / best["strided"] if s["kind"] == "latency" else best["strided"] / pt
        assert s["ratio"] == pytest.approx(expected)
        assert all(len(data["processes"][name][side]) == 1 for side in s["sides"])     # --quick: 1 process
        assert all(v["peak_rss_mib"] > 0 and v["gflops"] > 0 for v in s["sides"].values())
    assert data["peak_gflops"] > 0
    for text in ("MNIST-1D CNN train", "strided", "PyTorch eager", "PyTorch channels_last", "ratio of the bests"):
        assert text in proc.stdout


def test_gpu_check_script_runs_on_the_recording_device(tmp_path):
    """The prepared GPU script, dry-run without a GPU: the device side is the tests' recording backend,
    whose arrays are NumPy underneath, so every check must agree with the CPU within its tolerance."""
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "recorded", "--quick",
                             "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["checks"]
    assert {r["part"] for r in rows} == {"layer", "loss", "optimizer", "training"}
    assert all(r["ok"] for r in rows) and len(rows) >= 20
