"""End to end: `fertui summarize` on a batch of generated videos with a participant map and events files, the
figure, the same study as CSV and as Parquet logs, and bad input as one line with exit code 2."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from tests.cli_run import fertui
from tests.media import moving_portrait_frames, write_video
from tests.summary_logs import UNEVEN, write_events, write_log

PARTICIPANTS = {"p01": "control", "p02": "control", "p03": "treated"}


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three participants' videos of 24 frames at 10 fps (2.4 s), a face in every frame."""
    root = tmp_path_factory.mktemp("study")
    for k, participant in enumerate(PARTICIPANTS):
        (root / participant).mkdir()
        frames, _ = moving_portrait_frames(n_frames=24, absent=range(0), name="hopper" if k % 2 else "astronaut")
        write_video(root / participant / "interview.avi", frames, fps=10.0)
    return root


@pytest.fixture(scope="module")
def batches(study: Path, tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The study through `fertui batch` as CSV and as Parquet logs, each log with its events: rest from 0 s, a
    stimulus from 1.2 s."""
    outs = {}
    for fmt in ("csv", "parquet"):
        out = outs[fmt] = tmp_path_factory.mktemp(f"logs-{fmt}")
        done = fertui("batch", str(study), "--out", str(out), "--format", fmt, "--models", str(tiny_models_dir))
        assert done.returncode == 0, done.stderr[-2000:]
        for participant in PARTICIPANTS:
            write_events(out / participant / f"interview.avi.{fmt}", [(0.0, "rest"), (1.2, "stimulus")])
    return outs


@pytest.fixture(scope="module")
def participant_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("map") / "participants.csv"
    lines = ["input,participant,group"] + [f"{p}/interview.avi,{p},{g}" for p, g in PARTICIPANTS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def summarize(batch_out: Path, participant_map: Path, *extra: str) -> list[dict[str, str]]:
    table = batch_out / "summary.csv"
    args = ["summarize", str(batch_out), "--participants", str(participant_map), "--conditions", "trial_type"]
    done = fertui(*args, "--baseline", "rest", *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"summary: {table}" in done.stdout
    return read_table(table)


def test_a_batch_with_a_map_and_events_gives_one_row_per_participant_condition_and_track(
    batches: dict[str, Path], participant_map: Path, tmp_path: Path
) -> None:
    figure = tmp_path / "study.png"
    rows = summarize(batches["csv"], participant_map, "--figure", str(figure), "--group", "group")
    assert {(r["participant"], r["group"]) for r in rows} == set(PARTICIPANTS.items())
    for participant in PARTICIPANTS:
        mine = [r for r in rows if r["participant"] == participant]
        assert {r["condition"] for r in mine} == {"rest", "stimulus"}
        assert {r["log"] for r in mine} == {f"{participant}/interview.avi.csv"}
        faces = [r for r in mine if r["face_id"]]
        assert faces, f"{participant}: no face found"
        for r in mine:
            # 24 frames at 10 fps, the last one held for the median interval: 1.2 s before the stimulus and after
            assert (r["seconds"], r["frames"], r["fps"], r["frames_dropped"]) == ("1.2", "12", "10.0", "0")
        for r in faces:
            assert sum(float(r[c]) for c in r if c.startswith("share_")) == pytest.approx(1.0, abs=1e-5)
            rest_seconds = sum(float(b["face_seconds"]) for b in faces if b["condition"] == "rest")
            rest_happy = sum(
                float(b["share_happy"]) * float(b["face_seconds"]) for b in faces if b["condition"] == "rest"
            )
            expected = float(r["share_happy"]) - rest_happy / rest_seconds  # the baseline pools the rest tracks
            assert float(r["delta_share_happy"]) == pytest.approx(expected, abs=1e-5)
    image = cv2.imread(str(figure))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 400


def test_the_same_study_in_csv_and_parquet_logs_gives_the_same_table(
    batches: dict[str, Path], participant_map: Path
) -> None:
    tables = [summarize(batches[fmt], participant_map) for fmt in ("csv", "parquet")]
    assert len(tables[0]) >= 6
    assert [{k: v for k, v in r.items() if k != "log"} for r in tables[0]] == [
        {k: v for k, v in r.items() if k != "log"} for r in tables[1]
    ]


def test_logs_named_by_a_regex_and_a_parquet_table(tmp_path: Path) -> None:
    for name in ("p07-session1.csv", "p07-session2.jsonl", "p08-session1.csv"):
        write_log(tmp_path / name, UNEVEN)
    out = tmp_path / "table.parquet"
    done = fertui(
        "summarize", str(tmp_path), "--by", "participant=(p\\d+)", "--by", "session=session(\\d)", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(out).to_pylist()
    assert [(r["participant"], r["session"]) for r in table] == [("p07", "1"), ("p07", "2"), ("p08", "1")]
    assert {r["share_sad"] for r in table} == {0.740741}


BAD = [
    (["--window", "3,1", "--conditions", "trial_type"], "--window '3,1'"),
    (["--window", "-1,1"], "--window and --only need --conditions"),
    (["--participants", "MAP"], "participant map needs a participant column"),
    (["--by", "participant"], "--by 'participant': give NAME=REGEX"),
    (["--by", "participant=(zz\\d)"], "does not match this log's path"),
    (["--conditions", "trial_type", "EVENTS"], "onset 'soon' is not a number"),
    (["NOTALOG"], "not a fertui session log"),
    (["--baseline", "rest"], "--baseline 'rest': no log has a face"),
    (["--group", "group"], "--group sets the figure's panels"),
    (["--group", "group", "--figure", "x.png"], "--group group: no such column for"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_and_exit_2(extra: list[str], message: str, tmp_path: Path) -> None:
    log = write_log(tmp_path / "p01.csv", UNEVEN)
    args = [str(log)]
    for k, arg in enumerate(extra):
        if arg == "MAP":
            extra[k] = str(tmp_path / "map.csv")
            Path(extra[k]).write_text("log,who\np01.csv,x\n")
        elif arg == "EVENTS":
            events = write_events(log, [])
            events.write_text(events.read_text() + "soon\t0\tstimulus\tn/a\tn/a\tn/a\tkey\n")
            extra = extra[:k]
            break
        elif arg == "NOTALOG":
            (tmp_path / "other.csv").write_text("a,b\n1,2\n")
            args, extra = [str(tmp_path / "other.csv")], []
            break
    done = fertui("summarize", *args, *extra, "--out", str(tmp_path / "t.csv"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
