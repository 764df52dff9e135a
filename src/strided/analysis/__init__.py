"""Analysis without running: per-layer summaries, receptive fields and cost."""

from .conv_matrix import conv_matrix, conv_matrix_labels, format_matrix
from .summary import LayerRow, Summary, summary

__all__ = ["LayerRow", "Summary", "summary", "conv_matrix", "conv_matrix_labels", "format_matrix"]
