"""Pictures of what a CNN computes, each computed by strided's own ops and analysis.

matplotlib and Pillow (``pip install "strided[viz]"``) are imported only when a picture is
drawn; importing ``strided.viz`` needs NumPy alone, and without them each drawing function
raises an ``ImportError`` naming the extra.

- ``kernels``: the classic image kernels (``KERNELS``) and ``apply_kernel`` (cross-correlation
  through ``F.conv2d``), drawn as input | kernel | output.
- ``arithmetic``: convolution arithmetic (padded input, window positions, output; transposed
  convolution; an animated GIF of the sliding window), from the resolved ``Window``.
- ``receptive``: the receptive field of one unit as a box on the input, and receptive-field
  sizes per layer, from ``summary``'s static rule.
- ``filters``: a trained convolution's filters as a grid of tiles (``plot_filters``).
- ``maps``: every channel of one layer's output for one input, through a forward hook
  (``capture``, ``plot_activations``).
- ``curves``: training curves from a history (``plot_history``) and the confusion matrix
  (``plot_confusion``); ``examples``: predictions and misclassified examples (``plot_predictions``,
  ``plot_misclassified``); ``report``: a run folder as one self-contained HTML page
  (``write_report``); ``runs`` and ``mosaic``: a run's pieces, and tiles laid out as one picture.
- ``common``: the shared figure helpers (optional imports, saving, photos, colours).
"""

from .common import load_image, require_matplotlib, require_pillow, save_figure
from .kernels import KERNEL_ALIASES, KERNELS, apply_kernel, get_kernel, plot_kernel, plot_kernels
from .arithmetic import plot_conv_arithmetic, plot_transposed_arithmetic, save_conv_gif
from .receptive import (plot_receptive_field, plot_receptive_field_sizes, receptive_field_box,
                        receptive_field_sizes)
from .filters import plot_filters
from .maps import capture, plot_activations
from .curves import plot_confusion, plot_history
from .examples import misclassified, plot_misclassified, plot_predictions
from .report import write_report

__all__ = [
    "load_image", "require_matplotlib", "require_pillow", "save_figure",
    "KERNELS", "KERNEL_ALIASES", "apply_kernel", "get_kernel", "plot_kernel", "plot_kernels",
    "plot_conv_arithmetic", "plot_transposed_arithmetic", "save_conv_gif",
    "plot_receptive_field", "plot_receptive_field_sizes", "receptive_field_box", "receptive_field_sizes",
    "plot_filters", "capture", "plot_activations", "plot_history", "plot_confusion", "misclassified",
    "plot_misclassified", "plot_predictions", "write_report",
]
