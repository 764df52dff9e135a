"""The ``strided`` command line: a thin layer that parses arguments, calls the library and prints.

Commands: ``train``, ``eval``, ``predict`` (``cli_train``, ``cli_run``), ``datasets``
(``cli_data``), ``models``, ``shape``, ``summary`` (``cli_analysis``), ``kernels``, ``rf``
(``cli_viz``, which also draws for ``shape --draw/--gif``); pictures of a run: ``filters``,
``activations``, ``plot``, ``confusion``, ``errors``, ``report`` (``cli_viz_run``).

Exit status: 0 success, 1 the loss diverged (``NonFiniteLoss``), 2 a usage error (argparse's,
and the library's named errors: ``ValueError``, ``TypeError``, a missing file or package), 130 interrupted. Errors are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import cli_analysis, cli_data, cli_run, cli_viz
from . import cli_viz_run
from .cli_train import add_train, positive_int

USAGE_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError,
                IsADirectoryError, PermissionError, ImportError)


def _train(args) -> int:
    from .cli_train import run_train
    return run_train(args)


def _models(args) -> int:
    from .models import list_models
    print("\n".join(list_models()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="strided", description="Convolutional neural networks on NumPy.")
    parser.add_argument("--version", action="version", version=f"strided {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train(commands, run=lambda args: _train(args))      # looked up when run: tests may replace _train
    cli_run.add_commands(commands)
    cli_data.add_commands(commands)
    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(run=_models)
    cli_analysis.add_commands(commands)
    cli_viz.add_commands(commands)
    cli_viz_run.add_commands(commands)
    for command in commands.choices.values():      # every command that trains or runs a model
        if command.get_default("keep_freed_memory"):
            command.add_argument("--threads", type=positive_int, metavar="N",
                                 help="threads for the matrix products and strided's own kernels (default: the "
                                      "BLAS's, one per CPU; 1 suits a busy machine); needs threadpoolctl: pip "
                                      "install \"strided[fast]\"")
    return parser


def one_line(error: BaseException) -> str:
    """The first line of an error's message."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "keep_freed_memory", False):   # a command that trains or runs models
        # The command line owns its process, so it makes the allocator call that importing the
        # library never makes: freed arrays are reused between steps (see strided/memory.py).
        from .memory import keep_freed_memory
        keep_freed_memory()
    if getattr(args, "threads", None) is not None:
        from .threads import set_num_threads
        try:
            set_num_threads(args.threads)
        except (ImportError, RuntimeError) as error:
            print(f"strided {args.command}: error: --threads: {one_line(error)}", file=sys.stderr)
            return 2
    elif getattr(args, "keep_freed_memory", False):
        # Without --threads a command takes the BLAS's count for strided's own threads too (as
        # PyTorch's intra-op threads default to the cores); without threadpoolctl it keeps one.
        from .threads import get_num_threads, set_num_threads
        try:
            set_num_threads(get_num_threads())
        except (ImportError, RuntimeError):
            pass
    try:
        return args.run(args)
    except USAGE_ERRORS as error:
        print(f"strided {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:  # outside training (loading data, evaluating): nothing to save
        print(f"strided {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
