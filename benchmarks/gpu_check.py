"""Every GPU check of the CuPy backend in one run: ops and training steps against the CPU, then speed.

Meant for one short session on a machine with an NVIDIA GPU (CuPy and a CUDA PyTorch there)::

    PYTHONPATH=src python3 benchmarks/gpu_check.py --json $OUT/gpu.json        # about 5 minutes

1. Every registered layer, forward and backward (input and parameter gradients), in float32 and
   float64, on the device against the same module on the CPU: the largest difference relative to
   the largest CPU value (normwise), at most 1e-5 in float32 and 1e-12 in float64.
2. Every loss and optimizer likewise, after three steps for the optimizers.
3. Three SGD-momentum training steps of LeNet-5 (batch 64) and ResNet-20 (batch 32), device vs CPU.
4. Training images/s of LeNet-5 (batch 256, 1x28x28), ResNet-20 (batch 128, 3x32x32) and
   ResNet-50 (batch 32, 3x224x224) on the device, next to PyTorch CUDA eager on the same GPU.

Without a GPU, ``--device recorded --quick`` runs parts 1-3 through the recording backend of the
tests (NumPy underneath) to prove the script itself works; part 4 needs ``cuda``.

Shape: inputs per layer as its registry factory gives them; models as listed above.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

import strided as st
from strided import backend, nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))          # workloads.py beside this file
from strided.nn import functional as F

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def relative_error(got, want) -> float:
    """max |got - want| / max |want| (normwise; 0 for two empty or two zero arrays)."""
    got, want = backend.to_host(got).astype(np.float64), backend.to_host(want).astype(np.float64)
    scale = np.abs(want).max(initial=0.0)
    diff = np.abs(got - want).max(initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


def forward_backward(module, x, place, dtype):
    """Output, input gradient and parameter gradients of a fixed weighted sum of the output."""
    for m in module.modules():
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng(7)                           # the same dropout masks
    integer = x.dtype.kind in "iu"
    inp = backend.to_device(x, place) if integer else st.Tensor(backend.to_device(x, place), requires_grad=True)
    out = module(inp)
    weights = st.Tensor(np.linspace(-1, 1, out.size).reshape(out.shape), dtype=dtype).to(place)
    loss = (out * weights).sum()
    if loss.requires_grad:
        loss.backward()
    return [out.data, None if integer else inp.grad] + [p.grad for p in module.parameters()]


def check_layers(place, dtypes, names=None) -> list[dict]:
    rows = []
    layers = nn.registered_layers()
    for name in names or sorted(layers):
        for dtype in dtypes:
            module, shape = layers[name]()
            module = module.to(dtype)
            rng = np.random.default_rng(0)
            x = (rng.integers(0, module.num_embeddings, size=shape) if name == "Embedding"
                 else rng.standard_normal(shape).astype(dtype))
            row = {"part": "layer", "name": name, "dtype": np.dtype(dtype).name}
            try:
                want = forward_backward(copy.deepcopy(module), x, "cpu", dtype)
                got = forward_backward(module.to(place), x, place, dtype)
                row["error"] = max(relative_error(g, w) for g, w in zip(got, want) if w is not None)
                row["ok"] = row["error"] <= TOLERANCE[dtype]
            except Exception as error:                                  # report and go on with the rest
                row.update(error=None, ok=False, failure=f"{type(error).__name__}: {error}"[:300])
            rows.append(row)
    return rows


def check_losses_and_optimizers(place) -> list[dict]:
    rng = np.random.default_rng(2)
    logits, other = rng.standard_normal((8, 5)), rng.standard_normal((8, 5))
    labels = rng.integers(0, 5, 8)
    probs = 1 / (1 + np.exp(-other))
    cases = {"cross_entropy": (F.cross_entropy, labels), "nll_loss": (F.nll_loss, labels),
             "mse_loss": (F.mse_loss, other), "l1_loss": (F.l1_loss, other), "huber_loss": (F.huber_loss, other),
             "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, probs),
             "kl_div": (F.kl_div, probs), "multi_margin_loss": (F.multi_margin_loss, labels)}
    rows = []
    for name, (fn, target) in cases.items():
        results = []
        for where in ("cpu", place):
            x = st.Tensor(backend.to_device(logits, where), requires_grad=True)
            loss = fn(x, backend.to_device(target, where))
            loss.backward()
            results.append((loss.data, x.grad))
        error = max(relative_error(g, w) for g, w in zip(results[1], results[0]))
        rows.append({"part": "loss", "name": name, "dtype": "float64", "error": error, "ok": error <= 1e-12})
    values = rng.standard_normal((6, 3))
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam"):
        finals = []
        for where in ("cpu", place):
            p = nn.Parameter(backend.to_device(values.copy(), where))
            opt = getattr(st.optim, name)([p], lr=0.01) if name != "Adadelta" else st.optim.Adadelta([p])
            for i in range(3):
                p.grad = backend.to_device(np.cos(values * (i + 1)), where)
                opt.step()
            finals.append(p.data)
        error = relative_error(finals[1], finals[0])
        rows.append({"part": "optimizer", "name": name, "dtype": "float64", "error": error, "ok": error <= 1e-12})
    return rows


def training_steps(model_name, shape, place, steps=3) -> dict:
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    y = np.arange(shape[0]) % 10
    finals = []
    for where in ("cpu", place):
        model = _models(model_name)[0](st)
        model.to(where).train()
        opt = st.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(st.Tensor(backend.to_device(x, where))), backend.to_device(y, where))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        finals.append((losses, [p.data for p in model.parameters()]))
    error = max(relative_error(g, w) for g, w in zip(finals[1][1], finals[0][1]))
    return {"part": "training", "name": f"{model_name} x{steps} steps", "dtype": "float32", "error": error,
            "ok": error <= 1e-4, "losses_cpu": finals[0][0], "losses_device": finals[1][0]}


def _models(name):
    """(strided builder, PyTorch builder) for a speed workload, from the benchmark runner's table."""
    import workloads
    if name == "resnet50":
        def torch_resnet50(torch):
            import torchvision
            return torchvision.models.resnet50(num_classes=10)
        return (lambda st: st.models.create_model("resnet50", seed=0, num_classes=10)), torch_resnet50
    found = workloads.WORKLOADS[{"lenet5": "lenet5_train_256", "resnet20": "resnet20_train"}[name]]
    return found.strided, found.torch


