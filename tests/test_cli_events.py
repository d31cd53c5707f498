"""An experiment's events for a recorded video: `fertui analyze VIDEO --events FILE.tsv` and `VIDEO.events.tsv` in
`fertui batch` carry them into LOG.events.tsv and the report; a malformed file is one line and exit 2."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pipeline.batch.inputs import BatchInput
from pipeline.batch.task import BatchSettings, completed, run_task
from pipeline.io.events import read_events
from tests.cli_run import fertui
from tests.media import moving_portrait_frames, write_video

EVENTS = "onset\tduration\ttrial_type\tvalue\tresponse_time\n0.5\t0.5\tface\thappy\t0.61\n1.2\tn/a\tblank\tn/a\tn/a\n"


def test_analyze_carries_a_videos_events_into_the_events_file_and_the_report(tmp_path, moving_video, tiny_models_dir):
    video, _ = moving_video
    given = tmp_path / "run1_events.tsv"
    given.write_text(EVENTS)
    out = tmp_path / "clip.csv"
    done = fertui("analyze", str(video), "--out", str(out), "--models", str(tiny_models_dir), "--events", str(given))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "events: 2 in" in done.stdout
    events_file = tmp_path / "clip.csv.events.tsv"
    assert stat.S_IMODE(events_file.stat().st_mode) == 0o600
    assert [(e.onset, e.duration, e.trial_type, e.value, e.source) for e in read_events(events_file)] == [
        (0.5, 0.5, "face", "happy", "file"),
        (1.2, None, "blank", None, "file"),
    ]
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["events_file"]["events"] == 2 and meta["events_file"]["by_source"] == {"file": 2}
    report = fertui("report", str(out))
    assert report.returncode == 0, report.stderr[-2000:]
    assert "2 event(s) from clip.csv.events.tsv" in report.stdout
    assert out.with_suffix(".png").stat().st_size > 0


def test_analyze_without_events_writes_no_events_file(tmp_path, moving_video, tiny_models_dir):
    video, _ = moving_video
    out = tmp_path / "plain.csv"
    done = fertui("analyze", str(video), "--out", str(out), "--models", str(tiny_models_dir), "--max-frames", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not Path(f"{out}.events.tsv").exists()
    assert json.loads(Path(f"{out}.meta.json").read_text()).get("events_file") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("onset\tduration\n1\t0\nlater\t0\n", "line 3: onset 'later' is not a number"),
        ("when\twhat\n1\tgo\n", "line 1: the header has no onset or duration column"),
        ("", "empty events file"),
    ],
)
def test_a_malformed_events_file_is_one_line_and_exit_2(tmp_path, moving_video, content, message):
    video, _ = moving_video
    given = tmp_path / "bad.tsv"
    given.write_text(content)
    out = tmp_path / "never.csv"
    done = fertui("analyze", str(video), "--out", str(out), "--events", str(given))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert message in done.stderr and str(given) in done.stderr
    assert not out.exists() and not Path(f"{out}.events.tsv").exists()


def test_events_and_lsl_refuse_the_wrong_source_in_one_line(tmp_path, moving_video, hopper_jpg):
    video, _ = moving_video
    given = tmp_path / "e.tsv"
    given.write_text(EVENTS)
    photo = fertui("analyze", str(hopper_jpg), "--out", str(tmp_path / "p.csv"), "--events", str(given))
    assert photo.returncode == 2 and "is not a video file" in photo.stderr
    assert photo.stderr.strip().count("\n") == 0
    lsl = fertui("analyze", str(video), "--out", str(tmp_path / "v.csv"), "--lsl")
    assert lsl.returncode == 2 and "--lsl streams a camera as it is analysed" in lsl.stderr
    assert lsl.stderr.strip().count("\n") == 0
    assert not (tmp_path / "v.csv").exists() and not (tmp_path / "p.csv").exists()
    bad_labels = fertui("--demo", "--markers", "0=zero")
    assert bad_labels.returncode == 2 and "--markers wants DIGIT=LABEL" in bad_labels.stderr


def test_batch_takes_video_events_beside_each_video(tmp_path, tiny_models_dir):
    frames, _ = moving_portrait_frames(n_frames=5, absent=range(0))
    video = write_video(tmp_path / "clip.avi", frames)
    item = BatchInput(video, "clip.avi")
    settings = BatchSettings(out_dir=str(tmp_path / "out"), models_dir=str(tiny_models_dir))
    before = settings.fingerprint(item)
    Path(f"{video}.events.tsv").write_text(EVENTS)
    assert "events" in settings.fingerprint(item) and completed(item, settings, before) is None
    summary = run_task(item, settings)
    assert summary.status == "done", summary.error
    events = read_events(tmp_path / "out" / "clip.avi.csv.events.tsv")
    assert [e.trial_type for e in events] == ["face", "blank"]
    assert not list((tmp_path / "out" / ".partial").iterdir()), "nothing left behind"
    meta = json.loads((tmp_path / "out" / "clip.avi.csv.meta.json").read_text())
    assert meta["events_file"]["file"] == "clip.avi.csv.events.tsv" and meta["events_file"]["events"] == 2

    Path(f"{video}.events.tsv").write_text("onset\tduration\nsoon\t0\n")
    failed = run_task(item, settings)
    assert failed.status == "failed" and "line 2: onset 'soon' is not a number" in failed.error
