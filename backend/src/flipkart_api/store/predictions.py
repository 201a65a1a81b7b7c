"""The prediction store as the service sees it: async calls, and an honest state when it is down.

Every database call runs in a worker thread. A failure marks the store unavailable (reported by
`/ready`) and is answered without an id: nothing is acknowledged that was not committed.
"""

import logging
import threading
import time
from contextlib import suppress
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from flipkart_api.settings import Settings
from flipkart_api.store import repository
from flipkart_api.store.database import database_url, make_engine, migrate
from flipkart_api.store.images import ImageKeeper
from flipkart_api.store.tables import Prediction

log = logging.getLogger(__name__)

MIGRATE_RETRY_S = 2.0
TOKEN_SECRET = "feedback_token"  # its name in the table server_secrets


class StoreUnavailable(Exception):
    pass


def sqlite_path(settings: Settings) -> Path:
    if settings.database_path is not None:
        return Path(settings.database_path)
    return Path(settings.artifacts_root).resolve().parent / "var" / "predictions.sqlite3"


class PredictionStore:
    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings.database_url, sqlite_path(settings))
        self.engine: Engine = make_engine(self.url, settings.database_timeout_s)
        self.backend = self.engine.dialect.name
        self.problem: str | None = "the database has not been opened yet"
        self._migrated = False
        self._last_migrate = 0.0
        self._migrate_lock = threading.Lock()
        # The key of the feedback tokens: the setting, else the store's own (loaded with the
        # migrations, so a store that answers has one).
        self.token_secret: bytes | None = (
            settings.feedback_secret.get_secret_value().encode("utf-8") or None
        )
        self.keeper: ImageKeeper | None = None
        if settings.keep_images:
            # Default: beside the SQLite file (the one DATABASE_URL names, if it does).
            database_file = self.engine.url.database if self.backend == "sqlite" else None
            data_dir = Path(database_file).parent if database_file else sqlite_path(settings).parent
            folder = settings.keep_images_dir or data_dir / "kept_images"
            self.keeper = ImageKeeper(
                Path(folder), settings.keep_images_max_bytes, settings.keep_images_min_confidence
            )

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Migrate at start-up; a database that is down leaves the service up, storing nothing."""
        try:
            self._ensure_migrated(force=True)
        except StoreUnavailable:
            log.error("prediction store unavailable", extra={"reason": self.problem})
        else:
            log.info("prediction store ready", extra={"database": self.backend})

    def close(self) -> None:
        self.engine.dispose()

    def _ensure_migrated(self, force: bool = False) -> None:
        if self._migrated:
            return
        with self._migrate_lock:
            if self._migrated:
                return
            if not force and time.monotonic() - self._last_migrate < MIGRATE_RETRY_S:
                raise StoreUnavailable(self.problem or "database unavailable")
            self._last_migrate = time.monotonic()
            try:
                migrate(self.engine)
                if self.token_secret is None:
                    self.token_secret = repository.server_secret(self.engine, TOKEN_SECRET)
            except (SQLAlchemyError, OSError) as exc:
                raise self._failed(exc) from exc
            self._migrated = True
            self.problem = None

    def _failed(self, exc: Exception) -> StoreUnavailable:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.problem = f"database unavailable ({self.backend}): {first_line[:300]}"
        log.warning("database call failed", extra={"reason": self.problem})
        return StoreUnavailable(self.problem)

    def _call(self, function, *args):
        self._ensure_migrated()
        try:
            result = function(self.engine, *args)
        except (SQLAlchemyError, OSError, RuntimeError) as exc:
            raise self._failed(exc) from exc
        self.problem = None
        return result

    # -- what the routes use --------------------------------------------------------------
    async def lookup(
        self, image_sha256: str | None, run_id: str, text_key: str = ""
    ) -> Prediction | None:
        """The stored prediction for this image, model and text; None on a miss or an outage."""
        try:
            return await run_in_threadpool(
                self._call, repository.find_prediction, image_sha256, run_id, text_key
            )
        except StoreUnavailable:
            return None

    async def save(self, new: repository.NewPrediction, data: bytes | None) -> Prediction | None:
        """The committed row (or the earlier one for this image and model); None on an outage."""
        try:
            return await run_in_threadpool(self._save, new, data)
        except StoreUnavailable:
            return None

    def _save(self, new: repository.NewPrediction, data: bytes | None) -> Prediction:
        row, created = self._call(repository.save_prediction, new)
        if created and self.keeper is not None and data is not None and new.image_sha256:
            try:
                self._call(self.keeper.keep, data, new.image_sha256, new.confidence)
            except (StoreUnavailable, OSError) as exc:
                log.warning("image not kept", extra={"reason": str(exc)})
        return row

    async def record_cache_hit(self, row: Prediction, latency_ms: float) -> None:
        """Count a request answered from the store (best effort: an outage loses the count,
        never the answer)."""
        with suppress(StoreUnavailable):
            await run_in_threadpool(self._call, repository.record_request, row, True, latency_ms)

    async def keep_after_feedback(self, image_sha256: str) -> None:
        """Keep a not-yet-kept image that just received feedback (best effort)."""
        if self.keeper is None:
            return
        try:
            await run_in_threadpool(self._call, self.keeper.keep_after_feedback, image_sha256)
        except (StoreUnavailable, OSError) as exc:
            log.warning("image not kept", extra={"reason": str(exc)})

    async def feedback_secret(self) -> bytes:
        """The key of the feedback tokens; raises StoreUnavailable while the store cannot
        give it (never configured and never read from the database yet)."""
        if self.token_secret is None:
            await run_in_threadpool(self._ensure_migrated)
        if self.token_secret is None:  # not expected: a migrated store has loaded it
            raise StoreUnavailable(self.problem or "database unavailable")
        return self.token_secret

    async def run(self, function, *args):
        """Any repository call; raises StoreUnavailable when the database fails."""
        return await run_in_threadpool(self._call, function, *args)

    async def check(self) -> str | None:
        """None when the database accepts writes, else why not (for `/ready`)."""
        try:
            await run_in_threadpool(self._call, repository.probe_write)
        except StoreUnavailable as exc:
            return str(exc)
        return None
