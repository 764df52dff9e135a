"""``strided shape`` and ``strided summary``: the analysis commands of the command line."""

from __future__ import annotations


def parse_dims(text: str) -> tuple[int, ...]:
    """``'3x224x224'`` -> ``(3, 224, 224)``."""
    try:
        dims = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected sizes like 227 or 3x224x224, got {text!r}") from None
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"expected positive sizes like 227 or 3x224x224, got {text!r}")
    return dims


def parse_padding(text: str):
    """An int, ``lo,hi``, or a mode name."""
    if text.lstrip("-").isdigit():
        return int(text)
    if "," in text:
        lo, hi = text.split(",", 1)
        return (int(lo), int(hi))
    return text


def run_shape(args) -> int:
    from .cli_viz import check_drawing, draw_shape
    from .geometry import explain_output_size
    check_drawing(args)
    sizes = parse_dims(args.input)
    outs = []
    for size in sizes:
        if args.transposed:
            out, text = explain_transposed_size(size, args)
            print(f"output = (W - 1)*S - P_lo - P_hi + d*(F - 1) + output_padding + 1 = {text}")
        else:
            out, text = explain_output_size(size, args.kernel, args.stride, parse_padding(args.padding), args.dilation)
            print(f"output = floor((W + P_lo + P_hi - d*(F - 1) - 1) / S) + 1 = {text}")
        outs.append(out)
    print("x".join(str(o) for o in outs))
    draw_shape(args, parse_padding(args.padding))
    return 0


def explain_transposed_size(size: int, args) -> tuple[int, str]:
    """A transposed convolution's output size along one axis, and its formula filled in."""
    from .geometry import resolve_transposed_window
    padding = parse_padding(args.padding)
    t = resolve_transposed_window((size,), args.kernel, args.stride, args.dilation,
                                  (padding,) if isinstance(padding, tuple) else padding, args.output_padding,
                                  owner="transposed output size")
    (lo, hi), = t.pads
    out, = t.out_sizes
    return out, (f"({size} - 1)*{args.stride} - {lo} - {hi} + {args.dilation}*({args.kernel} - 1) + "
                 f"{args.output_padding} + 1 = {out}")


def _print_table(table, fmt: str) -> None:
    print({"json": table.to_json, "markdown": table.to_markdown}.get(fmt, table.to_text)())


def run_onnx_info(args) -> int:
    """The layer table of an ONNX file (shapes, parameters, MACs), computed without running it."""
    from .onnx import info
    _print_table(info(args.file, batch_size=args.batch), args.format)
    return 0


def run_summary(args) -> int:
    """Build the model shape-only (``nn.meta()``: no weights drawn or stored) and print its summary;
    an ``.onnx`` file is described from its graph (its shapes come from the file)."""
    from .analysis import summary
    from .models import create_model, list_models
    from .nn import from_spec, meta
    if args.model.endswith(".onnx"):
        from .onnx import info
        _print_table(info(args.model, batch_size=1), args.format)
        return 0
    if args.input is None:
        raise ValueError("summary: --input is required for a model name or a spec string (e.g. --input 3x224x224)")
    shape = parse_dims(args.input)
    if args.model in list_models():
        model = create_model(args.model, meta=True)
    elif any(ch in args.model for ch in " -"):
        with meta():
            model = from_spec(args.model, shape)
    else:
        create_model(args.model)   # raises with the closest names
    _print_table(summary(model, (1,) + shape), args.format)
    return 0


def add_commands(commands) -> None:
    from .cli_viz import add_shape_options
    shape = commands.add_parser("shape", help="output size of a convolution or pooling layer, with the formula")
    shape.add_argument("--input", required=True, help="input size, e.g. 227 or 32x32")
    shape.add_argument("--kernel", type=int, required=True)
    shape.add_argument("--stride", type=int, default=1)
    shape.add_argument("--padding", default="0", help="int, 'lo,hi', valid, same, full or causal")
    shape.add_argument("--dilation", type=int, default=1)
    add_shape_options(shape)
    shape.set_defaults(run=run_shape)

    summ = commands.add_parser("summary", help="layer-by-layer table of a model or a spec string "
                                               "(built shape-only: no weights drawn)")
    summ.add_argument("model", help="a registered model name, a spec like 'conv3-64 maxpool FC-10', or FILE.onnx")
    summ.add_argument("--input", help="input shape without batch, e.g. 3x224x224 (not for .onnx files)")
    summ.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    summ.set_defaults(run=run_summary)

    onnx_info = commands.add_parser("onnx-info", help="layer table of an ONNX model (shapes, params, MACs), "
                                                      "without running it")
    onnx_info.add_argument("file")
    onnx_info.add_argument("--batch", type=int, default=1)
    onnx_info.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    onnx_info.set_defaults(run=run_onnx_info)
