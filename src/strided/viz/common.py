"""What every picture of ``st.viz`` shares: the optional imports, figures, saving, photos, colours.

matplotlib and Pillow are the optional extra ``strided[viz]``; they are imported only when a
picture is drawn, and a missing one raises an ``ImportError`` that names the extra (the command
line turns it into exit status 2 and one line). Figures are made without ``pyplot``
(``matplotlib.figure.Figure`` on an Agg canvas), so drawing changes no process-wide state: no
backend is selected, no figure is kept open.

Photos by name (``load_image``): ``china`` and ``flower`` ship with scikit-learn
(``sklearn.datasets.load_sample_image``, part of ``strided[viz]``); ``camera``, ``astronaut``,
``chelsea``, ``coffee``, ``coins`` and ``moon`` ship with scikit-image (``pip install
scikit-image``). Nothing is ever downloaded.
"""

from __future__ import annotations

import os

import numpy as np

VIZ_EXTRA = 'pip install "strided[viz]"'
"""How to install what drawing needs."""

DIVERGING = "RdBu_r"
"""Colour map for signed values (kernels, filter responses): blue negative, white 0, red positive."""
SEQUENTIAL = "viridis"
"""Colour map for non-negative magnitudes."""
GRAY = "gray"
"""Colour map for one-channel images."""

COLORS = {
    "input": "#9ecae1",        # input cells (light blue)
    "padding": "#e6e6e6",      # padding cells (light grey, hatched)
    "window": "#fd8d3c",       # the highlighted kernel window (orange)
    "output": "#a1d99b",       # output cells (light green)
    "active": "#31a354",       # the output cell being computed (dark green)
    "box": "#e6550d",          # a receptive-field box (red-orange)
    "edge": "#404040",         # cell borders
}
"""The colours of the diagrams, shared so every picture reads the same way."""

SKIMAGE_PHOTOS = ("camera", "astronaut", "chelsea", "coffee", "coins", "moon")
SKLEARN_PHOTOS = ("china", "flower")
PHOTOS = SKLEARN_PHOTOS + SKIMAGE_PHOTOS
"""Names ``load_image`` accepts instead of a file (see the module's docstring for where each comes from)."""


# ----------------------------------------------------------------------------------- optional imports
def require_matplotlib(what: str = "drawing"):
    """The ``matplotlib`` module, with its ``figure`` and Agg backend loaded; an ``ImportError``
    naming the ``viz`` extra when it is not installed.

    Args:
        what: what needs matplotlib, the start of the error message (default ``"drawing"``).

    Example:
        >>> require_matplotlib("plot_kernels").__name__        # doctest: +SKIP
        'matplotlib'
    """
    try:
        import matplotlib                       # noqa: F401  (first: a blocked parent must fail here)
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure                # noqa: F401
        import matplotlib.patches               # noqa: F401
    except ImportError as error:
        raise ImportError(f"{what} needs matplotlib: {VIZ_EXTRA} (or pip install matplotlib)") from error
    return matplotlib


def require_pillow(what: str = "writing images"):
    """Pillow's ``PIL.Image`` module; an ``ImportError`` naming the ``viz`` extra when it is not installed.

    Args:
        what: what needs Pillow, the start of the error message (default ``"writing images"``).

    Example:
        >>> require_pillow("save_conv_gif").__name__           # doctest: +SKIP
        'PIL.Image'
    """
    try:
        import PIL                              # noqa: F401
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"{what} needs Pillow: {VIZ_EXTRA} (or pip install Pillow)") from error
    return Image


