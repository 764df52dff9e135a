"""The classic image kernels (lecture 001, setosa.io's "Image Kernels") applied by strided's convolution.

``KERNELS`` holds the 3x3 kernels by name; ``apply_kernel(image, kernel)`` slides one over an
image with ``F.conv2d`` (zero padding, ``padding='same'``), per channel for a colour image.
As in every deep-learning library this is **cross-correlation**: output ``(i, j)`` is
``sum_{u,v} K[u, v] * x[i + u - c, j + v - c]``, the kernel is *not* flipped (image processing's
convolution flips it along both axes first). It equals
``scipy.signal.correlate2d(image, kernel, mode='same')`` with zero borders.

``plot_kernel`` draws input | kernel values | output; ``plot_kernels`` one panel per named kernel.
"""

from __future__ import annotations

import numpy as np

from .common import DIVERGING, new_figure, show_image, symmetric_limits


def _k(rows) -> np.ndarray:
    a = np.array(rows, np.float64)
    a.flags.writeable = False
    return a


KERNELS: dict[str, np.ndarray] = {
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "box-blur": _k(np.ones((3, 3)) / 9),
    "gaussian-blur": _k(np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "outline": _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "sobel-left": _k([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "sobel-right": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel-top": _k([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "sobel-bottom": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "laplacian": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
}
"""Named 3x3 kernels (float64, read-only), as cross-correlation weights: ``sobel-right`` is positive
where the image gets brighter to the right (a dark-to-bright vertical edge), ``sobel-bottom`` where
it gets brighter downwards."""

KERNEL_ALIASES = {"sobel-x": "sobel-right", "sobel-y": "sobel-bottom", "blur": "box-blur", "gaussian": "gaussian-blur",
                  "edge": "outline", "laplace": "laplacian"}
"""Other names for ``KERNELS`` entries (``sobel-x``: the horizontal derivative, ``sobel-y``: the vertical one)."""


def kernel_name(name: str) -> str:
    """The ``KERNELS`` key for ``name`` (case, ``_`` and spaces ignored; aliases and ``left-sobel`` forms accepted)."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    key = KERNEL_ALIASES.get(key, key)
    parts = key.split("-")
    if len(parts) == 2 and parts[1] == "sobel":                 # 'left-sobel' -> 'sobel-left'
        key = f"sobel-{parts[0]}"
    if key not in KERNELS:
        names = ", ".join(list(KERNELS) + list(KERNEL_ALIASES))
        raise ValueError(f"unknown kernel {name!r}; expected one of {names}, or 'all'")
    return key


def get_kernel(kernel) -> np.ndarray:
    """A kernel by name (``KERNELS``, ``KERNEL_ALIASES``) or as a 2-D array of numbers, as float64.

    Args:
        kernel: a name (``KERNELS``, ``KERNEL_ALIASES``) or a 2-D array of numbers.

    Example:
        >>> get_kernel("sobel-x").tolist()
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    """
    if isinstance(kernel, str):
        return KERNELS[kernel_name(kernel)]
    k = np.asarray(kernel)
    if k.ndim != 2 or k.size == 0 or k.dtype.kind not in "biuf":
        raise ValueError(f"apply_kernel: expected a kernel name or a 2-D array of numbers, got "
                         f"{k.dtype} array of shape {k.shape}")
    return k.astype(np.float64)


def apply_kernel(image, kernel) -> np.ndarray:
    """Slide ``kernel`` over ``image`` with ``F.conv2d`` (zero padding, output the input's size).

    This is cross-correlation, not image processing's convolution: the kernel is not flipped,
    ``out[i, j] = sum_{u,v} K[u, v] * x[i + u - lo, j + v - lo]`` (``lo`` the low pad of
    ``padding='same'``), equal to ``scipy.signal.correlate2d(image, kernel, mode='same')``.
    A colour image is filtered channel by channel (the channels become the batch axis).

    Args:
        image: ``(H, W)`` or ``(H, W, C)``.
        kernel: a name (``KERNELS``, ``KERNEL_ALIASES``) or a 2-D array.

    Shape: ``(H, W) -> (H, W)``, ``(H, W, C) -> (H, W, C)``; float64.

    >>> x = np.zeros((5, 5)); x[:, 3:] = 1                 # dark left, bright right
    >>> apply_kernel(x, "sobel-x")[2]                      # positive on the vertical edge
    array([ 0.,  0.,  4.,  4., -4.])
    """
    from ..nn import functional as F
    from ..tensor import no_grad
    k = get_kernel(kernel)
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        x = image[None, None]                                  # (1, 1, H, W)
    elif image.ndim == 3:
        x = image.transpose(2, 0, 1)[:, None]                  # (C, 1, H, W): channels as the batch
    else:
        raise ValueError(f"apply_kernel: expected an image (H, W) or (H, W, C), got shape {image.shape}")
    with no_grad():
        y = F.conv2d(np.ascontiguousarray(x), k[None, None].copy(), padding="same")   # (C, 1, H, W)
    y = np.asarray(y.data)[:, 0]                               # (C, H, W)
    return y[0].copy() if image.ndim == 2 else y.transpose(1, 2, 0).copy()


def kernel_scale(k: np.ndarray) -> int:
    """The smallest ``n <= 256`` making ``n * k`` whole numbers (1 if none): ``box-blur`` is ``1/9 x ones``."""
    for n in range(1, 257):
        if np.allclose(k * n, np.round(k * n), atol=1e-9):
            return n
    return 1


def is_smoothing(k: np.ndarray) -> bool:
    """Weights summing to 1 (identity, blurs, sharpen, emboss) give an image; others (edges) a signed map."""
    return abs(float(np.sum(k)) - 1.0) < 1e-9


def draw_kernel_values(ax, kernel, title: str | None = None) -> None:
    """The kernel as a small annotated grid: one cell per weight, coloured by sign, its value written in it."""
    k = get_kernel(kernel)
    n = kernel_scale(k)
    lo, hi = symmetric_limits(k)
    ax.imshow(k, cmap=DIVERGING, vmin=lo, vmax=hi, interpolation="nearest")
    shown = np.round(k * n).astype(int) if n > 1 or np.allclose(k, np.round(k)) else k
    for (i, j), v in np.ndenumerate(shown):
        text = str(v) if np.issubdtype(np.asarray(shown).dtype, np.integer) else f"{v:.2g}"
        strong = abs(k[i, j]) > 0.6 * hi
        ax.text(j, i, text, ha="center", va="center", fontsize=10, color="white" if strong else "black")
    ax.set_xticks(np.arange(-0.5, k.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, k.shape[0], 1), minor=True)
    ax.grid(which="minor", color="#404040", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title((title or "kernel") + (f"  (x 1/{n})" if n > 1 else ""), fontsize=9)


def draw_response(ax, image, kernel, title: str | None = None):
    """``apply_kernel(image, kernel)`` on ``ax``: as an image (clipped to [0, 1]) for a kernel whose weights
    sum to 1, else as a signed map (channel mean) on the diverging colour map centred on 0."""
    k = get_kernel(kernel)
    out = apply_kernel(image, k)
    if is_smoothing(k):
        return show_image(ax, np.clip(out, 0, 1), title, vmin=0, vmax=1), out
    signed = out.mean(axis=2) if out.ndim == 3 else out
    lo, hi = response_limits(signed)
    return show_image(ax, signed, title, cmap=DIVERGING, vmin=lo, vmax=hi), out


def response_limits(signed: np.ndarray) -> tuple[float, float]:
    """``(-m, m)`` for a signed response: ``m`` the 99.5th percentile of ``|values|``, at least a quarter of
    the largest, so a few extreme pixels (the zero-padded border) do not wash out the edges."""
    magnitude = np.abs(signed)
    largest = float(magnitude.max()) if magnitude.size else 0.0
    if largest == 0:
        return -1.0, 1.0
    m = max(float(np.percentile(magnitude, 99.5)), largest / 4)
    return -m, m


def plot_kernel(image, kernel, name: str | None = None, size: float = 3.2):
    """Input | kernel values | output, side by side; returns the matplotlib ``Figure``.

    ``image``: ``(H, W)`` or ``(H, W, 3)`` in ``[0, 1]`` (see ``common.load_image``). Axes
    ``fig.axes[0..2]`` are the three panels, pixel ``(i, j)`` at data coordinates ``(j, i)``.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` in ``[0, 1]``.
        kernel: a name or a 2-D array.
        name: the title (default: the kernel's name).
        size: inches per panel.

    Example:
        >>> len(plot_kernel(np.eye(8), "sobel-x").axes)                  # doctest: +SKIP
        4
    """
    k = get_kernel(kernel)
    label = name or _label(kernel, k)
    aspect = np.shape(image)[0] / np.shape(image)[1]
    fig = new_figure(3 * size, size * min(max(aspect, 0.5), 1.5) + 0.5)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.6, 1]})
    show_image(axes[0], image, "input", vmin=0, vmax=1)
    draw_kernel_values(axes[1], k, label)
    shown, _ = draw_response(axes[2], image, k, f"output {image_shape(image)} (cross-correlation, zero padding)")
    if not is_smoothing(k):
        fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02, extend="both")
    fig.subplots_adjust(left=0.02, right=0.95, top=0.88, bottom=0.04, wspace=0.15)
    return fig


def _label(kernel, k) -> str:
    """``sobel-x (sobel-right)`` for an alias, the name for a name, ``HxW kernel`` for an array."""
    if not isinstance(kernel, str):
        return f"{k.shape[0]}x{k.shape[1]} kernel"
    key = kernel_name(kernel)
    given = str(kernel).strip().lower()
    return key if given == key else f"{given} ({key})"


def image_shape(image) -> str:
    return "x".join(str(s) for s in np.shape(image)[:2])


def plot_kernels(image, names=None, columns: int = 4, size: float = 2.4):
    """The input and one output panel per kernel in ``names`` (default: every ``KERNELS`` entry); each
    title shows the kernel's name and its weights.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` in ``[0, 1]``.
        names: kernel names (default: every ``KERNELS`` entry).
        columns: panels per row.
        size: inches per panel.

    Example:
        >>> len(plot_kernels(np.eye(8), ["sobel-x", "sobel-y"]).axes)    # doctest: +SKIP
        4
    """
    names = [kernel_name(n) for n in (names or list(KERNELS))]
    count = len(names) + 1
    rows = -(-count // columns)
    aspect = min(max(np.shape(image)[0] / np.shape(image)[1], 0.4), 2.0)
    fig = new_figure(columns * size, rows * (size * aspect + 0.35))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    show_image(axes[0], image, "input", vmin=0, vmax=1)
    for ax, name in zip(axes[1:], names):
        n = kernel_scale(KERNELS[name])
        draw_response(ax, image, name, name + (f" (x 1/{n})" if n > 1 else ""))
        inset = ax.inset_axes([0.0, 0.0, 0.3, 0.3])            # the kernel's weights in a corner
        draw_kernel_values(inset, name, "")
        inset.set_title("")
        for text in inset.texts:
            text.set_fontsize(5)
    for ax in axes[count:]:
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.3 / fig.get_size_inches()[1], bottom=0.01, wspace=0.05,
                        hspace=0.35 / (size * aspect))
    return fig


__all__ = ["KERNELS", "KERNEL_ALIASES", "kernel_name", "get_kernel", "apply_kernel", "plot_kernel", "plot_kernels",
           "draw_kernel_values", "draw_response", "response_limits", "kernel_scale", "is_smoothing"]
