"""Pictures of a trained run folder: ``filters``, ``activations``, ``plot``, ``confusion``, ``errors``, ``report``.

Each rebuilds what it needs from the run folder alone (as ``strided eval`` does), draws with
``strided.viz``, writes one file (by default into the run folder) and prints its path. Without
matplotlib (or Pillow) a command stops before any work with an ``ImportError`` naming the
``viz`` extra, which ``cli.main`` turns into exit status 2.
"""

from __future__ import annotations

import os

from .cli_train import positive_int


def _require(command: str) -> None:
    from .viz.common import require_matplotlib, require_pillow
    require_matplotlib(f"strided {command}")
    require_pillow(f"strided {command}")


def _out(args, default: str) -> str:
    return args.out if args.out else os.path.join(args.run_dir, default)


def _wrote(path: str, what: str) -> int:
    print(f"wrote {path} ({what})")
    return 0


def run_filters(args) -> int:
    from .train.runs import load_run
    from .viz.filters import plot_filters, resolve_filters
    _require("filters")
    model, _ = load_run(args.run_dir, best=args.best)
    label, weight = resolve_filters(model, args.layer)
    fig = plot_filters(model, layer=args.layer, channels=args.channels)
    path = _out(args, "filters.png")
    from .viz.common import save_figure
    save_figure(fig, path)
    grid = fig.strided_grid
    return _wrote(path, f"{label}, weight {'x'.join(map(str, weight.shape))}: {grid['tiles']} tiles in "
                        f"{grid['grid'][0]}x{grid['grid'][1]}, {grid['mode']}")


def run_activations(args) -> int:
    from .viz.common import save_figure
    from .viz.filters import conv_layers
    from .viz.maps import plot_activations
    from .viz.runs import example_input, open_run
    _require("activations")
    run = open_run(args.run_dir, best=args.best)
    layer = args.layer
    if layer is None:
        convs = conv_layers(run.model)
        if not convs:
            raise ValueError(f"{args.run_dir}: the model has no convolution; name a layer with --layer")
        layer = convs[0][0]
    x, image, label = example_input(args.input, run.config)
    fig = plot_activations(run.model, x, layer, scale=args.scale, image=image if image.ndim == 3 else None)
    path = _out(args, f"activations-{layer.replace('.', '_')}.png")
    save_figure(fig, path)
    output = fig.strided_grid["output"]
    return _wrote(path, f"{layer} on {label}: output {'x'.join(map(str, output.shape))}, "
                        f"{fig.strided_grid['tiles']} panels")


def run_plot(args) -> int:
    from .train.runs import read_config
    from .viz.common import save_figure
    from .viz.curves import plot_history
    from .viz.runs import run_history
    _require("plot")
    config = read_config(args.run_dir)
    history, _ = run_history(args.run_dir)
    if not history:
        raise ValueError(f"{args.run_dir} has no finished epoch yet: nothing to plot")
    fig = plot_history(history, title=f"{config['model']} on {config['data']}: {len(history)} of "
                                      f"{config.get('epochs', '?')} epochs")
    path = _out(args, "curves.png")
    save_figure(fig, path)
    return _wrote(path, f"{len(history)} epochs: {', '.join(fig.strided_panels)}")


def _predictions(args):
    from .train.evaluation import predict
    from .viz.runs import open_run, run_examples
    run = open_run(args.run_dir, best=args.best)
    examples = run_examples(run.config, args.split)
    probabilities = predict(run.model, examples.x, output="probabilities")
    return run, examples, probabilities


def run_confusion(args) -> int:
    import numpy as np
    from .viz.common import save_figure
    from .viz.curves import plot_confusion
    _require("confusion")
    run, examples, probabilities = _predictions(args)
    k = len(run.config["classes"])
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (examples.y, probabilities.argmax(axis=1)), 1)            # rows true, columns predicted
    fig = plot_confusion(matrix, run.config["classes"])
    path = _out(args, "confusion.png")
    save_figure(fig, path)
    return _wrote(path, f"{args.split}: {len(examples.y)} examples, accuracy {np.trace(matrix) / len(examples.y):.4f}")


