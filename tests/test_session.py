"""The Session: one owner of source, processors, runner and log, stopped once for one typed reason."""

from __future__ import annotations

import json
import os
import signal

import pytest

from pipeline.engine import EngineConfig
from pipeline.engine.session import Session, SignalCatcher, Stop, StopReason, session_metadata
from pipeline.io.sinks import SessionLog
from tests.test_runner import BoxFinder, CountingSource


def _session(tmp_path, source=None, stage=None) -> Session:
    source = source or CountingSource(20)
    stage = stage or BoxFinder()
    metadata = session_metadata("test", source, EngineConfig(), [stage], note="extra")
    return Session(source, [stage], SessionLog(tmp_path / "session.csv", "csv", metadata))


def _meta(session: Session) -> dict:
    assert session.log is not None
    return json.loads(session.log.meta_path.read_text())


def test_a_session_that_runs_to_its_end_is_finished_and_complete(tmp_path):
    session = _session(tmp_path)
    session.start()
    assert session.wait(10.0)
    stop = session.stop()
    assert stop == Stop.finished() and stop.text is None and stop.exit_code == 0
    meta = _meta(session)
    assert (meta["interrupted"], meta["reason"], meta["rows"]) == (False, None, 20)
    assert meta["command"] == "test" and meta["note"] == "extra" and meta["config"]["stills"] is False
    assert meta["run"]["frames_processed"] == 20 and [p["name"] for p in meta["processors"]] == ["boxes"]


def test_the_first_stop_is_the_sessions(tmp_path):
    session = _session(tmp_path, CountingSource(10_000, delay_s=0.01))
    session.start()
    first = session.stop(Stop.from_signal(signal.SIGTERM), extra_key=1)
    assert session.stop(Stop(StopReason.CTRL_C)) is first and session.stopped is first
    assert (first.text, first.exit_code) == ("interrupted by SIGTERM", 143)
    meta = _meta(session)
    assert meta["interrupted"] is True and meta["reason"] == "interrupted by SIGTERM" and meta["extra_key"] == 1


@pytest.mark.parametrize(
    ("make", "reason", "in_text"),
    [
        (lambda: (CountingSource(20), BoxFinder(fail_at=5)), StopReason.STAGE_ERROR, "this stage broke"),
        (lambda: (BrokenSource(), BoxFinder()), StopReason.SOURCE_FAILED, "the file went away"),
    ],
    ids=["stage", "source"],
)
def test_a_failure_stops_the_session_with_its_reason_and_exit_code_1(tmp_path, make, reason, in_text):
    source, stage = make()
    session = _session(tmp_path, source, stage)
    session.start()
    assert session.wait(10.0)
    stop = session.stop()
    assert stop.reason is reason and in_text in (stop.text or "") and stop.exit_code == 1
    assert _meta(session)["reason"] == stop.text


class BrokenSource(CountingSource):
    def __init__(self) -> None:
        super().__init__(20)

    def _next(self):
        if self.frames_read == 3:
            raise OSError("the file went away")
        return super()._next()


def test_ctrl_c_and_signals_map_to_the_shells_exit_codes():
    assert Stop(StopReason.CTRL_C).exit_code == 130 and Stop(StopReason.CTRL_C).text == "ctrl-c"
    assert Stop.from_signal(signal.SIGHUP).exit_code == 129
    assert Stop.from_signal(signal.SIGINT).text == "interrupted by SIGINT"
    assert Stop(StopReason.DISK_FULL, "recording stopped: disk full").text == "recording stopped: disk full"


def test_the_signal_catcher_records_the_first_signal_and_hands_it_on():
    seen: list[int] = []
    before = signal.getsignal(signal.SIGTERM)
    with SignalCatcher(on_signal=seen.append) as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
    assert signals.received == signal.SIGTERM and seen == [signal.SIGTERM]
    assert signals.stop == Stop.from_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before  # put back as it was


def test_a_log_whose_last_flush_fails_is_recorded_and_fails_the_session(tmp_path):
    # A Parquet log's last row group or footer can fail with more than OSError (here pyarrow's ValueError):
    # the error goes to the sidecar and the exit code; Session.stop neither raises nor reports success.
    source = CountingSource(20)
    stage = BoxFinder()
    metadata = session_metadata("test", source, EngineConfig(), [stage])
    log = SessionLog(tmp_path / "session.parquet", "parquet", metadata)
    assert log._parquet is not None
    real_close = log._parquet.close

    def failing_close() -> None:
        real_close()
        raise ValueError("Table schema does not match schema used to create file")

    log._parquet.close = failing_close  # type: ignore[method-assign]
    session = Session(source, [stage], log)
    session.start()
    assert session.wait(10.0)
    stop = session.stop()
    assert stop.reason is StopReason.DISK_FULL and stop.exit_code == 1
    assert stop.text == f"cannot close {log.path}: ValueError: Table schema does not match schema used to create file"
    meta = _meta(session)
    assert meta["interrupted"] is True and meta["reason"] == stop.text and meta["write_error"] == stop.text
    assert meta["run"]["frames_processed"] == 20, "the metadata is still completed after the failed close"


def test_a_sink_that_fails_to_close_is_reported_not_swallowed(tmp_path):
    class BrokenSink:
        def write(self, result) -> None:
            pass

        def close(self, reason=None) -> None:
            raise RuntimeError("events file vanished")

    source = CountingSource(5)
    stage = BoxFinder()
    metadata = session_metadata("test", source, EngineConfig(), [stage])
    session = Session(source, [stage], SessionLog(tmp_path / "s.csv", "csv", metadata), extra_sinks=[BrokenSink()])
    session.start()
    assert session.wait(10.0)
    stop = session.stop()
    assert stop.exit_code == 1 and stop.text == "closing BrokenSink: RuntimeError: events file vanished"
    meta = _meta(session)
    assert meta["run"]["close_errors"] == [stop.text] and meta["rows"] == 5
