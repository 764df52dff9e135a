"""Fashion-MNIST (60,000 / 10,000 real 28x28 images): LeNet-5 and a deeper CNN, strided and PyTorch side by side.

    python examples/fashion_mnist.py --model lenet5            # both sides, each in a fresh process
    python examples/fashion_mnist.py --model deep --side strided
    python examples/fashion_mnist.py --model lenet5 --processes 3 --epochs 1   # speed: 3 processes per side
    python examples/fashion_mnist.py --limit 2000 --epochs 1 --side strided     # a quick check (the tests)

Data: ``st.data.fashion_mnist()`` (Debian's ``dataset-fashion-mnist``, or ``--root`` a folder
of the four IDX files), pixels in [0, 1], standardised with the training set's mean and
standard deviation (one number each).

Models (targets: LeNet-5 89%, the deeper CNN 91% test accuracy):

* ``lenet5``: the zoo's ``create_model("lenet5", input_size=28)``: the first 5x5 convolution
  pads by 2, so 28x28 images meet LeNet-5's usual 28x28 maps; 61,706 parameters, 0.42 MMACs.
* ``deep``: a small VGG-style network, six 3x3 convolutions (16, 16, pool, 32, 32, pool,
  64, 64, pool; each padded by 1 and followed by batch norm and ReLU; the zoo's
  ``st.models.vgg.make_features``), then flatten (64 x 3 x 3) and one dense layer to 10 classes:
  78,010 parameters, 7.3 MMACs.

Recipe (the same on both sides; ``RECIPES``): SGD with momentum 0.9 and weight decay 5e-4,
learning rate 0.05 annealed to 0 by a cosine over the epochs (stepped per epoch), batch 128,
cross-entropy; each training batch is augmented by a random 28x28 crop of the image padded by
2 pixels (zeros) and a random horizontal flip. Both sides read the very same batches: one
``st.data.DataLoader`` (seeded; its order and augmentation are a function of
``(seed, epoch, batch)``), its NumPy batches handed to PyTorch with ``torch.from_numpy``; and
both start from the same weights: the PyTorch network (a ``torch.nn`` definition below, same
layers and names) loads the strided model's initial ``state_dict``.

PyTorch runs eager on ``--torch-threads`` threads (default 2); NumPy's BLAS uses its default.
``--side both`` (the default) and ``--processes N`` run each side in fresh processes, strided
and PyTorch alternating, and print a table: test accuracy, wall time and training images/s
(best and median over the processes). Each process also measures how many CPUs other processes
kept busy while it ran (the machine's load), printed with its figures.

Figures: the test accuracy after the last epoch; wall time: the whole run after the imports
(reading the data, model set-up, training, the test pass after every epoch); images/s: training images per second of the
training loops (test passes excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import strided as st
except ImportError:                                    # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import strided as st

TARGETS = {"lenet5": 0.89, "deep": 0.91}
RECIPES = {   # the defaults of each model; the command line may override epochs, lr and batch size
    "lenet5": {"epochs": 15, "lr": 0.05, "batch_size": 128, "momentum": 0.9, "weight_decay": 5e-4},
    "deep": {"epochs": 15, "lr": 0.05, "batch_size": 128, "momentum": 0.9, "weight_decay": 5e-4},
}
DEEP_CONFIG = [16, 16, "M", 32, 32, "M", 64, 64, "M"]     # 28 -> 14 -> 7 -> 3
CROP_PADDING = 2
EVAL_BATCH = 1000


# ------------------------------------------------------------------------------------ models
class DeepCNN(st.models.chain.ChainNet):
    """Six conv3 + batch norm + ReLU layers in three pooled stages, flatten, one dense layer.

    Shape: ``(N, 1, 28, 28) -> (N, 16, 14, 14) -> (N, 32, 7, 7) -> (N, 64, 3, 3) -> (N, 576) -> (N, 10)``.
    """

    def __init__(self, num_classes: int = 10, rng=None):
        super().__init__()
        rng = st.nn.init.make_rng(rng)
        self.features = st.models.vgg.make_features(DEEP_CONFIG, in_channels=1, batch_norm=True, rng=rng)
        self.flatten = st.nn.Flatten()
        self.classifier = st.nn.Linear(64 * 3 * 3, num_classes, rng=rng)


def strided_model(name: str, seed: int):
    if name == "lenet5":
        return st.models.create_model("lenet5", input_size=28, seed=seed)
    return DeepCNN(rng=seed)


def torch_model(name: str):
    """The same architecture as ``torch.nn`` modules, with the same parameter names as ``strided_model``."""
    import torch.nn as tnn

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                                           tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                                             tnn.ReLU(), tnn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    class Deep(tnn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 1
            for item in DEEP_CONFIG:
                if item == "M":
                    layers.append(tnn.MaxPool2d(2, 2))
                    continue
                layers += [tnn.Conv2d(channels, item, 3, padding=1), tnn.BatchNorm2d(item), tnn.ReLU()]
                channels = item
            self.features = tnn.Sequential(*layers)
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Linear(64 * 3 * 3, 10)

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))

    return LeNet5() if name == "lenet5" else Deep()


# ------------------------------------------------------------------------------------ data
def load_data(args):
    """Standardised test arrays and the training loader (augmentation, then standardisation, per batch)."""
    data = st.data.fashion_mnist(args.root)                             # x in [0, 1], (N, 1, 28, 28)
    train_x, train_y = data.train.x, data.train.y
    test_x, test_y = data.test.x, data.test.y
    if args.limit is not None:
        train_x, train_y, test_x, test_y = train_x[:args.limit], train_y[:args.limit], test_x[:args.limit], \
            test_y[:args.limit]
    mean, std = float(data.train.x.mean()), float(data.train.x.std())   # 0.2860, 0.3530
    T = st.data.transforms
    transform = T.Compose([T.RandomCrop(28, padding=CROP_PADDING), T.RandomHorizontalFlip(), T.Normalize(mean, std)])
    loader = st.data.DataLoader((train_x, train_y), batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                transform=transform)
    test_x = ((test_x - mean) / std).astype(np.float32)
    return loader, test_x, test_y


# ------------------------------------------------------------------------------------ machine load
def cpu_snapshot():
    """(busy CPU-seconds of the whole machine, CPU-seconds of this process), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    machine = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")     # all but idle and iowait
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return machine, usage.ru_utime + usage.ru_stime


