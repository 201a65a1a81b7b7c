"""Run ids: `<UTC yyyymmdd-HHMMSS>_<architecture>_<training_mode>`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

TRAINING_MODES = ("freeze", "finetune")
_ARCH = r"[a-z0-9][a-z0-9_.\-]*"
RUN_ID_PATTERN = rf"^(\d{{8}}-\d{{6}})_({_ARCH})_({'|'.join(TRAINING_MODES)})$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def make_run_id(architecture: str, training_mode: str, when: datetime | None = None) -> str:
    if training_mode not in TRAINING_MODES:
        raise ValueError(f"training mode must be one of {TRAINING_MODES}, got {training_mode!r}")
    when = (when or datetime.now(UTC)).astimezone(UTC)
    run_id = f"{when:%Y%m%d-%H%M%S}_{architecture}_{training_mode}"
    if not _RUN_ID.match(run_id):
        raise ValueError(f"architecture name {architecture!r} does not fit in a run id")
    return run_id


def parse_run_id(run_id: str) -> tuple[datetime, str, str]:
    """(UTC start time, architecture, training mode); ValueError when it is not a run id."""
    match = _RUN_ID.match(run_id)
    if not match:
        raise ValueError(
            f"{run_id!r} is not a run id (<yyyymmdd-HHMMSS>_<architecture>_<freeze|finetune>)"
        )
    stamp, architecture, mode = match.groups()
    when = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return when, architecture, mode
