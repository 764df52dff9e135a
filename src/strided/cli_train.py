"""``strided train``: train a zoo model or a spec string on a data set, into a run folder."""

from __future__ import annotations

import sys

TRAIN_HELP = """\
MODEL is a registered model (strided models) or a spec string in quotes ("conv3-16 maxpool
conv3-32 maxpool FC-64 dropout FC-10"); it is built for the data set's input shape and classes.
DATA: digits (digits:SIZE), mnist1d, fashion-mnist (fashion-mnist:DIR), mnist:DIR,
idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS], cifar10:DIR, cifar100:DIR, folder:DIR
(strided datasets says which are here). With no arguments: LeNet-5 on the digits, ~99%.

A folder holding a run is not overwritten: --resume continues it exactly (its options win over
those given, which are reported; a larger --epochs trains the extra epochs, the schedule
replanned over the new total), --force replaces it (with --resume: the given --lr, --momentum,
--weight-decay, --augment and --batch-size take effect from the resume point).
A checkpoint holding NaN or infinite weights is not resumed without --allow-nonfinite.
--device cuda trains on an NVIDIA GPU (CuPy: pip install 'strided[gpu]'); the default is the CPU.
The device is where this process computes, not part of the run: a run resumes on either.
Exit status: 0 done, 1 the loss diverged, 2 usage error (or a device that cannot be used here),
130 interrupted (Ctrl-C saves a checkpoint).
"""


def positive_int(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def add_device(parser) -> None:
    """The ``--device`` option (default ``cpu``) of ``train``, ``eval`` and ``predict``."""
    parser.add_argument("--device", metavar="DEVICE",
                        help="cpu (default), cuda or cuda:N (an NVIDIA GPU; needs CuPy: pip install 'strided[gpu]')")


def device_error(command: str, device: str | None) -> str | None:
    """Why ``--device`` cannot be used here (the message says how to install), or ``None`` when it can.

    Checked before any work: nothing is loaded or written for a device that cannot be used.
    """
    if device is None:
        return None
    from .backend import backend_for, parse_device
    try:
        backend_for(parse_device(device))
    except (RuntimeError, TypeError, ValueError) as error:
        return f"strided {command}: error: --device {device}: {error}"
    return None


def add_train(commands, run=None) -> None:
    """The ``train`` sub-command; ``run(args)`` runs it (default ``run_train``)."""
    import argparse
    train = commands.add_parser("train", help="train a model on a data set into a run folder (default: LeNet-5 on "
                                              "the digits)", description=TRAIN_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("model", nargs="?", metavar="MODEL", help="zoo name or spec string (default lenet5)")
    train.add_argument("--data", metavar="DATA", help="data set (default digits)")
    train.add_argument("--epochs", type=int, metavar="N", help="epochs to train (default 20)")
    train.add_argument("--batch-size", type=int, metavar="N", help="default 32")
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), help="default sgd")
    train.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (default 0.02 for sgd, 0.001 for adam/adamw)")
    train.add_argument("--momentum", type=float, metavar="M", help="sgd only (default 0.9)")
    train.add_argument("--weight-decay", type=float, metavar="WD", help="default 5e-4 (sgd), 0 (adam), 0.01 (adamw)")
    train.add_argument("--scheduler", choices=("cosine", "step", "onecycle", "none"),
                       help="cosine to 0 (default), step (x0.1 at 1/2 and 3/4 of the epochs), onecycle, none")
    train.add_argument("--augment", metavar="LIST", help="comma-separated shift:N, crop:N, flip[:P], rotate:DEG, or "
                                                         "none (default shift:2 for grey images, crop:4,flip for "
                                                         "colour images)")
    train.add_argument("--shift", type=int, metavar="N", help="same as --augment shift:N")
    train.add_argument("--seed", type=int, metavar="N", help="weights, shuffling and augmentation (default 0)")
    train.add_argument("--limit", type=positive_int, metavar="N",
                       help="use at most N training and N test examples (a fixed stratified subset: quick runs)")
    train.add_argument("--image-size", metavar="SIZE", help="folder data sets: resize images to SIZE or HxW "
                                                            "(default: the first image's size)")
    train.add_argument("--out", metavar="DIR", help="run folder (default runs/MODEL-DATA, e.g. runs/lenet5-digits)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--force", action="store_true", help="replace the run in --out (with --resume: let the "
                                                            "given options change it)")
    train.add_argument("--allow-nonfinite", action="store_true",
                       help="with --resume: continue even from a checkpoint holding NaN or infinite weights")
    train.add_argument("--stop-after", type=positive_int, metavar="N",
                       help="stop once N epochs are done, as an interruption would (--resume continues)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device(train)
    train.set_defaults(run=run or run_train, keep_freed_memory=True)   # trains a model: see cli.main()


def options_from(args) -> dict:
    """The options given on the command line (``None``: not given)."""
    from .cli_analysis import parse_dims
    from .train.job import OPTIONS
    options = {name: getattr(args, name, None) for name in OPTIONS}
    if args.shift is not None:
        if args.augment is not None:
            raise ValueError("give --shift N or --augment, not both (--shift N is --augment shift:N)")
        options["augment"] = f"shift:{args.shift}"
    if args.image_size is not None:
        dims = parse_dims(args.image_size)
        if len(dims) > 2:
            raise ValueError(f"--image-size: expected SIZE or HxW, got {args.image_size!r}")
        options["image_size"] = dims[0] if len(dims) == 1 else dims
    return options


def run_train(args) -> int:
    problem = device_error("train", getattr(args, "device", None))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from .train import NonFiniteCheckpoint, NonFiniteLoss, TrainingInterrupted
    from .train.digits_job import train_run
    from .train.runs import default_out_dir
    options = options_from(args)
    out = args.out or default_out_dir(options["model"], options["data"])

    def note(message: str) -> None:
        print(f"strided train: note: {message}", file=sys.stderr)

    from .distributed import abort_on_error
    try:
        with abort_on_error(passthrough=(NonFiniteCheckpoint, NonFiniteLoss)):   # mpirun: one rank's error stops all
            metrics = train_run(options, out_dir=out, resume=args.resume, force=args.force, warn=note,
                                progress=False if args.no_progress else None, stop_after=args.stop_after,
                                allow_nonfinite=args.allow_nonfinite)
    except NonFiniteCheckpoint as error:     # the run diverged before this checkpoint was written (or it was edited)
        print(f"strided train: error: {error.path} holds NaN or infinite values in {', '.join(error.names[:5])}: "
              f"resuming would train on from them; start over with --force, or add --allow-nonfinite to resume "
              f"anyway", file=sys.stderr)
        return 2
    except NonFiniteLoss as error:           # the message names the epoch, the step and the checkpoint kept
        print(f"strided train: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:   # Ctrl-C: no traceback; fit has saved the checkpoint if it was running
        if isinstance(interrupt, TrainingInterrupted) and interrupt.checkpoint:
            print(f"strided train: interrupted; continue with: strided train --resume --out {out}", file=sys.stderr)
        else:
            print("strided train: interrupted", file=sys.stderr)
        return 130
    from .distributed import is_main
    if not metrics.get("finished", True) and is_main():
        note(f"stopped after {metrics['final']['epochs']} of {metrics['config']['epochs']} epochs; continue with: "
             f"strided train --resume --out {out}")
    return 0
