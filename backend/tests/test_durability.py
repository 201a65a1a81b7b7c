"""Durability against a real uvicorn server on 127.0.0.1, on SQLite and on PostgreSQL:
500 predictions from 16 concurrent clients leave exactly 500 rows; a SIGKILL in the middle of
the load loses no acknowledged prediction (an id in a 200 answer means committed)."""

import asyncio
import hashlib
import sqlite3

import httpx
from conftest import PROD
from flipkart_api.store.database import database_url, make_engine
from flipkart_api.store.tables import Prediction
from helpers import write_model, write_registry
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_e2e import Server
from test_store_helpers import (  # noqa: F401 (fixtures)
    database_fixture,
    distinct_png,
    postgres_cluster_fixture,
)


def server_env(database: dict) -> dict:
    load = {"FLIPKART_RATE_LIMIT_PER_MINUTE": "0"}  # hundreds of requests from one client
    if "database_url" in database:
        return {"DATABASE_URL": database["database_url"]} | load
    return {"FLIPKART_DATABASE_PATH": str(database["database_path"])} | load


def stored_ids(database: dict) -> dict[str, str]:
    """id → image sha256 of every row, read straight from the database."""
    url = database_url(database.get("database_url"), database.get("database_path"))
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.execute(select(Prediction.id, Prediction.image_sha256)).all()
    engine.dispose()
    return dict(rows)


async def send(client: httpx.AsyncClient, i: int) -> httpx.Response:
    files = {"file": (f"{i}.png", distinct_png(i), "image/png")}
    return await client.post("/v1/predict", files=files)


async def concurrent_load(url: str, images: range, clients: int) -> list[httpx.Response]:
    todo = iter(images)
    responses: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=clients, keepalive_expiry=2.0)  # < uvicorn's 5 s
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for i in todo:
                responses.append(await send(client, i))

        await asyncio.gather(*(worker() for _ in range(clients)))
    return responses


async def same_image_at_once(url: str, i: int, clients: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return list(await asyncio.gather(*(send(client, i) for _ in range(clients))))


async def load_until_killed(server: Server, start: int, kill_after: int) -> dict[str, int]:
    """8 clients send new images; after `kill_after` acks the server is SIGKILLed mid-flight."""
    acked: dict[str, int] = {}
    counter = iter(range(start, start + 100_000))
    killed = asyncio.Event()
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for i in counter:
                try:
                    response = await send(client, i)
                except httpx.TransportError:
                    return  # the server is gone: this request was never acknowledged
                if response.status_code == 200 and response.json()["id"]:
                    acked[response.json()["id"]] = i
                if len(acked) >= kill_after and not killed.is_set():
                    killed.set()
                    server.process.kill()  # SIGKILL: no shutdown, no flush
                if killed.is_set():
                    return

        await asyncio.gather(*(worker() for _ in range(8)))
    server.process.wait(10)
    return acked


def test_concurrent_clients_then_sigkill_lose_nothing(tmp_path, database) -> None:
    root = tmp_path / "artifacts"
    write_model(root, PROD)
    write_registry(root, PROD, [PROD])

    server = Server(root, tmp_path / "server.log", **server_env(database)).wait_started()
    try:
        responses = asyncio.run(concurrent_load(server.url, range(500), clients=16))
        assert [r.status_code for r in responses] == [200] * 500
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 500 and None not in ids
        assert set(stored_ids(database)) == ids  # exactly 500 rows, the acknowledged ones

        # The same new image from 16 clients at once: one row, one id for all.
        same = asyncio.run(same_image_at_once(server.url, 10_000, clients=16))
        assert len({r.json()["id"] for r in same}) == 1
        assert len(stored_ids(database)) == 501

        acked = asyncio.run(load_until_killed(server, start=20_000, kill_after=60))
    finally:
        server.stop()  # closes the log; the process is already dead unless a step failed
    assert server.process.returncode == -9
    assert len(acked) >= 60

    stored = stored_ids(database)
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged predictions lost"
    for prediction_id, i in acked.items():
        assert stored[prediction_id] == hashlib.sha256(distinct_png(i)).hexdigest()
    if "database_path" in database:  # the killed writer left a sound SQLite file
        with sqlite3.connect(database["database_path"]) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    restarted = Server(root, tmp_path / "restarted.log", **server_env(database)).wait_started()
    try:
        assert httpx.get(f"{restarted.url}/ready").json() == {"status": "ready", "model": PROD}
        sample = sorted(acked.items())[:20]
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            for prediction_id, i in sample:
                files = {"file": ("x.png", distinct_png(i), "image/png")}
                body = client.post("/v1/predict", files=files).json()
                assert body["cached"] is True and body["id"] == prediction_id
    finally:
        restarted.stop()