def others_cpus(before, after, seconds: float):
    """CPUs' worth of work done by other processes between two snapshots."""
    if before is None or after is None or seconds <= 0:
        return None
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / seconds


# ------------------------------------------------------------------------------------ one side
def epoch_line(side, epoch, epochs, lr, loss, acc, test_acc, train_s, test_s, images):
    return (f"[{side}] epoch {epoch:3d}/{epochs}  lr {lr:.4f}  train loss {loss:.4f} acc {acc:.4f}  "
            f"test acc {test_acc:.4f}  (train {train_s:.1f} s, {images / train_s:,.0f} img/s; test {test_s:.1f} s)")


def run_strided(args, loader, test_x, test_y) -> list[dict]:
    model = strided_model(args.model, args.seed)
    optimizer = st.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = st.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    rows = []

    def after_epoch(epoch, row):                # row["seconds"]: the training loop only (no validation in fit)
        started = time.perf_counter()
        test_acc = float(st.train.evaluate(model, (test_x, test_y), batch_size=EVAL_BATCH)["accuracy"])
        rows.append({"epoch": epoch, "lr": row["lr"], "train_loss": row["train_loss"],
                     "train_accuracy": row["train_accuracy"], "test_accuracy": test_acc,
                     "train_s": row["seconds"], "test_s": time.perf_counter() - started})
        if not args.quiet:
            print(epoch_line("strided", epoch, args.epochs, row["lr"], row["train_loss"], row["train_accuracy"],
                             test_acc, row["seconds"], rows[-1]["test_s"], len(loader.dataset)), flush=True)

    st.train.fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=args.epochs, log=None,
                 progress=False, callbacks=[st.train.LambdaCallback(on_epoch_end=after_epoch)])
    return rows


def run_torch(args, loader, test_x, test_y) -> list[dict]:
    import torch
    torch.set_num_threads(args.torch_threads)
    model = torch_model(args.model)
    initial = strided_model(args.model, args.seed).state_dict()         # the same initial weights as strided
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in initial.items()}, strict=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(test_x), torch.from_numpy(test_y)
    rows = []
    for epoch in range(1, args.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        started, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        for x, y in loader:                                             # the same batches as strided's
            xb, yb = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.item()) * len(y)
            correct += int((out.argmax(1) == yb).sum())
            seen += len(y)
        scheduler.step()
        train_s = time.perf_counter() - started
        started = time.perf_counter()
        model.eval()
        with torch.no_grad():
            hits = sum(int((model(tx[i:i + EVAL_BATCH]).argmax(1) == ty[i:i + EVAL_BATCH]).sum())
                       for i in range(0, len(ty), EVAL_BATCH))
        rows.append({"epoch": epoch, "lr": lr, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                     "test_accuracy": hits / len(ty), "train_s": train_s, "test_s": time.perf_counter() - started})
        if not args.quiet:
            r = rows[-1]
            print(epoch_line("torch", epoch, args.epochs, lr, r["train_loss"], r["train_accuracy"], r["test_accuracy"],
                             train_s, r["test_s"], seen), flush=True)
    return rows


