"""The study at a glance: emotion shares per condition, one panel per participant (stacked bars, each bar one
condition's time), or with a group column one panel per group (the participants' mean share per emotion and
condition, with their standard deviation as error bars and each participant as a dot).

matplotlib's object API on the Agg canvas, written owner-only like every other export.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from pipeline.core.errors import UsageError
from pipeline.core.files import write_private_atomic
from pipeline.summary.accumulate import LABELS
from pipeline.summary.report import COLORS
from pipeline.summary.table import Summary

MAX_PANELS = 24


def _conditions(summary: Summary) -> list[str]:
    return list(dict.fromkeys(str(r["condition"]) for r in summary.rows))


def _participant_panels(figure, summary: Summary, conditions: list[str]) -> None:
    participants = sorted(summary.pooled)[:MAX_PANELS] or ["(no faces)"]
    columns = min(4, len(participants))
    grid_rows = math.ceil(len(participants) / columns)
    axes = figure.subplots(grid_rows, columns, squeeze=False, sharey=True)
    for axis, participant in zip(axes.flat, participants, strict=False):
        stats = summary.pooled.get(participant, {})
        shown = [c for c in conditions if c in stats]
        bottom = np.zeros(len(shown))
        for label in LABELS:
            values = np.array([stats[c].shares()[label] for c in shown], dtype=float)
            axis.bar(shown, values, bottom=bottom, color=COLORS[label], label=label, width=0.7)
            bottom += np.nan_to_num(values)
        axis.set_title(participant, fontsize="medium")
        axis.set_ylim(0, 1)
        axis.tick_params(axis="x", labelrotation=30, labelsize="small")
    for axis in list(axes.flat)[len(participants) :]:
        axis.axis("off")
    for axis in axes[:, 0]:
        axis.set_ylabel("share of time")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize="small")


def _group_panels(figure, summary: Summary, conditions: list[str], group: str) -> None:
    groups: dict[str, list[str]] = {}
    for participant in sorted(summary.pooled):
        value = summary.fields.get(participant, {}).get(group)
        if value is None:
            raise UsageError(f"--group {group}: participant {participant} has no {group} (add it to the map)")
        groups.setdefault(value, []).append(participant)
    if not groups:
        groups = {"(no faces)": []}
    axes = figure.subplots(len(groups), 1, squeeze=False, sharey=True)[:, 0]
    width = 0.8 / max(1, len(conditions))
    palette = [f"C{i % 10}" for i in range(len(conditions))]
    x = np.arange(len(LABELS))
    for axis, (value, members) in zip(axes, groups.items(), strict=True):
        for k, condition in enumerate(conditions):
            shares = np.array(
                [
                    [summary.pooled[p][condition].shares()[label] for label in LABELS]
                    for p in members
                    if condition in summary.pooled[p]
                ],
                dtype=float,
            ).reshape(-1, len(LABELS))
            if not len(shares):
                continue
            offset = x - 0.4 + width * (k + 0.5)
            mean, spread = np.nanmean(shares, axis=0), np.nanstd(shares, axis=0)
            axis.bar(offset, mean, width, yerr=spread, capsize=2, color=palette[k], alpha=0.75, label=condition)
            shown = np.nanmax(shares, axis=0) > 0  # no dots along the floor for labels nobody showed
            for row in shares:
                axis.plot(offset[shown], row[shown], "o", color="black", markersize=2.5, alpha=0.6)
        axis.set_title(f"{group} {value} (n = {len(members)}): mean share, SD as bars, dots = participants")
        axis.set_xticks(x, LABELS)
        axis.set_ylim(0, 1)
        axis.set_ylabel("share of time")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncol=min(6, len(conditions)), fontsize="small")


def draw_figure(summary: Summary, out: Path, group: str | None = None) -> None:
    """Draw the shares per condition into `out` (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    conditions = _conditions(summary)
    if group is None:
        panels = max(1, min(MAX_PANELS, len(summary.pooled)))
        columns, rows = min(4, panels), math.ceil(panels / 4)
        size = (3.0 * columns + 0.3 * len(conditions) + 1.4, 3.4 * rows + 0.4)
    else:
        groups = {summary.fields.get(p, {}).get(group) for p in summary.pooled} or {None}
        size = (max(8.0, 1.2 * len(LABELS) * max(1, len(conditions)) ** 0.5), 2.6 * len(groups) + 0.6)
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    if group is None:
        _participant_panels(figure, summary, conditions)
    else:
        _group_panels(figure, summary, conditions, group)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    try:
        write_private_atomic(out, buffer.getvalue())
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