def run_errors(args) -> int:
    from .viz.common import save_figure
    from .viz.examples import plot_misclassified
    _require("errors")
    run, examples, probabilities = _predictions(args)
    images = examples.images if examples.images.ndim == 4 else None
    fig = plot_misclassified(run.model, examples.x, examples.y, run.config["classes"], args.count, images,
                             probabilities=probabilities)
    path = _out(args, "errors.png")
    save_figure(fig, path)
    wrong = int((probabilities.argmax(axis=1) != examples.y).sum())
    return _wrote(path, f"{len(fig.strided_panels)} of the {wrong} misclassified {args.split} examples, the most "
                        f"confident first")


def run_report(args) -> int:
    from .viz.report import write_report
    _require("report")
    path = write_report(args.run_dir, args.out, best=args.best, samples=args.samples)
    return _wrote(path, "one self-contained HTML page")


def add_commands(commands) -> None:
    def command(name, help, run, description, default_out):
        parser = commands.add_parser(name, help=help, description=description)
        parser.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by strided train")
        parser.set_defaults(run=run)
        return parser, default_out

    def finish(parser, default_out, best=True):
        parser.add_argument("--out", metavar="PATH", help=f"where to write (default RUN_DIR/{default_out})")
        if best:
            parser.add_argument("--best", action="store_true", help="use best.npz, not the last epoch")

    p, d = command("filters", "a grid of a trained model's convolution filters", run_filters,
                   "One tile per filter, each scaled to its own range (black min, white max): RGB tiles for "
                   "3 input channels, else a row per output channel and a column per input channel (up to 256 "
                   "pairs; above, each filter's input channels averaged).", "filters.png")
    p.add_argument("--layer", metavar="NAME", help="the convolution (default: the first one)")
    p.add_argument("--channels", choices=("auto", "rgb", "pairs", "mean"), default="auto",
                   help="how input channels are shown (default auto)")
    finish(p, d)

    p, d = command("activations", "every channel of one layer's output for one input", run_activations,
                   "Runs the model once on the input with a forward hook on the layer and draws each channel "
                   "of its output as a panel.", "activations-<layer>.png")
    p.add_argument("input", metavar="IMAGE", help="an image file, a .npy array of one example, or test:K / train:K "
                                                  "for the K-th example of the run's data set")
    p.add_argument("--layer", metavar="NAME", help="the layer (a name of model.named_modules(); default: the first "
                                                   "convolution)")
    p.add_argument("--scale", choices=("channel", "layer"), default="channel",
                   help="each panel to its own range (default), or one range for the layer")
    finish(p, d)

    p, d = command("plot", "training curves of a run: loss, accuracy and learning rate per epoch", run_plot,
                   "Reads the per-epoch history of metrics.json (or of the checkpoint while the run is "
                   "unfinished).", "curves.png")
    finish(p, d, best=False)

    for name, run, help, default in (("confusion", run_confusion, "the confusion matrix of a run, with class names",
                                       "confusion.png"),
                                      ("errors", run_errors, "the misclassified examples of a run, most confident "
                                       "first", "errors.png")):
        p, d = command(name, help, run, "Rebuilds the model and its data set from the run folder and predicts "
                                        "every example of the split.", default)
        p.add_argument("--split", choices=("test", "train"), default="test", help="which part (default test)")
        if name == "errors":
            p.add_argument("--count", type=positive_int, default=16, metavar="N", help="examples to show (default 16)")
        finish(p, d)

    p, d = command("report", "one self-contained HTML page about a run", run_report,
                   "Configuration, summary table, curves, confusion matrix, filters, sample predictions and "
                   "mistakes, with every picture embedded (no other file is loaded).", "report.html")
    p.add_argument("--samples", type=positive_int, default=16, metavar="N",
                   help="examples in the predictions and mistakes grids (default 16)")
    finish(p, d)


__all__ = ["add_commands", "run_filters", "run_activations", "run_plot", "run_confusion", "run_errors", "run_report"]