def run_side(args) -> dict:
    """Train one side in this process; returns its figures (and writes them to ``--json``)."""
    if args.side == "torch":
        import torch  # noqa: F401  (imported before the clock starts, as strided is)
    load_before, snapshot, started = os.getloadavg()[0], cpu_snapshot(), time.perf_counter()
    loader, test_x, test_y = load_data(args)
    n_train = len(loader.dataset)
    print(f"[{args.side}] {args.model} on Fashion-MNIST: {n_train} train / {len(test_y)} test images, {args.epochs} "
          f"epochs, batch {args.batch_size}, SGD lr {args.lr:g} momentum {args.momentum:g} weight decay "
          f"{args.weight_decay:g}, cosine; crop (pad {CROP_PADDING}) + flip; seed {args.seed}"
          + (f"; torch threads {args.torch_threads}" if args.side == "torch" else ""), flush=True)
    trained = time.perf_counter()
    rows = (run_strided if args.side == "strided" else run_torch)(args, loader, test_x, test_y)
    wall = time.perf_counter() - started
    train_s = sum(r["train_s"] for r in rows)
    result = {"side": args.side, "model": args.model, "epochs": args.epochs, "n_train": n_train, "n_test": len(test_y),
              "seed": args.seed, "test_accuracy": rows[-1]["test_accuracy"] if rows else float("nan"),
              "wall_s": wall, "data_s": trained - started, "train_s": train_s,
              "images_per_s": args.epochs * n_train / train_s if train_s else float("nan"),
              "others_cpus": others_cpus(snapshot, cpu_snapshot(), wall),
              "load_before": load_before, "load_after": os.getloadavg()[0], "history": rows}
    busy = "n/a" if result["others_cpus"] is None else f"{result['others_cpus']:.2f}"
    print(f"[{args.side}] {args.model}: test accuracy {result['test_accuracy']:.2%} after {args.epochs} epochs; wall "
          f"{wall:.1f} s; {result['images_per_s']:,.0f} training images/s; other processes kept {busy} CPUs busy "
          f"(load average {load_before:.2f} -> {result['load_after']:.2f})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)
    return result


# ------------------------------------------------------------------------------------ both sides
def child_argv(args, side: str, json_path: str) -> list[str]:
    argv = [sys.executable, os.path.abspath(__file__), "--side", side, "--processes", "1", "--json", json_path,
            "--model", args.model, "--epochs", str(args.epochs), "--lr", repr(args.lr), "--batch-size",
            str(args.batch_size), "--seed", str(args.seed), "--torch-threads", str(args.torch_threads)]
    argv += ["--limit", str(args.limit)] if args.limit is not None else []
    argv += ["--root", args.root] if args.root is not None else []
    return argv + (["--quiet"] if args.quiet else [])


def spread(values) -> str:
    return f"{max(values):,.0f} / {statistics.median(values):,.0f}"


def run_processes(args) -> dict:
    """Each side ``--processes`` times in fresh processes, strided and PyTorch alternating; a summary table."""
    sides = ["strided", "torch"] if args.side == "both" else [args.side]
    results = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.processes):
            for side in sides:
                path = os.path.join(folder, f"{side}-{i}.json")
                done = subprocess.run(child_argv(args, side, path))
                if done.returncode != 0:
                    raise SystemExit(f"the {side} process {i + 1} failed (exit {done.returncode})")
                with open(path) as f:
                    results[side].append(json.load(f))
    target = TARGETS[args.model]
    print(f"\n{args.model} on Fashion-MNIST, {args.epochs} epochs, {results[sides[0]][0]['n_train']} training images; "
          f"{args.processes} fresh process(es) per side, alternating (best / median)")
    print("| side | test accuracy | wall time (s) | training images/s | other processes' CPUs |")
    print("|---|---|---|---|---|")
    for side in sides:
        runs = results[side]
        accuracies = ", ".join(f"{r['test_accuracy']:.2%}" for r in runs)
        walls = [r["wall_s"] for r in runs]
        busy = ", ".join("n/a" if r["others_cpus"] is None else f"{r['others_cpus']:.2f}" for r in runs)
        print(f"| {'strided' if side == 'strided' else 'PyTorch'} | {accuracies} | {min(walls):,.1f} / "
              f"{statistics.median(walls):,.1f} | {spread([r['images_per_s'] for r in runs])} | {busy} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    for side in sides:
        accuracy = results[side][-1]["test_accuracy"]
        print(f"{side}: {accuracy:.2%} test accuracy: {'reached' if accuracy >= target else 'MISSED'} the "
              f"{target:.0%} target")
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(TARGETS), default="lenet5")
    parser.add_argument("--side", choices=("strided", "torch", "both"), default="both",
                        help="both: each side in its own fresh process, one after the other")
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's recipe (RECIPES)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="weights, order of examples, augmentation")
    parser.add_argument("--limit", type=int, default=None,
                        help="the first N training and the first N test images only (quick runs)")
    parser.add_argument("--processes", type=int, default=1, help="fresh processes per side (speed comparisons)")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--root", default=None, help="a folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--json", default=None, help="write the figures there (with several processes: all of them)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    for key, value in RECIPES[args.model].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.epochs < 1 or args.processes < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs, --processes and --limit must be positive")
    return args


def main(argv=None) -> dict:
    """One side in this process (``--side strided|torch``, one process), else fresh processes per side."""
    args = parse_args(argv)
    if args.side != "both" and args.processes == 1:
        return run_side(args)
    return run_processes(args)


if __name__ == "__main__":
    st.memory.keep_freed_memory()          # a training script owns its process: keep freed memory for reuse
    main()
