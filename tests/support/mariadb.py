"""The MariaDB (MySQL) server of the machine the tests run on, for tests that exercise the
sweeper's storage on MySQL's dialect: each test gets a fresh database, dropped after it.

The server is the machine's own (``.ci/run`` starts it if it is down): root over TCP on
127.0.0.1:3306 with an empty password, or ``$SWEEPER_TEST_MYSQL_URL`` (a server URL without a
database, e.g. ``mysql+pymysql://user:pw@host:3306``)."""

from __future__ import annotations

import os
import uuid

DEFAULT_SERVER = "mysql+pymysql://root@127.0.0.1:3306"


class MariaDBServer:
    def __init__(self, url: str) -> None:
        import sqlalchemy

        self.url = url
        self.engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
        self.created: list[str] = []

    @classmethod
    def find(cls) -> MariaDBServer | None:
        """The server, or ``None`` when none answers (or pymysql is not installed)."""
        try:
            server = cls(os.environ.get("SWEEPER_TEST_MYSQL_URL", DEFAULT_SERVER))
            with server.engine.connect():
                return server
        except Exception:
            return None

    def create_database(self) -> str:
        import sqlalchemy

        name = f"sweeper_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        self.created.append(name)
        return f"{self.url}/{name}"

    def close(self) -> None:
        import sqlalchemy

        with self.engine.begin() as connection:
            for name in self.created:
                connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        self.engine.dispose()
