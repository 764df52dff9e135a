"""``strided kernels`` and ``strided rf``, and the drawing half of ``strided shape`` (``--draw``, ``--gif``).

Parse, call ``strided.viz``, write the picture, print one line per file written. Without
matplotlib (or Pillow, for a GIF) each command stops before any work with an ``ImportError``
naming the ``viz`` extra, which ``cli.main`` turns into exit status 2.
"""

from __future__ import annotations

import numpy as np

MAX_SIDE = 512
"""``strided kernels`` shrinks larger images to this many pixels on their longer side (``--max-size``)."""


def parse_kernel(text: str):
    """A kernel name (or ``all``), or weights written row by row: ``'1,0,-1;2,0,-2;1,0,-1'``."""
    if ";" not in text and "," not in text:
        return text
    try:
        rows = [[float(v) for v in row.split(",")] for row in text.strip().strip(";").split(";")]
    except ValueError:
        raise ValueError(f"--kernel: expected a kernel name or weights like '1,0,-1;2,0,-2;1,0,-1', got {text!r}") \
            from None
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"--kernel: every row needs the same number of weights, got {text!r}")
    return np.array(rows)


def run_kernels(args) -> int:
    from .viz.common import load_image, require_matplotlib, resize_image, save_figure
    from .viz.kernels import get_kernel, plot_kernel, plot_kernels
    require_matplotlib("strided kernels")
    kernel = parse_kernel(args.kernel)
    if not (isinstance(kernel, str) and kernel.lower() == "all"):
        get_kernel(kernel)                                   # an unknown name fails before the image is read
    image = load_image(args.image, gray=True if args.gray else None)
    h, w = image.shape[:2]
    if max(h, w) > args.max_size:
        scale = args.max_size / max(h, w)
        image = resize_image(image, (max(1, round(h * scale)), max(1, round(w * scale))))
    if isinstance(kernel, str) and kernel.lower() == "all":
        fig = plot_kernels(image)
    else:
        fig = plot_kernel(image, kernel)
    print(f"wrote {save_figure(fig, args.out)}")
    return 0


def draw_shape(args, padding) -> None:
    """``strided shape ... --draw PNG --gif GIF``: the arithmetic picture and its animation (neither: nothing)."""
    if not (args.draw or args.gif):
        return
    from .cli_analysis import parse_dims
    from .viz import arithmetic
    from .viz.common import save_figure
    dims = parse_dims(args.input)
    size = dims[0] if len(dims) == 1 else dims                   # one number: a square (a row for 'causal')
    if isinstance(padding, tuple):                               # 'lo,hi' on every axis
        padding = (padding,) * (2 if len(dims) == 1 else len(dims))
    settings = dict(kernel=args.kernel, stride=args.stride, padding=padding, dilation=args.dilation)
    if args.transposed:
        settings["output_padding"] = args.output_padding
    if args.draw:
        draw = arithmetic.plot_transposed_arithmetic if args.transposed else arithmetic.plot_conv_arithmetic
        print(f"wrote {save_figure(draw(size, **settings), args.draw)}")
    if args.gif:
        frames = arithmetic.save_conv_gif(args.gif, size, transposed=args.transposed, **settings)
        print(f"wrote {frames}")


def check_drawing(args) -> None:
    """Before any work: matplotlib for ``--draw``/``--gif``, Pillow for ``--gif``."""
    from .viz.common import require_matplotlib, require_pillow
    if args.draw or args.gif:
        require_matplotlib("strided shape --draw/--gif")
    if args.gif:
        require_pillow("strided shape --gif")


def run_rf(args) -> int:
    from .cli_analysis import parse_dims
    from .viz.common import require_matplotlib, save_figure
    from .viz.receptive import (build_for_geometry, plot_receptive_field, plot_receptive_field_sizes,
                                receptive_field_box, receptive_field_sizes)
    require_matplotlib("strided rf")
    net, shape = build_for_geometry(args.model, parse_dims(args.input) if args.input else None)
    if args.sizes:
        for name, kind, size, jump in receptive_field_sizes(net, shape):
            print(f"{name:<24} {kind:<20} size {'x'.join(f'{v:g}' for v in size):<10} "
                  f"jump {'x'.join(f'{v:g}' for v in jump)}")
        fig = plot_receptive_field_sizes(net, shape, title=args.model)
        print(f"wrote {save_figure(fig, args.out or 'rf-sizes.png')}")
        return 0
    box = receptive_field_box(net, shape, args.layer, args.unit)
    print(box.describe())
    fig = plot_receptive_field(net, shape, box.layer, box.unit, image=args.image)
    print(f"wrote {save_figure(fig, args.out or 'rf.png')}")
    return 0


def add_shape_options(shape) -> None:
    """The drawing options of ``strided shape``."""
    shape.add_argument("--transposed", action="store_true",
                       help="a transposed convolution: padding crops the output (also for --draw/--gif)")
    shape.add_argument("--output-padding", type=int, default=0, help="with --transposed: added at the high end")
    shape.add_argument("--draw", metavar="PNG", help="draw the arithmetic: padded input, window positions, output "
                                                     "(one number draws a square input)")
    shape.add_argument("--gif", metavar="GIF", help="an animated GIF of the kernel sliding, one frame per output "
                                                    "cell (per input cell with --transposed)")


def add_commands(commands) -> None:
    kernels = commands.add_parser("kernels", help="apply an image kernel (blur, sharpen, Sobel, ...) with strided's "
                                                  "convolution and draw input, kernel and output")
    kernels.add_argument("image", help="an image file, or a photo: china, flower (scikit-learn), camera, astronaut, "
                                       "chelsea, coffee (scikit-image)")
    kernels.add_argument("--kernel", default="all", help="a name (identity, box-blur, gaussian-blur, sharpen, emboss, "
                                                         "outline, sobel-left/right/top/bottom, sobel-x, sobel-y, "
                                                         "laplacian), weights row by row like "
                                                         "--kernel=-1,0,1;-2,0,2;-1,0,1, or all")
    kernels.add_argument("--gray", action="store_true", help="convert the image to grey first")
    kernels.add_argument("--max-size", type=int, default=MAX_SIDE, help="shrink larger images to this longer side")
    kernels.add_argument("--out", default="kernels.png")
    kernels.set_defaults(run=run_kernels)

    rf = commands.add_parser("rf", help="the receptive field of one unit drawn on the input, or the receptive-field "
                                        "size per layer (--sizes); from the static rules, no forward pass")
    rf.add_argument("model", help="a registered model, a run folder, or a spec string")
    rf.add_argument("--input", help="input shape without batch, e.g. 3x224x224 (a run folder: its own by default)")
    rf.add_argument("--layer", help="a layer name as strided summary lists it (default: the last with a spatial "
                                    "output)")
    rf.add_argument("--unit", help="the unit's output position, e.g. 3,4 (default: the centre)")
    rf.add_argument("--image", help="draw on this image (a file or a photo name), resized to the input; "
                                    "default: a blank canvas")
    rf.add_argument("--sizes", action="store_true", help="draw the receptive-field size of every layer instead")
    rf.add_argument("--out", help="the PNG to write (default rf.png, or rf-sizes.png with --sizes)")
    rf.set_defaults(run=run_rf)