SPEED = {"lenet5": (256, (1, 28, 28)), "resnet20": (128, (3, 32, 32)), "resnet50": (32, (3, 224, 224))}


def strided_speed(name, batch, shape, seconds) -> float:
    model = _models(name)[0](st).to("cuda").train()
    opt = st.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = st.Tensor(np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)).to("cuda")
    y = backend.to_device(np.arange(batch) % 10, "cuda")

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return _images_per_second(step, batch, seconds, st.cuda.synchronize)


def torch_speed(name, batch, shape, seconds) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    model = _models(name)[1](torch).cuda().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn((batch,) + shape, device="cuda")
    y = torch.arange(batch, device="cuda") % 10

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return _images_per_second(step, batch, seconds, torch.cuda.synchronize)


def _images_per_second(step, batch, seconds, synchronize) -> float:
    for _ in range(3):
        step()
    synchronize()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    synchronize()
    return batch * count / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), or 'recorded' for a dry run without a GPU")
    parser.add_argument("--quick", action="store_true", help="a few layers, float64 only, no speed part")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per speed figure")
    parser.add_argument("--json", help="write every row here")
    args = parser.parse_args(argv)
    if args.device == "recorded":
        import workloads
        workloads.test_module("recording_backend").install()             # the tests' NumPy-backed fake device
    else:
        backend.backend_for(args.device)                                # fails now, saying what is missing
    names = ["Conv2d", "MaxPool2d", "BatchNorm2d", "Linear", "Dropout"] if args.quick else None
    rows = check_layers(args.device, [np.float64] if args.quick else [np.float32, np.float64], names)
    rows += check_losses_and_optimizers(args.device)
    rows += [training_steps("lenet5", (8 if args.quick else 64, 1, 28, 28), args.device)]
    if not args.quick:
        rows += [training_steps("resnet20", (32, 3, 32, 32), args.device)]
    bad = [r for r in rows if not r["ok"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} checks within tolerance on {args.device}")
    for r in bad:
        print(f"  FAIL {r['part']} {r['name']} {r['dtype']}: error {r['error']} {r.get('failure', '')}")
    speed = []
    if args.device.startswith("cuda") and not args.quick:
        print("| model | batch | strided img/s | PyTorch CUDA img/s | ratio |\n|---|---|---|---|---|")
        for name, (batch, shape) in SPEED.items():
            ours, theirs = strided_speed(name, batch, shape, args.seconds), torch_speed(name, batch, shape, args.seconds)
            ratio = f"{ours / theirs:.2f}x" if theirs else "-"
            print(f"| {name} | {batch} | {ours:,.0f} | {theirs or 0:,.0f} | {ratio} |", flush=True)
            speed.append({"model": name, "batch": batch, "strided": ours, "torch": theirs})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "checks": rows, "speed": speed}, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
