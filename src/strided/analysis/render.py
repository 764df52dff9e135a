"""Rendering a ``Summary`` as a text table, Markdown or HTML (the totals, and the note of a traced one, below)."""

from __future__ import annotations

import html


def _shape(shape) -> str:
    if shape and isinstance(shape[0], tuple):                           # several inputs (a traced call)
        return ", ".join(_shape(s) for s in shape)
    return "x".join(str(v) for v in shape)


def _rf(rf) -> tuple[str, str, str]:
    if rf is None:
        return "-", "-", "-"

    def fmt(values):
        texts = [f"{v:g}" for v in values]
        return texts[0] if len(set(texts)) == 1 else "x".join(texts)
    return fmt(rf.size), fmt(rf.jump), fmt(rf.start)


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


HEADER = ("layer", "type", "output", "params", "MACs", "memory", "RF size", "jump", "start")


def _table(summary) -> list[tuple[str, ...]]:
    rows = []
    for row in summary.rows:
        rows.append((row.name, row.type, _shape(row.output_shape), f"{row.params:,}", human(row.macs),
                     human(row.memory_bytes) + "B", *_rf(row.receptive_field)))
    return rows


def _totals(summary) -> list[str]:
    frozen = summary.params - summary.trainable_params
    lines = [
        f"input: {_shape(summary.input_shape)}   output: {_shape(summary.output_shape)}",
        f"params: {summary.params:,} (trainable {summary.trainable_params:,}, frozen {frozen:,})",
        f"MACs: {summary.macs:,} ({human(summary.macs)})   activations: {human(summary.memory_bytes)}B (float32)",
    ]
    return lines + ([summary.note] if summary.note else [])


def render_text(summary) -> str:
    """A fixed-width table, one row per layer application, then the totals."""
    rows = _table(summary)
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(len(HEADER))]
    right = {3, 4, 5, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "-" * len(line(HEADER))
    return "\n".join([summary.model_name, rule, line(HEADER), rule] + [line(r) for r in rows] + [rule]
                     + _totals(summary))


def render_markdown(summary) -> str:
    """A GitHub-flavoured Markdown table and the totals as a list."""
    lines = [f"**{summary.model_name}**", "", "| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---" if i < 3 else "---:" for i in range(len(HEADER))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in _table(summary)]
    lines += [""] + [f"- {t}" for t in _totals(summary)]
    return "\n".join(lines)


def render_html(summary) -> str:
    """An HTML ``<table>`` (class ``summary``, numbers right-aligned) and the totals as a list; all text escaped."""
    right, number = {3, 4, 5, 6, 7, 8}, ' class="num"'

    def cells(values, tag):
        return "".join(f"<{tag}{number if i in right else ''}>{html.escape(v)}</{tag}>" for i, v in enumerate(values))
    lines = [f'<table class="summary"><caption>{html.escape(summary.model_name)}</caption>',
             f"<thead><tr>{cells(HEADER, 'th')}</tr></thead>", "<tbody>"]
    lines += [f"<tr>{cells(r, 'td')}</tr>" for r in _table(summary)]
    lines += ["</tbody></table>", '<ul class="totals">']
    lines += [f"<li>{html.escape(t)}</li>" for t in _totals(summary)] + ["</ul>"]
    return "\n".join(lines)
