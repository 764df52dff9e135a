"""Integer shape arithmetic shared by the ops (at run time) and the analysis (statically).

Every formula about sizes lives here once:

* ``sizes``: the output size of a sliding window, ``floor((W - d(F-1) - 1 + P_lo + P_hi) / S) + 1``
  (pooling's ``ceil_mode``: ``ceil``, less a last window that would start in the high padding),
  and of a transposed convolution, ``(W - 1)S - P_lo - P_hi + d(F-1) + output_padding + 1``; the
  padding modes ``'valid'``, ``'same'`` (any stride), ``'full'``, ``'causal'``, an int, a tuple
  of ints (one per axis) or a tuple of ``(lo, hi)`` pairs (one per axis); adaptive bins;
  concatenated shapes;
* ``window``: the ``Window`` (and ``TransposedWindow``) value that a layer's arguments resolve
  to for one input size, with the two resolvers that build it and a size-free check for
  constructors;
* ``receptive_field``: the receptive-field recurrence of Araujo et al. (Distill, 2019), and its
  transposed form.

Coordinates for receptive fields are pixel indices of the network input: the centre of the
first input pixel is 0.0, so ``start`` is the index of the centre of the first output's window.
"""

from ..checks import as_tuple
from .receptive_field import ReceptiveField
from .sizes import (PADDING_MODES, adaptive_bins, adaptive_window, ceil_div, concat_shape, conv_output_size,
                    conv_transpose_output_size, explain_output_size, explicit_padding, kernel_extent,
                    resolve_padding, same_padding, transposed_window_output_shape, window_output_shape,
                    window_overhang)
from .window import (TransposedWindow, Window, check_ceil_mode, check_padding, check_window, resolve_transposed_window,
                     resolve_window)

__all__ = [
    "PADDING_MODES", "as_tuple", "conv_output_size", "same_padding", "resolve_padding", "kernel_extent",
    "explicit_padding", "window_output_shape", "conv_transpose_output_size",
    "transposed_window_output_shape", "ReceptiveField", "ceil_div", "explain_output_size",
    "adaptive_bins", "adaptive_window", "concat_shape", "Window", "TransposedWindow", "resolve_window",
    "resolve_transposed_window", "check_window", "check_padding", "check_ceil_mode", "window_overhang",
]
