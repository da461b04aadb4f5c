"""Real server processes for the fleet's tests: uvicorn replicas on free ports, a TCP proxy that can cut the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.settings import REPO_ROOT
from tests.conftest import FLEET_TOKEN

FLEET_HEADERS = {"Authorization": f"Bearer {FLEET_TOKEN}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One replica: `python -m app.cli serve` (migrations first, then uvicorn) in a process of its own."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = free_port()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()[-3000:]}")

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        self.signal(signal.SIGKILL)
        self.wait()

    def wait(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(
    database_url: str, plugins_toml: Path, redis_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a replica: jobs and mail off (the tests run them on purpose), logs quiet."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REDIS_URL", "FLEET_", "DATABASE_"))
    }
    env.update(
        DATABASE_URL=database_url,
        FLEET_TOKEN=FLEET_TOKEN,
        PLUGINS_TOML=str(plugins_toml),
        JOBS_ENABLED="false",
        MAIL_WORKER="false",
        LOG_LEVEL="WARNING",
        FLEET_CACHE_MAX_AGE_SECONDS="600",  # what the tests show must not come from the safety net
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> str:
    """`python -m app.cli ARGS` as an operator runs it, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stdout.decode()


async def admit(client: httpx.AsyncClient, server: Server, api_key: str, **tokens: int) -> httpx.Response:
    body = {
        "api_key": api_key,
        "model": "gpt-oss-120b",
        "input_tokens": 100,
        "max_output_tokens": 100,
        **tokens,
    }
    return await client.post(f"{server.url}/fleet/v1/admissions", json=body, headers=FLEET_HEADERS)


async def report(client: httpx.AsyncClient, server: Server, records: list[dict[str, Any]]) -> httpx.Response:
    return await client.post(f"{server.url}/fleet/v1/usage", json={"records": records}, headers=FLEET_HEADERS)


async def until(check: Any, within: float, interval: float = 0.02) -> float:
    """Seconds until `await check()` is true (AssertionError after `within` seconds)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(interval)
    return time.monotonic() - started


class TcpProxy:
    """Forwards a port to the database; `cut()` makes it stop answering (bytes are held, connections hang).

    It runs its own event loop in a thread, so that it forwards while the test blocks (starting servers).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        self._call(self._set(False))

    def restore(self) -> None:
        """Answer again; connections that hung through the cut are closed (as a restarted network would)."""
        self._call(self._set(True))

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(10)

    async def _listen(self) -> None:
        self._open.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, answering: bool) -> None:
        if answering:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            self._open.set()
        else:
            self._open.clear()

    async def _shutdown(self) -> None:
        await self._set(True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._open.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._writers.add(upstream_writer)
            await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._open.wait()  # cut: the bytes wait here, the other side hears nothing
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


@contextlib.contextmanager
def proxy_to(port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(port).start()
    try:
        yield proxy
    finally:
        proxy.close()


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start the servers at once, wait until each answers; stop them all at the end."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
