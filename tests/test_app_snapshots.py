"""SVG snapshots of the main layout at 80x24 and 140x42 (pytest-textual-snapshot).

Deterministic: the fake source repeats one portrait frame, the faces are fixed, and the status figures
(which measure real time) are frozen. Update after an intended change with `--snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.app_helpers import FROZEN_STATUS, fake_app, wait_for_panels


@pytest.mark.parametrize("size", [(80, 24), (140, 42)], ids=["80x24", "140x42"])
def test_main_layout(snap_compare, tmp_path, size):
    app = fake_app(tmp_path)
    app.status_figures = lambda: FROZEN_STATUS

    async def run_before(pilot) -> None:
        await wait_for_panels(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
def test_help_screen(snap_compare, tmp_path, size):
    """The help screen over the app: every key, its name and what it does, readable (not an empty box)."""
    app = fake_app(tmp_path)
    app.status_figures = lambda: FROZEN_STATUS

    async def run_before(pilot) -> None:
        await wait_for_panels(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
