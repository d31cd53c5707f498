"""fertui summarize's parts on hand-made logs with known answers: time-weighted shares, episodes, windows between and
around events, the baseline, dropped frames, photos, and the same numbers from CSV, JSON Lines and Parquet."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from pipeline.core.errors import UsageError
from pipeline.summary import logs
from pipeline.summary.accumulate import summarize_log
from pipeline.summary.events import BEFORE_FIRST, WHOLE_SESSION, parse_window, windows_for
from pipeline.summary.study import LogEntry, assign_participants, find_logs
from pipeline.summary.table import build
from tests.summary_logs import UNEVEN, FrameSpec, write_events, write_log


def table(log: Path, column: str | None = None, around=None, baseline=None, min_episode=0.5) -> dict:
    """{(condition, face_id): row} of the summary of one log."""
    entry = LogEntry(log, log.name, fields={"participant": "p1"})
    summary = summarize_log(log, windows_for(log, column, around), min_episode=min_episode)
    return {(r["condition"], r["face_id"]): r for r in build([entry], [summary], baseline).rows}


def test_shares_are_weighted_by_time_not_frames_at_an_uneven_rate(tmp_path: Path) -> None:
    row = table(write_log(tmp_path / "uneven.csv", UNEVEN))[(WHOLE_SESSION, 1)]
    assert row["seconds"] == 1.35 and row["frames"] == 5 and row["face_seconds"] == 1.35
    assert row["fps"] == round(5 / 1.35, 6) == 3.703704
    assert row["share_happy"] == round(0.2 / 1.35, 6) == 0.148148  # not 2/5
    assert row["share_sad"] == round(1.0 / 1.35, 6) == 0.740741
    assert row["share_neutral"] == round(0.15 / 1.35, 6) == 0.111111
    assert row["share_unclear"] == 0.0 and row["face_share"] == 1.0 and row["face_share_any"] == 1.0
    # one-hot probabilities: the mean is the share, the standard deviation sqrt(m (1 - m))
    assert row["mean_sad"] == 0.740741 and row["sd_sad"] == round(math.sqrt(1 / 1.35 * (1 - 1 / 1.35)), 6)
    # episodes of at least 0.5 s: the sad run (0.8 + 0.2 s); happy (0.2 s) and neutral (0.15 s) are too short
    assert row["episodes"] == 1 and row["episode_mean_s"] == 1.0
    assert row["episodes_per_min"] == round(1 / (1.35 / 60), 6) == 44.444444
    assert row["frames_dropped"] == 0


def test_a_shorter_min_episode_counts_the_short_runs_too(tmp_path: Path) -> None:
    row = table(write_log(tmp_path / "uneven.csv", UNEVEN), min_episode=0.15)[(WHOLE_SESSION, 1)]
    assert row["episodes"] == 3 and row["episode_mean_s"] == round(1.35 / 3, 6)


def test_windows_between_events_cut_frames_at_their_edges(tmp_path: Path) -> None:
    log = write_log(tmp_path / "uneven.csv", UNEVEN)
    write_events(log, [(0.5, "stimulus"), (1.0, "rest")])
    rows = table(log, "trial_type")
    before, stimulus, rest = rows[(BEFORE_FIRST, 1)], rows[("stimulus", 1)], rows[("rest", 1)]
    # before 0.5 s: happy 0.2 s, sad 0.3 s of the frame at 0.2 s; then sad 0.5 s; then sad 0.2 s and neutral 0.15 s
    assert (before["seconds"], before["share_happy"], before["share_sad"]) == (0.5, 0.4, 0.6)
    assert (stimulus["seconds"], stimulus["share_sad"], stimulus["frames"], stimulus["fps"]) == (0.5, 1.0, 0, 0.0)
    assert (rest["seconds"], rest["share_sad"], rest["share_neutral"]) == (0.35, 0.571429, 0.428571)
    # the 1.0 s sad run is cut by the window edges: 0.3 s (too short), 0.5 s (an episode), 0.2 s (too short)
    assert (before["episodes"], stimulus["episodes"], rest["episodes"]) == (0, 1, 0)
    assert stimulus["episode_mean_s"] == 0.5


def test_windows_around_events(tmp_path: Path) -> None:
    log = write_log(tmp_path / "uneven.csv", UNEVEN)
    write_events(log, [(0.5, "stimulus"), (1.0, "rest")])
    rows = table(log, "trial_type", around=parse_window("-0.1,0.3"), min_episode=0.25)
    assert set(rows) == {("stimulus", 1), ("rest", 1)}  # no time outside the windows
    stimulus, rest = rows[("stimulus", 1)], rows[("rest", 1)]
    assert (stimulus["seconds"], stimulus["share_sad"]) == (0.4, 1.0)  # [0.4, 0.8)
    assert (rest["seconds"], rest["share_sad"], rest["share_neutral"]) == (0.4, 0.75, 0.25)  # [0.9, 1.3)
    assert rest["episodes"] == 1 and rest["episode_mean_s"] == 0.3  # sad from 0.9 to 1.2 s


def test_the_baseline_is_subtracted_per_participant(tmp_path: Path) -> None:
    log = write_log(tmp_path / "uneven.csv", UNEVEN)
    write_events(log, [(0.5, "stimulus"), (1.0, "rest")])
    rows = table(log, "trial_type", baseline="rest")
    stimulus, rest = rows[("stimulus", 1)], rows[("rest", 1)]
    assert stimulus["delta_share_sad"] == round(1.0 - 0.2 / 0.35, 6) == 0.428571
    assert stimulus["delta_share_neutral"] == -0.428571
    assert rest["delta_share_sad"] == 0.0 and rest["delta_mean_neutral"] == 0.0
    assert stimulus["delta_episodes_per_min"] == round(1 / (0.5 / 60), 6) == 120.0


def test_the_baseline_pools_a_participants_logs_and_tracks(tmp_path: Path) -> None:
    first = write_log(tmp_path / "p01-a.csv", UNEVEN)
    write_events(first, [(0.5, "stimulus"), (1.0, "rest")])
    # another session of p01: 1 s of rest, two faces, happy throughout
    second = write_log(tmp_path / "p01-b.csv", [(i, i / 10, [(1, "happy"), (2, "happy")]) for i in range(11)])
    write_events(second, [(0.0, "rest")])
    entries = find_logs([first, second])
    assign_participants(entries, ["participant=(p\\d+)"], None)
    summaries = [summarize_log(e.path, windows_for(e.path, "trial_type", None)) for e in entries]
    rows = build(entries, summaries, "rest").rows
    stimulus = next(r for r in rows if r["condition"] == "stimulus")
    # rest pooled: sad 0.2 s and neutral 0.15 s from the first log, happy 1.1 s on each of two faces
    assert stimulus["participant"] == "p01"
    assert stimulus["delta_share_sad"] == round(1.0 - 0.2 / 2.55, 6)
    assert stimulus["delta_share_happy"] == round(-2.2 / 2.55, 6)


def test_frames_without_a_face_and_dropped_frames(tmp_path: Path) -> None:
    frames: list[FrameSpec] = [
        (0, 0.0, [(1, "happy")]),
        (1, 0.5, []),
        (4, 1.0, [(1, "happy"), (2, "unclear")]),  # frames 2 and 3 were dropped
        (5, 1.5, []),
    ]
    rows = table(write_log(tmp_path / "gaps.jsonl", frames))
    one, two = rows[(WHOLE_SESSION, 1)], rows[(WHOLE_SESSION, 2)]
    assert one["seconds"] == 2.0 and one["frames_dropped"] == 2 and one["face_share_any"] == 0.5
    assert (one["face_seconds"], one["face_share"], one["share_happy"]) == (1.0, 0.5, 1.0)
    assert (two["face_seconds"], two["face_share"], two["share_unclear"]) == (0.5, 0.25, 1.0)
    assert two["episodes"] == 0  # unclear is not an expression
    # happy 0.5 s, a frame without the face, happy 0.5 s: two episodes of 0.5 s, not one of 1 s
    assert (one["episodes"], one["episode_mean_s"]) == (2, 0.5)
    assert table(write_log(tmp_path / "gaps.csv", frames), min_episode=0.6)[(WHOLE_SESSION, 1)]["episodes"] == 0


def test_a_log_without_faces_gives_one_row_with_no_face_id(tmp_path: Path) -> None:
    rows = table(write_log(tmp_path / "empty.csv", [(i, i * 0.1, []) for i in range(4)]))
    row = rows[(WHOLE_SESSION, None)]
    assert row["seconds"] == 0.4 and row["face_share"] == 0.0 and math.isnan(row["share_happy"])


def test_photos_weigh_one_each_and_have_no_episodes(tmp_path: Path) -> None:
    frames: list[FrameSpec] = [(0, 0.0, [(1, "happy"), (2, "sad")]), (1, 1.0, [(1, "sad")]), (2, 2.0, [(1, "sad")])]
    log = write_log(tmp_path / "photos.csv", frames, stills=True)
    entry = find_logs([log])[0]
    assert entry.stills
    summary = summarize_log(log, windows_for(log, None, None), stills=True)
    entry.fields["participant"] = "p"
    row = next(r for r in build([entry], [summary]).rows if r["face_id"] == 1)
    assert row["weighting"] == "image" and row["frames"] == 3 and math.isnan(row["seconds"])
    assert row["share_sad"] == round(2 / 3, 6) and row["episodes"] is None and math.isnan(row["episodes_per_min"])


def random_frames(n: int, seed: int = 7) -> list[FrameSpec]:
    rng = random.Random(seed)
    labels = ["happy", "sad", "neutral", "unclear", "surprise"]
    frames, time_s, frame = [], 0.0, 0
    for _ in range(n):
        faces = [(f, rng.choice(labels)) for f in (1, 2) if rng.random() < 0.8]
        frames.append((frame, round(time_s, 4), faces))
        time_s += rng.choice([0.033, 0.034, 0.05, 0.1, 0.4])
        frame += rng.choice([1, 1, 1, 2])
    return frames


def test_csv_jsonl_and_parquet_logs_summarise_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "BLOCK_BYTES", 4096)  # many blocks, cut at different rows in each format
    monkeypatch.setattr(logs, "BLOCK_ROWS", 97)
    frames = random_frames(3000)
    tables = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        log = write_log(tmp_path / f"study{suffix}", frames)
        write_events(log, [(10.0, "a"), (25.5, "b"), (40.0, "a")])
        rows = table(log, "trial_type", baseline="a")
        tables.append({key: {k: repr(v) for k, v in row.items() if k != "log"} for key, row in rows.items()})
    assert len(tables[0]) == 6  # (before first event), a and b; faces 1 and 2
    assert tables[0] == tables[1] == tables[2]


def test_a_log_that_is_not_a_session_log_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match="not a fertui session log \\(no frame, time_s, face_id, emotion column\\)"):
        summarize_log(bad, windows_for(bad, None, None))
    backwards = write_log(tmp_path / "back.csv", [(0, 1.0, []), (1, 0.5, [])])
    with pytest.raises(UsageError, match="time_s goes backwards at frame 1"):
        summarize_log(backwards, windows_for(backwards, None, None))


@pytest.mark.parametrize("text", ["3,1", "1", "a,b", "0,0", "nan,1"])
def test_a_malformed_window_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--window"):
        parse_window(text)


def test_events_beside_the_recorded_video_serve_a_batch_log(tmp_path: Path) -> None:
    video = tmp_path / "study" / "p01.mp4"
    video.parent.mkdir()
    write_events(video, [(0.5, "stimulus")])  # the stimulus software's file, beside the video
    log = write_log(tmp_path / "p01.mp4.csv", UNEVEN)
    Path(f"{log}.meta.json").write_text(json.dumps({"batch": {"input": "p01.mp4", "path": str(video)}}))
    entry = find_logs([tmp_path])[0]
    assert entry.source == video and entry.input == "p01.mp4"
    windows = windows_for(entry.path, "trial_type", source=entry.source)
    assert [w.condition for w in windows] == [BEFORE_FIRST, "stimulus"]
    write_events(log, [(1.0, "rest")])  # the log's own events file comes first
    assert [w.condition for w in windows_for(entry.path, "trial_type", source=entry.source)] == [BEFORE_FIRST, "rest"]


def test_the_last_frame_holds_for_the_median_interval() -> None:
    from collections import Counter

    from pipeline.summary.accumulate import _median_interval

    assert _median_interval(Counter({1000: 2, 2000: 1, 8000: 1})) == 0.15  # 0.1, 0.1, 0.2, 0.8 s
    assert _median_interval(Counter({333: 5, 334: 1, 667: 1})) == 0.0333
    assert _median_interval(Counter()) == 0.0
