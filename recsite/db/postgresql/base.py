"""Django's PostgreSQL backend with a health check that needs no round trip when it can tell,
and a record of the connection's prepared statements (recsite.db.prepared).

With CONN_HEALTH_CHECKS Django asks a kept connection `SELECT 1` before each request's first
query: a round trip to the server and a statement on it, for every request. A server that ends
a session (a restart, a fast shutdown, an administrator's pg_terminate_backend, an idle timeout)
sends a last message and closes the socket, so the client's end of an idle connection turns
readable; an idle session the server keeps sends nothing. So the check first polls the socket
without waiting: nothing to read on an idle connection means the server has not ended it, and
the connection is usable; anything to read (the end, or a rare notice) falls back to Django's
own `SELECT 1`, which tells the two apart. A server gone without a word (a host that lost its
power or network) is not detected here, as it was not between a check and the query either:
that request fails and the connection is replaced.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg2 import extensions


class DatabaseWrapper(base.DatabaseWrapper):
    # Names of the server-side prepared statements of the open connection (recsite.db.prepared).
    prepared_statements: set[str] | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        new = super().get_new_connection(conn_params)
        self.prepared_statements = set()
        return new

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.status == extensions.STATUS_READY and not _readable(connection.fileno()):
            return True
        return bool(super().is_usable())


def _readable(fd: int) -> bool:
    """Whether the socket has data or an end of stream waiting; never blocks."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
