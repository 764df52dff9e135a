"""Analysis without running: per-layer summaries, receptive fields and cost."""

from .summary import LayerRow, Summary, summary

__all__ = ["LayerRow", "Summary", "summary"]
