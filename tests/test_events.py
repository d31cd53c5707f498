"""The events file beside a session log: written row by row, owner-only, thread-safe; read back and checked."""

from __future__ import annotations

import stat
import threading

import pytest

from pipeline.io.events import (
    EVENT_COLUMNS,
    Event,
    EventsFileError,
    EventsLog,
    events_path_for,
    parse_marker_labels,
    read_events,
)


def test_events_path_lies_beside_the_log(tmp_path):
    assert events_path_for(tmp_path / "session.csv") == tmp_path / "session.csv.events.tsv"


def test_events_log_writes_bids_rows_as_they_come(tmp_path):
    path = tmp_path / "session.csv.events.tsv"
    events = EventsLog(path, create=True)
    assert path.read_text() == "\t".join(EVENT_COLUMNS) + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    events.add(Event(1.25, "stimulus", value="1", frame=25, wall_time="2026-01-01T00:00:00.000+00:00"))
    # On disk before close: a killed process leaves every event written so far.
    lines = path.read_text().splitlines()
    assert lines[1].split("\t") == ["1.25", "0.0", "stimulus", "1", "25", "2026-01-01T00:00:00.000+00:00", "key"]
    events.add(Event(2.5, "note", value="looked\taway\nbriefly", duration=None, source="note"))
    events.close()
    assert path.read_text().splitlines()[2].split("\t") == [
        "2.5",
        "n/a",
        "note",
        "looked away briefly",
        "n/a",
        "n/a",
        "note",
    ]
    assert events.describe() == {
        "file": path.name,
        "events": 2,
        "by_source": {"key": 1, "note": 1},
        "write_error": None,
    }
    events.add(Event(3.0, "late"))  # after close: dropped
    assert len(read_events(path)) == 2


def test_events_log_is_created_on_the_first_event_unless_asked(tmp_path):
    path = tmp_path / "log.csv.events.tsv"
    events = EventsLog(path)
    assert not path.exists()
    events.close()
    assert not path.exists() and events.describe()["file"] is None
    events = EventsLog(path)
    events.add(Event(0.5, "go", source="file"))
    events.close()
    assert [e.trial_type for e in read_events(path)] == ["go"]


def test_events_log_takes_markers_from_many_threads(tmp_path):
    path = tmp_path / "events.tsv"
    events = EventsLog(path, create=True)

    def drop(thread: int) -> None:
        for i in range(50):
            events.add(Event(thread + i / 100, f"t{thread}", frame=i))

    threads = [threading.Thread(target=drop, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events.close()
    rows = read_events(path)
    assert len(rows) == 200
    assert all(len(line.split("\t")) == len(EVENT_COLUMNS) for line in path.read_text().splitlines())


def test_read_events_round_trips_what_it_wrote(tmp_path):
    path = tmp_path / "e.tsv"
    written = [
        Event(0.1, "stimulus", value="1", frame=2, wall_time="2026-01-01T00:00:00.100+00:00"),
        Event(0.35, "note", value="smiled", frame=7, source="note"),
        Event(1.0, "probe", duration=0.5, source="lsl"),
    ]
    events = EventsLog(path)
    events.add(*written)
    events.close()
    assert read_events(path) == written


def test_an_experiments_bids_events_file_is_read_with_its_own_columns(tmp_path):
    path = tmp_path / "run1_events.tsv"
    path.write_text("onset\tduration\ttrial_type\tresponse_time\n1.5\t0.5\tface\t0.8\n3\tn/a\thouse\tn/a\n\n")
    events = read_events(path, source="file")
    assert [(e.onset, e.duration, e.trial_type, e.source) for e in events] == [
        (1.5, 0.5, "face", "file"),
        (3.0, None, "house", "file"),
    ]
    only_onsets = tmp_path / "bare.tsv"
    only_onsets.write_text("onset\tduration\n2\t0\n")
    assert read_events(only_onsets, source="file")[0].trial_type == "event"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty events file"),
        ("time\tlabel\n1\tgo\n", "line 1: the header has no onset or duration column"),
        ("onset,duration\n1,0\n", "line 1: the header has no onset or duration column"),
        ("onset\tduration\n1\t0\nsoon\t0\n", "line 3: onset 'soon' is not a number"),
        ("onset\tduration\n1\t-2\n", "line 2: duration '-2' is negative"),
        ("onset\tduration\ttrial_type\n1\t0\n", "line 2: 2 fields, the header has 3"),
        ("onset\tduration\nnan\t0\n", "line 2: onset 'nan' is not a finite number"),
    ],
)
def test_a_malformed_events_file_is_one_line_naming_the_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(EventsFileError, match=message) as caught:
        read_events(path, source="file")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_events_file_is_one_line(tmp_path):
    with pytest.raises(EventsFileError, match="no such events file"):
        read_events(tmp_path / "nope.tsv")


def test_marker_labels_default_to_the_digit():
    labels = parse_marker_labels("1=stimulus, 2 = response")
    assert labels["1"] == "stimulus" and labels["2"] == "response" and labels["9"] == "9"
    assert parse_marker_labels(None)["5"] == "5"
    for bad in ("0=zero", "1", "x=y", "1="):
        with pytest.raises(ValueError, match="--markers wants DIGIT=LABEL"):
            parse_marker_labels(bad)
