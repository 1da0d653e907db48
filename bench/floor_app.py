"""The floor: the least a durable webhook can do, for bench/ingest.py to compare with.

    gunicorn --worker-class gthread --threads 8 --chdir bench floor_app:app
    (bench/ingest.py starts it itself, with FLOOR_DATABASE set to a scratch file)

A bare Flask app under gunicorn's threaded worker: it parses the JSON body and runs one
SQLite ``INSERT`` (WAL, ``synchronous=FULL``, so the commit is on disk before the answer)
per request, with a unique eventId so a repeat stores nothing. No authentication, no
payload model, no alert row, no outbox job, no log line: whatever the project costs
beyond this is its own overhead.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)
_DATABASE = os.environ.get("FLOOR_DATABASE", "floor.sqlite3")
_local = threading.local()


def _connection() -> sqlite3.Connection:
    """One connection per thread, made once (a pool of one, as any app would keep)."""
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(_DATABASE, isolation_level=None, timeout=30,
                                     check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE,"
            " event_type TEXT, payload TEXT)")
        _local.connection = connection
    return connection


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")


@app.post("/webhooks/thousandeyes")
def receive():  # type: ignore[no-untyped-def]
    text = request.get_data(as_text=True)
    event = json.loads(text)
    inserted = _connection().execute(
        "INSERT INTO events (event_id, event_type, payload) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING", (event["eventId"], event.get("eventType"), text)).rowcount
    return jsonify(status="accepted" if inserted else "duplicate", eventId=event["eventId"])
