"""The ``strided`` command line: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import os
import sys

from .cli_analysis import add_commands


def _train(args) -> int:
    from .train import NonFiniteLoss, TrainingInterrupted
    from .train.digits_job import run_digits_job
    try:
        run_digits_job(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                       weight_decay=args.weight_decay, shift=args.shift, seed=args.seed, out_dir=args.out,
                       resume=args.resume, progress=False if args.no_progress else None)
    except NonFiniteLoss as error:           # the message names the epoch, the step and the checkpoint kept
        print(f"strided train: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:   # Ctrl-C: no traceback; fit has saved the checkpoint if it was running
        if isinstance(interrupt, TrainingInterrupted) and interrupt.checkpoint:
            print(f"strided train: interrupted; continue with: strided train --resume --out {args.out} "
                  f"(and the same options)", file=sys.stderr)
        else:
            print("strided train: interrupted", file=sys.stderr)
        return 130
    return 0


def _models(args) -> int:
    from .models import list_models
    print("\n".join(list_models()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="strided", description="Convolutional neural networks on NumPy.")
    parser.add_argument("--version", action="version", version=f"strided {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train LeNet-5 on scikit-learn's handwritten digits")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=0.02, help="initial learning rate (cosine schedule)")
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--shift", type=int, default=2, help="random translation of training images, pixels")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/lenet5-digits", help="folder for checkpoint.npz and metrics.json")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz if present")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train, keep_freed_memory=True)   # trains a model: see main()

    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(run=_models)
    add_commands(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "keep_freed_memory", False):   # a command that trains or runs models
        # The command line owns its process, so it makes the allocator call that importing the
        # library never makes: freed arrays are reused between steps (see strided/memory.py).
        from .memory import keep_freed_memory
        keep_freed_memory()
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        print(f"strided {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
