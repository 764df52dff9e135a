"""``strided eval`` and ``strided predict``: a trained run folder's model on a data set, or on files."""

from __future__ import annotations

import json

import sys

from .cli_train import add_device, device_error, positive_int


def _dims(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def format_confusion(matrix, names) -> str:
    """The confusion matrix as a table: a row per true class, a column per predicted class, both named."""
    names = [str(n) for n in names]
    corner = "true \\ predicted"
    left = max(len(corner), *(len(n) for n in names))
    widths = [max(len(n), len(str(int(matrix[:, j].max()))) if len(matrix) else 1) for j, n in enumerate(names)]
    lines = [corner.ljust(left) + "".join("  " + n.rjust(w) for n, w in zip(names, widths))]
    for i, name in enumerate(names):
        lines.append(name.ljust(left) + "".join("  " + str(int(v)).rjust(w) for v, w in zip(matrix[i], widths)))
    return "\n".join(lines)


def run_eval(args) -> int:
    problem = device_error("eval", getattr(args, "device", None))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from .data.sources import load_data, normalize_, parse_data_spec
    from .train.evaluation import evaluate
    from .train.runs import load_run
    model, config = load_run(args.run_dir, best=args.best, device=getattr(args, "device", None))
    spec = parse_data_spec(args.data) if args.data else parse_data_spec(config["data"])
    shape, classes = tuple(config["input_shape"]), list(config["classes"])
    limit = args.limit if args.limit is not None else (None if args.data else config.get("limit"))
    data = load_data(spec, limit=limit, image_size=tuple(shape[1:]) if spec.kind == "folder" else None)
    part = data.test if args.split == "test" else data.train
    if tuple(part.x.shape[1:]) != shape:
        raise ValueError(f"{spec.text} gives examples of {_dims(part.x.shape[1:])}, but the model of {args.run_dir} "
                         f"takes {_dims(shape)}")
    if len(data.classes) > len(classes):
        raise ValueError(f"{spec.text} has {len(data.classes)} classes, but the model of {args.run_dir} knows "
                         f"{len(classes)}")
    normalize_(part.x, config["normalize"]["mean"], config["normalize"]["std"])
    k = min(5, len(classes))
    result = evaluate(model, (part.x, part.y), metrics=("accuracy", f"top{k}", "confusion_matrix"),
                      batch_size=args.batch_size)
    matrix = result["confusion_matrix"]
    report = {"run": args.run_dir, "model": config["model"], "weights": "best.npz" if args.best else "checkpoint.npz",
              "data": spec.text, "split": args.split, "examples": len(part), "accuracy": result["accuracy"],
              f"top{k}_accuracy": result[f"top{k}_accuracy"], "loss": result["loss"], "classes": classes,
              "confusion_matrix": matrix.tolist()}
    if args.format == "json":
        from .train.records import json_safe
        print(json.dumps(json_safe(report), indent=2, allow_nan=False))
        return 0
    print(f"run {args.run_dir}: {config['model']} ({report['weights']}), trained on {config['data']}")
    source = data.test_source if args.split == "test" else "the training part"
    limited = f"; a fixed stratified subset, --limit {limit}" if limit else ""
    print(f"data {spec.text}, {args.split}: {len(part)} examples ({source}{limited})")
    if list(data.classes) != classes[:len(data.classes)]:
        print(f"note: the data set names its classes {list(data.classes)}; shown with the run's names")
    print(f"accuracy {result['accuracy']:.4f}   top-{k} {result[f'top{k}_accuracy']:.4f}   loss {result['loss']:.4f}")
    print()
    if len(classes) <= 20:
        print("confusion matrix (rows: true class, columns: predicted class)")
        print(format_confusion(matrix, classes))
    else:
        recall = matrix.diagonal() / matrix.sum(axis=1).clip(min=1)
        print(f"{len(classes)} classes: the confusion matrix is in --format json; accuracy per class:")
        print("\n".join(f"  {name}  {r:.4f}" for name, r in zip(classes, recall)))
    return 0


def run_predict(args) -> int:
    problem = device_error("predict", getattr(args, "device", None))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from .train.evaluation import predict
    from .train.inputs import example_names, read_inputs
    from .train.runs import load_run
    model, config = load_run(args.run_dir, best=args.best, device=getattr(args, "device", None))
    classes = config["classes"]
    inputs = read_inputs(args.inputs, config, normalized=args.normalized)
    rows = []
    for name, x in inputs:
        indices, probabilities = predict(model, x, output="topk", k=min(args.top, len(classes)))
        for label, top, p in zip(example_names(name, x), indices, probabilities):
            rows.append({"input": label, "top": [{"class": classes[int(c)], "index": int(c), "probability": float(q)}
                                                 for c, q in zip(top, p)]})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["input"]) for row in rows)
    for row in rows:
        ranked = " | ".join(f"{t['class']} {t['probability']:.1%}" for t in row["top"])
        print(f"{row['input'] + ':':<{width + 1}} {ranked}")
    return 0


def add_commands(commands) -> None:
    ev = commands.add_parser("eval", help="accuracy, top-5 and the confusion matrix of a trained run",
                             description="Rebuilds the model and its data set from the run folder alone "
                                         "(config.json, checkpoint.npz) and evaluates it.")
    ev.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by strided train")
    ev.add_argument("--data", metavar="DATA", help="another data set with the same input shape (default: the run's)")
    ev.add_argument("--split", choices=("test", "train"), default="test", help="which part (default test)")
    ev.add_argument("--limit", type=positive_int, metavar="N", help="at most N examples (default: the run's --limit)")
    ev.add_argument("--best", action="store_true", help="use best.npz (the best test accuracy), not the last epoch")
    ev.add_argument("--batch-size", type=positive_int, default=256)
    ev.add_argument("--format", choices=("text", "json"), default="text")
    add_device(ev)
    ev.set_defaults(run=run_eval, keep_freed_memory=True)

    pr = commands.add_parser("predict", help="top classes of image files or .npy arrays, with a trained run",
                             description="Image files (PNG, JPEG) are converted to the model's channels, resized "
                                         "to its input and normalised as in training; a .npy file holds one "
                                         "example or a batch, on the data set's scale (images in [0, 1], or "
                                         "uint8), normalised likewise unless --normalized.")
    pr.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by strided train")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or .npy arrays")
    pr.add_argument("--top", type=positive_int, default=3, metavar="K", help="classes to show per input (default 3)")
    pr.add_argument("--normalized", action="store_true", help=".npy arrays are normalised already")
    pr.add_argument("--best", action="store_true", help="use best.npz, not the last epoch")
    pr.add_argument("--format", choices=("text", "json"), default="text")
    add_device(pr)
    pr.set_defaults(run=run_predict, keep_freed_memory=True)


__all__ = ["add_commands", "format_confusion", "run_eval", "run_predict"]
