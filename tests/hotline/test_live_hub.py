"""The live hub (hotline/live.py): one pub/sub connection per API process, each message
handed to the consoles and pages of that process that listen on its channel, and to no one
else. Real Redis; the waits are bounds for a broken build, not timings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hotline.live import Hub
from kernel.redisconn import get_async_redis

BOUND_S = 10
PATTERN = "test-hub:*"


async def _until(condition: Any) -> None:
    async with asyncio.timeout(BOUND_S):
        while not condition():
            await asyncio.sleep(0.01)


async def _subscribed(hub: Hub, publish: Any) -> None:
    """Publish on a listened channel until the hub hands a message over: it is subscribed."""
    seen: list[dict[str, Any]] = []
    hub.listen("test-hub:ready", seen.append)
    async with asyncio.timeout(BOUND_S):
        while not seen:
            await publish("test-hub:ready", {"ready": True})
            await asyncio.sleep(0.02)
    hub.forget("test-hub:ready", seen.append)


async def _scenario() -> None:
    r = get_async_redis()

    async def publish(channel: str, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await r.publish(channel, text)

    hub = Hub((PATTERN,))
    await hub.start()
    try:
        await _subscribed(hub, publish)
        a: list[dict[str, Any]] = []
        b: list[dict[str, Any]] = []
        hub.listen("test-hub:a", a.append)

        # A message on a channel nobody here listens to is dropped, not held for later; a
        # malformed one on a listened channel is skipped, and the next one still comes.
        await publish("test-hub:b", {"n": 1})
        await publish("test-hub:a", "not json {")
        await publish("test-hub:a", {"n": 2})
        await _until(lambda: a)
        hub.listen("test-hub:b", b.append)
        await publish("test-hub:b", {"n": 3})
        await _until(lambda: b)
        assert a == [{"n": 2}]
        assert b == [{"n": 3}]

        # Once its last listener has gone, a channel's messages reach no one.
        hub.forget("test-hub:a", a.append)
        assert "test-hub:a" not in hub.listeners
        await publish("test-hub:a", {"n": 4})
        await publish("test-hub:b", {"n": 5})
        await _until(lambda: len(b) == 2)
        assert a == [{"n": 2}]
        assert b == [{"n": 3}, {"n": 5}]
    finally:
        await hub.stop()
        await r.aclose()


def test_the_hub_hands_each_message_only_to_those_listening_on_its_channel(r):
    asyncio.run(_scenario())


def test_a_listener_on_a_channel_the_hub_does_not_subscribe_to_is_refused():
    """It would wait for messages that never reach this process."""
    hub = Hub((PATTERN,))
    with pytest.raises(ValueError, match="does not subscribe"):
        hub.listen("elsewhere:a", lambda _message: None)
    assert not hub.listeners


def test_an_api_process_takes_in_only_the_consoles_channels():
    """Events and calls' status changes are published for whoever subscribes; no page of an
    API process listens to them, so its hub does not bring them in."""
    from hotline.routing import keys

    hub = Hub(keys.PUSH_PATTERNS)
    hub.listen(keys.console_channel("d-1"), lambda _message: None)
    for channel in ("events", "events:call", keys.CALLS_CHANNEL):
        with pytest.raises(ValueError):
            hub.listen(channel, lambda _message: None)
