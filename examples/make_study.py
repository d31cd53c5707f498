"""A small made-up study to try `fertui summarize` on (run from a checkout: it uses the tests' media helpers).

    uv run python examples/make_study.py study

Writes `study/pNN/interview.avi` for four made-up "participants", an events file beside each video
(`interview.avi.events.tsv`: rest at 0 s, a stimulus at 4 s, rest again at 8 s) and `study/participants.csv` (input,
participant, group). Each video is 12 s at 10 fps of a public-domain portrait sliding across a wall and leaving the
picture for a while: Grace Hopper (matplotlib's sample, calm) throughout for group B; for group A, from 4 to 8 s,
the stimulus, Eileen Collins (scikit-image's astronaut, smiling) takes her place, so group A "smiles at the
stimulus". Then:

    uv run fertui batch study --out study-logs
    uv run fertui summarize study-logs --participants study/participants.csv --conditions trial_type \\
        --baseline rest --figure study-logs/summary.png
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.media import moving_portrait_frames, write_video  # noqa: E402

PARTICIPANTS = {  # participant: (group, frames out of the picture)
    "p01": ("A", range(30, 50)),
    "p02": ("A", range(90, 100)),
    "p03": ("B", range(45, 70)),
    "p04": ("B", range(0, 10)),
}
STIMULUS_FRAMES = range(40, 80)
EVENTS = [(0.0, "rest"), (4.0, "stimulus"), (8.0, "rest")]


def main(root: Path) -> None:
    lines = ["input,participant,group"]
    for participant, (group, absent) in PARTICIPANTS.items():
        folder = root / participant
        folder.mkdir(parents=True, exist_ok=True)
        frames, _ = moving_portrait_frames(n_frames=120, size=(320, 240), absent=absent, name="hopper")
        if group == "A":
            smiling, _ = moving_portrait_frames(n_frames=120, size=(320, 240), absent=absent, name="astronaut")
            frames[STIMULUS_FRAMES.start : STIMULUS_FRAMES.stop] = smiling[STIMULUS_FRAMES.start : STIMULUS_FRAMES.stop]
        video = write_video(folder / "interview.avi", frames, fps=10.0)
        events = ["onset\tduration\ttrial_type\tvalue\tframe\twall_time\tsource"]
        events += [f"{onset}\t0\t{kind}\tn/a\tn/a\tn/a\tfile" for onset, kind in EVENTS]
        Path(f"{video}.events.tsv").write_text("\n".join(events) + "\n")
        lines.append(f"{participant}/interview.avi,{participant},{group}")
    (root / "participants.csv").write_text("\n".join(lines) + "\n")
    print(f"{len(PARTICIPANTS)} videos, their events files and participants.csv in {root}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "study"))
