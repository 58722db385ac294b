"""Total deadlines for network calls: a Deadline, a per-thread scope, and a watchdog that closes sockets.

Socket timeouts bound each connect and each read, not a call: a server that trickles one byte a second
never trips a 2 s read timeout. So every HTTP and S3 call runs under `watch(deadline)`: the connections
it opens (urllib3 connection classes with `WatchedConnection` mixed in) join the calling thread's watch,
and when the deadline passes a timer shuts their sockets down, which ends any blocked read at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_local = threading.local()


class Deadline:
    """A point in (monotonic) time by which a call must have ended, and the budget it was given."""

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float, end: float | None = None) -> None:
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds if end is None else end

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """`seconds` from now, or the enclosing `scope()`'s deadline when that comes first."""
        own = cls(seconds)
        outer: Deadline | None = getattr(_local, "scope", None)
        return outer if outer is not None and outer.end < own.end else own

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def __str__(self) -> str:
        return f"{self.seconds:g} s deadline"


@contextlib.contextmanager
def scope(seconds: float) -> Iterator[Deadline]:
    """Every call made by this thread inside the block ends by this deadline (or its own, if sooner)."""
    deadline = Deadline.after(seconds)
    previous = getattr(_local, "scope", None)
    _local.scope = deadline
    try:
        yield deadline
    finally:
        _local.scope = previous


class Watch:
    """The connections (and sockets) one call used; `fire()` shuts them down, and any that join later."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.fired = False
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def add(self, connection: Any) -> None:
        """Watch `connection`; shut it down at once if the deadline has already passed."""
        with self._lock:
            if not any(c is connection for c in self._connections):
                self._connections.append(connection)
            fired = self.fired
        if fired:
            _shutdown(connection)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            connections = list(self._connections)
        for connection in connections:
            _shutdown(connection)


def _shutdown(target: Any) -> None:
    sock = target if isinstance(target, socket.socket) else getattr(target, "sock", None)
    if sock is None:
        return
    try:
        # The plain socket's shutdown, also under TLS: it ends a blocked read in the other thread at once
        # without touching the SSL object that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass  # already closed, or not a real socket: nothing left to interrupt


@contextlib.contextmanager
def watch(deadline: Deadline) -> Iterator[Watch]:
    """Connections used by this thread inside the block are shut down when `deadline` passes."""
    watcher = Watch(deadline)
    previous = getattr(_local, "watch", None)
    _local.watch = watcher
    timer = threading.Timer(deadline.remaining(), watcher.fire)
    timer.daemon = True
    timer.start()
    try:
        yield watcher
    finally:
        timer.cancel()
        _local.watch = previous


def current_watch() -> Watch | None:
    return getattr(_local, "watch", None)


def _join_current_watch(target: Any) -> None:
    watcher: Watch | None = getattr(_local, "watch", None)
    if watcher is not None:
        watcher.add(target)


class WatchedConnection:
    """Mixin for urllib3 connection classes: the connection joins the calling thread's watch when used.

    Its socket joins the moment it exists (before a TLS handshake), so a watch that fires while the
    socket is being made still shuts it down; a pooled connection joins again with each request.
    """

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        _join_current_watch(sock)
        return sock

    def connect(self) -> None:
        _join_current_watch(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _join_current_watch(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


_WATCHED: dict[type, type] = {}
_WATCHED_LOCK = threading.Lock()


def watched_pool_class(pool_class: type) -> type:
    """A subclass of a urllib3 connection pool class whose connections are WatchedConnections."""
    connection_class = pool_class.ConnectionCls  # type: ignore[attr-defined]
    if issubclass(connection_class, WatchedConnection):
        return pool_class
    with _WATCHED_LOCK:
        if pool_class not in _WATCHED:
            watched_connection = type(
                "Watched" + connection_class.__name__, (WatchedConnection, connection_class), {}
            )
            _WATCHED[pool_class] = type(
                "Watched" + pool_class.__name__, (pool_class,), {"ConnectionCls": watched_connection}
            )
        return _WATCHED[pool_class]


def watched_pool_classes(classes: dict[str, type]) -> dict[str, type]:
    return {scheme: watched_pool_class(cls) for scheme, cls in classes.items()}


def is_watched(pool_classes: dict[str, type]) -> bool:
    return all(issubclass(cls.ConnectionCls, WatchedConnection) for cls in pool_classes.values())  # type: ignore[attr-defined]


def run_bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """`call()` in a daemon thread; UpstreamError naming `what` if it has not returned within `seconds`.

    For third-party clients whose sockets mlprom cannot watch (MLflow's): the caller stops waiting at
    the deadline, and the thread is left to end when its server lets it (a daemon never blocks exit).
    """
    from mlprom.errors import UpstreamError

    try:
        return Background(call, "mlprom-bounded").result(seconds)
    except StillRunning:
        raise UpstreamError(f"{what}: no complete answer within the {seconds:g} s deadline") from None


class StillRunning(Exception):
    """Background.result(timeout) gave up waiting; the call goes on in its thread."""


class Background(Generic[T]):
    """`call()` started in a daemon thread now; result() waits for it and returns its value or raises its
    exception. Abandoned (an interrupt in the main thread, a deadline), it never holds up the exit."""

    def __init__(self, call: Callable[[], T], name: str) -> None:
        self._outcome: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller as is
            self._outcome["error"] = exc

    def result(self, timeout: float | None = None) -> T:
        """The call's value (or its exception); StillRunning when it has not ended within `timeout` s."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise StillRunning
        if "error" in self._outcome:
            raise self._outcome["error"]
        value: T = self._outcome["value"]
        return value
