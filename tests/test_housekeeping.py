"""bot/app.py's housekeeping loop: one failed round is logged with its traceback and the next round still runs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot import app


class FailingOnceEngine:
    """Housekeeping that hits a full disk the first time, then works."""

    def __init__(self) -> None:
        self.rounds = 0

    async def housekeeping(self) -> tuple[int, int]:
        self.rounds += 1
        if self.rounds == 1:
            raise OSError(28, "No space left on device")
        return 1, 0


async def test_housekeeping_survives_an_error_and_runs_again_next_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app, "HOUSEKEEPING_INTERVAL", 0.01)
    engine = FailingOnceEngine()
    with caplog.at_level(logging.INFO, logger="bot.app"):
        task = asyncio.create_task(app._housekeeping_forever(engine))  # type: ignore[arg-type]
        for _ in range(500):
            if engine.rounds >= 3 or task.done():
                break
            await asyncio.sleep(0.01)
        assert not task.done(), "the housekeeping task ended"
        task.cancel()
    assert engine.rounds >= 3
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "housekeeping failed" in failure.getMessage() and failure.exc_info is not None
    assert "No space left" in str(failure.exc_info[1])
    assert "removed 1 old recordings" in caplog.text