# ----------------------------------------------------------------------------------- figures
def new_figure(width: float, height: float, dpi: int = 100):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on its own Agg canvas (no ``pyplot``)."""
    matplotlib = require_matplotlib()
    fig = matplotlib.figure.Figure(figsize=(width, height), dpi=dpi)
    matplotlib.backends.backend_agg.FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi: int | None = None) -> str:
    """Write ``fig`` to ``path`` (PNG unless the extension says otherwise), atomically; returns the path.

    The folder is created if needed; a crash mid-write leaves any previous file intact.

    Args:
        fig: a matplotlib ``Figure``.
        path: the file to write (the extension picks the format; PNG by default).
        dpi: resolution (``None``: matplotlib's default).

    Example:
        >>> import tempfile
        >>> from strided.viz import plot_kernel
        >>> fig = plot_kernel(np.eye(8), "sobel-x")                                       # doctest: +SKIP
        >>> os.path.basename(save_figure(fig, os.path.join(tempfile.mkdtemp(), "k.png")))  # doctest: +SKIP
        'k.png'
    """
    from ..io.atomic import atomic_path
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "png"
    with atomic_path(path, "." + ext) as tmp:
        fig.savefig(tmp, dpi=dpi, format=ext, facecolor="white")
        _usual_mode(tmp)
    return path


def _usual_mode(path: str) -> None:
    """A temporary file is private (0600); the picture gets the mode a plain ``open`` would give it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def figure_to_array(fig) -> np.ndarray:
    """``fig`` rendered by Agg: ``(H, W, 3)`` uint8 RGB at the figure's own dpi (GIF frames, tests)."""
    canvas = fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()   # (H, W, 4) -> (H, W, 3)


def save_gif(frames, path, duration_ms: int = 600, loop: int = 0) -> str:
    """Write ``frames`` (``(H, W, 3)`` uint8 arrays of one size) as an animated GIF with Pillow, atomically."""
    from ..io.atomic import atomic_path
    Image = require_pillow("an animated GIF")
    # one adaptive palette per frame, no dithering: flat diagrams stay flat (and small)
    images = [Image.fromarray(np.asarray(f, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
              for f in frames]
    if not images:
        raise ValueError("save_gif: no frames")
    path = os.fspath(path)
    with atomic_path(path, ".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                       loop=loop, disposal=1, optimize=False)   # frames keep what is under them: only changes stored
        _usual_mode(tmp)
    return path


def data_to_pixel(ax, x: float, y: float) -> tuple[int, int]:
    """``(row, column)`` of the pixel at data point ``(x, y)`` of ``ax`` in the figure saved by
    ``save_figure`` (or rendered by ``figure_to_array``) at the figure's own dpi."""
    px, py = ax.transData.transform((x, y))                      # display pixels, origin bottom-left
    height = ax.figure.canvas.get_width_height()[1]               # the rendered height, whole pixels
    return int(height - py), int(px)


def read_png(path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB (alpha dropped): to check what a picture shows."""
    Image = require_pillow("reading images")
    with Image.open(os.fspath(path)) as image:
        return np.asarray(image.convert("RGB"), np.uint8).copy()


def symmetric_limits(values) -> tuple[float, float]:
    """``(-m, m)`` with ``m`` the largest magnitude (1 for all zeros): a diverging map centred on 0."""
    m = float(np.max(np.abs(values))) if np.size(values) else 0.0
    m = m if m > 0 else 1.0
    return -m, m


def show_image(ax, image, title: str | None = None, cmap: str | None = None, vmin=None, vmax=None):
    """Draw an ``(H, W)`` or ``(H, W, 3)`` image on ``ax`` without ticks, pixel centres at integer
    coordinates (pixel ``(i, j)`` covers ``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``)."""
    image = np.asarray(image)
    if image.ndim == 3:
        shown = ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    else:
        shown = ax.imshow(image, cmap=cmap or GRAY, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return shown


# ----------------------------------------------------------------------------------- photos
def _photo(name: str) -> np.ndarray:
    """A shipped photo as uint8 ``(H, W)`` or ``(H, W, 3)``."""
    if name in SKLEARN_PHOTOS:
        try:
            from sklearn.datasets import load_sample_image
        except ImportError as error:
            raise ImportError(f"the photo {name!r} ships with scikit-learn: {VIZ_EXTRA} "
                              f"(or pip install scikit-learn)") from error
        require_pillow(f"the photo {name!r}")          # scikit-learn reads its JPEGs with Pillow
        return np.asarray(load_sample_image(f"{name}.jpg"))
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError(f"the photo {name!r} ships with scikit-image: pip install scikit-image "
                          f"(or use {' or '.join(repr(n) for n in SKLEARN_PHOTOS)}, which ship with "
                          f"scikit-learn)") from error
    return np.asarray(getattr(data, name)())


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` -> ``(H, W)`` by ITU-R 601 luma (Pillow's ``L``): ``0.299 R + 0.587 G + 0.114 B``."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    return image[..., :3] @ np.array([0.299, 0.587, 0.114], image.dtype if image.dtype.kind == "f" else np.float64)


def load_image(name_or_path, gray: bool | None = None) -> np.ndarray:
    """A photo by name (``PHOTOS``) or an image file, as float32 in ``[0, 1]``.

    ``gray=None`` keeps it as stored (``(H, W)`` for a grey image, ``(H, W, 3)`` for colour,
    alpha dropped); ``True`` gives ``(H, W)`` (luma), ``False`` gives ``(H, W, 3)``.

    Args:
        name_or_path: a photo name (``PHOTOS``) or the path of a PNG/JPEG file.
        gray: ``True``: ``(H, W)`` luma; ``False``: ``(H, W, 3)``; ``None``: as stored.

    >>> load_image("china", gray=True).shape   # doctest: +SKIP
    (427, 640)
    """
    key = os.fspath(name_or_path)
    if os.path.isfile(key):
        Image = require_pillow(f"reading {key}")
        try:
            with Image.open(key) as image:
                grey_stored = image.mode in ("1", "L", "LA", "I", "I;16", "F")
                pixels = np.asarray(image.convert("L" if grey_stored else "RGB"), np.uint8)
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"cannot read {key} as an image ({type(error).__name__}: {error})") from None
    elif key.lower() in PHOTOS:
        pixels = _photo(key.lower())
    else:
        raise FileNotFoundError(f"{key} is neither an image file nor a photo name ({', '.join(PHOTOS)})")
    pixels = pixels[..., :3] if pixels.ndim == 3 else pixels               # drop alpha
    image = pixels.astype(np.float32) / np.float32(255) if pixels.dtype == np.uint8 else pixels.astype(np.float32)
    if gray and image.ndim == 3:
        image = to_gray(image).astype(np.float32)
    elif gray is False and image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image


def resize_image(image: np.ndarray, size) -> np.ndarray:
    """``image`` ``(H, W)`` or ``(H, W, C)`` resized to ``size`` ``(h, w)`` with strided's own
    ``F.interpolate``: ``'area'`` (averages) where it shrinks, ``'bilinear'`` where it grows."""
    from ..nn import functional as F
    from ..tensor import no_grad
    image = np.asarray(image, np.float32)
    h, w = (int(s) for s in size)
    if image.shape[:2] == (h, w):
        return image
    x = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]   # (1, C, H, W)
    shrink = h <= image.shape[0] and w <= image.shape[1]
    with no_grad():
        y = F.interpolate(x, size=(h, w), mode="area" if shrink else "bilinear",
                          **({} if shrink else {"align_corners": False}))
    y = np.asarray(y.data if hasattr(y, "data") else y)[0]                      # (C, h, w)
    return y[0] if image.ndim == 2 else y.transpose(1, 2, 0)


__all__ = ["VIZ_EXTRA", "DIVERGING", "SEQUENTIAL", "GRAY", "COLORS", "PHOTOS", "SKIMAGE_PHOTOS", "SKLEARN_PHOTOS",
           "require_matplotlib", "require_pillow", "new_figure", "save_figure", "figure_to_array", "save_gif",
           "data_to_pixel", "read_png", "symmetric_limits", "show_image", "load_image", "to_gray", "resize_image"]
