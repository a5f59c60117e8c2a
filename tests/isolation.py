"""What keeps two test sessions on one machine (two ``make test`` at once, from two checkouts) apart.

Everything a session creates is its own: temporary folders (``tempfile`` / pytest's ``tmp_path``), PostgreSQL
databases with a random suffix, and what this module hands out:

* :func:`free_port`: a port the OS reports free *and* that no other live session on this machine was given.
  A port from ``bind(("127.0.0.1", 0))`` is free when asked, but the server that is to use it binds it a
  moment later; another session asking in between may be handed the same number. Each port handed out is
  therefore reserved with a lock file (``flock``) that this process holds until it exits (the kernel releases
  it, also after a crash), and a port reserved by a live session is never handed out again.
* :class:`RedisDbLease`: one of Redis' databases 1-15 for the session's Celery broker, taken with ``SET NX``
  on a lock key inside that database, so two sessions never share (or flush) one, and a database holding
  data of somebody else is never touched.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: One empty lock file per port ever handed out (never deleted: removing a lock file another process has
#: open would let two processes "hold" the same port).
PORTS_DIR = Path(tempfile.gettempdir()) / "hm-sync-test-ports"
_held_ports: dict[int, int] = {}  # port -> fd of its lock file, for as long as this process lives


def _reserve(port: int) -> bool:
    if port in _held_ports:
        return False  # handed out earlier in this session: a component may still come to bind it
    PORTS_DIR.mkdir(mode=0o1777, exist_ok=True)
    fd = os.open(PORTS_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held_ports[port] = fd
    return True


def free_port(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A TCP port on ``host`` that is free now and reserved for this process (see the module docstring)."""
    for _ in range(attempts):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if _reserve(port):
            return port
    raise RuntimeError(f"no free port on {host} after {attempts} attempts: every port the OS offered is reserved "
                       f"by another test session on this machine (lock files in {PORTS_DIR})")


# --- Redis ---------------------------------------------------------------------------------------------

#: The key a session sets in "its" Redis database; its value says who holds it.
REDIS_LOCK_KEY = "hm-sync-tests:lease"
REDIS_DBS = range(1, 16)  # 0 is the default database other tools on this machine use


def _owner_alive(owner: str) -> bool:
    """Whether the holder named by a lease value (``host:pid:start``) still runs; other hosts count as alive."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return _process_start(int(pid)) == start


def _process_start(pid: int) -> str:
    """The process' start time in clock ticks since boot (tells a reused pid apart); "" when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


@dataclass
class RedisDbLease:
    """One Redis database number (1-15) for this session.

    A database is taken when ``SET <lock key> <owner> NX`` succeeds in it and the lock key is the only key
    there; a lease left by a session that died (its process is gone) is taken over. :meth:`release` flushes
    the database, which removes the lock key too.

    :param host: Redis host. :param port: Redis port.
    """

    host: str
    port: int
    db: int | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}")

    def _client(self, db: int):  # noqa: ANN202 - redis.Redis
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db, socket_timeout=10)

    def acquire(self) -> int:
        """Take a free database and return its number.

        :raises RuntimeError: all 15 are in use by live sessions or hold other data; the message lists them.
        """
        busy: list[str] = []
        for db in REDIS_DBS:
            client = self._client(db)
            try:
                verdict = self._try(client)
            finally:
                client.close()
            if verdict is None:
                self.db = db
                return db
            busy.append(f"{db}: {verdict}")
        raise RuntimeError("no free Redis database for the deployment tests on "
                           f"{self.host}:{self.port} ({'; '.join(busy)}); end the sessions holding them, or "
                           f"flush the databases that hold someone else's data if they may go")

    def _try(self, client) -> str | None:  # noqa: ANN001
        """``None`` when the database is now ours; otherwise why it is not."""
        import redis

        if not client.set(REDIS_LOCK_KEY, self.owner, nx=True):
            holder = (client.get(REDIS_LOCK_KEY) or b"").decode(errors="replace")
            if _owner_alive(holder):
                return f"in use by {holder}"
            with client.pipeline() as pipe:  # take over a dead session's lease, unless it changed meanwhile
                try:
                    pipe.watch(REDIS_LOCK_KEY)
                    if (pipe.get(REDIS_LOCK_KEY) or b"").decode(errors="replace") != holder:
                        return "taken meanwhile"
                    pipe.multi()
                    pipe.set(REDIS_LOCK_KEY, self.owner)
                    pipe.execute()
                except redis.WatchError:
                    return "taken meanwhile"
            # What the dead session left behind (its broker queues); the lease key stays ours throughout.
            for key in client.scan_iter(count=1000):
                if key != REDIS_LOCK_KEY.encode():
                    client.delete(key)
            return None
        if client.dbsize() > 1:  # keys that are not ours: somebody else's database
            client.delete(REDIS_LOCK_KEY)
            return "holds other data"
        return None

    def release(self) -> None:
        """Flush the database (our broker queues and the lease) if it is still ours."""
        if self.db is None:
            return
        client = self._client(self.db)
        try:
            if (client.get(REDIS_LOCK_KEY) or b"").decode(errors="replace") == self.owner:
                client.flushdb()
        finally:
            client.close()
            self.db = None
