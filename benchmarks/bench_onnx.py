"""ResNet-18 inference from one ONNX file: strided (``st.onnx.load``) next to onnxruntime, same threads.

The file is strided's own ``resnet18`` (ImageNet layout, 1000 classes) exported with
``st.onnx.export`` once, then run by three sides, each in its own fresh processes, alternated:

* ``onnxruntime``: an ``InferenceSession`` with ``intra_op_num_threads=2`` (this machine's cores),
  ``inter_op_num_threads=1``, all graph optimisations on (its default);
* ``strided-onnx``: ``st.onnx.load`` of the same file, run by strided's ops in eval mode;
* ``strided``: the zoo model itself, for the cost of running through the imported graph.

Batch 1 reports the median and best latency of single calls; batch 32 the images/s of the median
round. Every process first checks its output against a reference computed in the parent by
onnxruntime (max difference printed), so a fast wrong answer cannot pass.

    python benchmarks/bench_onnx.py                     # 6 processes per side, about 4 minutes
    python benchmarks/bench_onnx.py --processes 2 --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import emit, load_warning, strided_worker, time_latency, time_training, timed_spawn

SCRIPT = str(Path(__file__).resolve())
SIDES = ("onnxruntime", "strided-onnx", "strided")
THREADS = 2


def batch_of(size: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((size, 3, 224, 224), dtype=np.float32)


def make_runner(side: str, path: str):
    """``forward(x) -> logits`` for one side."""
    if side == "onnxruntime":
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    st = strided_worker()
    model = st.onnx.load(path) if side == "strided-onnx" else st.models.create_model("resnet18", seed=0)
    model.eval()

    def forward(x):
        with st.no_grad():
            return model(x).data
    return forward


def worker(side: str, path: str, batch: int, quick: bool) -> dict:
    forward = make_runner(side, path)
    x = batch_of(batch)
    reference = np.load(path + f".reference{batch}.npy")
    difference = float(np.max(np.abs(forward(x) - reference)))
    if batch == 1:
        result = time_latency(lambda: forward(x), calls=5 if quick else 40, warmup=2 if quick else 5)
    else:
        result = time_training(lambda: forward(x), batch, steps=1, rounds=2 if quick else 5, warmup=1)
    return {"side": side, "batch": batch, "max_difference": difference, **result}


def export(path: str) -> None:
    """strided's ResNet-18 to ``path``, and onnxruntime's outputs for the batches the workers use."""
    st = strided_worker()
    model = st.models.create_model("resnet18", seed=0)
    model.eval()
    st.onnx.export(model, path, (1, 3, 224, 224))
    run = make_runner("onnxruntime", path)
    for batch in (1, 32):
        np.save(path + f".reference{batch}.npy", run(batch_of(batch)))


def summarise(runs: list[dict], batch: int) -> list[str]:
    key, better = ("median_ms", min) if batch == 1 else ("images_per_s", max)
    unit = "ms (median call)" if batch == 1 else "images/s"
    lines = [f"ResNet-18 inference, batch {batch}, {unit}: best / median over processes; max |difference| "
             "from onnxruntime"]
    best = {}
    for side in SIDES:
        values = [r[key] for r in runs if r["side"] == side and r["batch"] == batch]
        if not values:
            continue
        best[side] = better(values)
        spread = (max(values) - min(values)) / min(values)
        note = "  (spread over 20%: the machine was busy, rerun)" if spread > 0.2 else ""
        diff = max(r["max_difference"] for r in runs if r["side"] == side and r["batch"] == batch)
        lines.append(f"  {side:13s} {best[side]:10.2f} / {statistics.median(values):10.2f}   "
                     f"({len(values)} processes, difference {diff:.1e}){note}")
    if "onnxruntime" in best:
        for side in ("strided-onnx", "strided"):
            if side in best:
                ratio = best[side] / best["onnxruntime"]
                word = "of onnxruntime's latency" if batch == 1 else "x onnxruntime's speed"
                lines.append(f"  {side} / onnxruntime: {ratio:.2f} {word}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per side and batch (default 6)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32], choices=[1, 32])
    parser.add_argument("--quick", action="store_true", help="few calls per process (a smoke run)")
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "PATH", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        side, path, batch = args.worker
        emit(worker(side, path, int(batch), args.quick))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "resnet18.onnx")
        export(path)
        load_warning()
        runs = []
        for round_ in range(args.processes):
            for batch in args.batches:
                for side in (SIDES if round_ % 2 == 0 else SIDES[::-1]):
                    extra = ["--quick"] if args.quick else []
                    result = timed_spawn(SCRIPT, ["--worker", side, path, str(batch)] + extra)
                    runs.append(result)
                    print(f"  {side:13s} batch {batch:2d}: "
                          + (f"{result['median_ms']:.2f} ms" if batch == 1 else f"{result['images_per_s']:.1f} img/s")
                          + f"  (others busy: {result['others_cpus'] if result['others_cpus'] is not None else '?'})",
                          flush=True)
        print()
        for batch in args.batches:
            print("\n".join(summarise(runs, batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
