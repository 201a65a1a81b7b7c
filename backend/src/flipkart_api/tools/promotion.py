r"""Choose the production model and record the decision in `artifacts/registry.json`.

Default rule: highest test macro-F1, ties (to 4 decimals) broken by lower batch-1 latency
(measured now, the leaderboard's way); `--max-latency-ms` first drops slower models (the
accuracy-vs-speed trade-off); `--run-id` promotes one model explicitly. Only a servable export
can be promoted: a valid card and its ONNX present with the card's sha256. The registry lists
the servable exports and gains a history entry; it is written atomically.

    uv run python -m flipkart_api.tools.promotion [--run-id ID] [--max-latency-ms 20] \
        [--reason TEXT]
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flipkart_contract import Registry, load_registry, write_json_atomic
from flipkart_contract.schema import DecidedBy, Promotion

from flipkart_api.tools.exports import (
    Export,
    benchmark_images,
    default_artifacts,
    describe_error,
    measure,
    scan_exports,
)

DEFAULT_RULE = "highest validation macro-F1 (test only reported), ties by lower batch-1 latency"
FALLBACK_RULE = (
    "highest test macro-F1 (a candidate's card has no validation figures), "
    "ties by lower batch-1 latency"
)
LATENCY_THREADS = 2  # the leaderboard's default

LatencyOf = Callable[[Export], float]


class PromotionError(Exception):
    """The promotion is refused; the message says why and what to do."""


def read_registry(path: Path) -> Registry:
    """The registry, or an empty one when there is none yet."""
    try:
        return load_registry(path)
    except FileNotFoundError:
        return Registry()
    except ValueError as exc:
        why = describe_error(exc)
        raise PromotionError(f"{path} is not a valid registry ({why}); fix or delete it") from exc


def measured_latency(artifacts: Path) -> LatencyOf:
    images = benchmark_images(artifacts.parent / "data")
    return lambda export: measure(export, images, LATENCY_THREADS).batch_1


def deciding_figures(export: Export, on_val: bool):
    """The split the rule compares on: validation when every candidate has it."""
    return export.card.metrics.val if on_val else export.card.metrics.test


def choose(
    candidates: list[Export],
    latency_of: LatencyOf,
    run_id: str | None = None,
    max_latency_ms: float | None = None,
    max_robustness_drop: float | None = None,
) -> tuple[Export, str, float, bool]:
    """The winner among servable exports, the rule that chose it, its batch-1 latency, and
    whether the rule compared validation figures (False: test, or an explicit choice)."""
    if run_id is not None:
        chosen = next((c for c in candidates if c.run_id == run_id), None)
        if chosen is None:
            valid = ", ".join(c.run_id for c in candidates) or "none"
            raise PromotionError(f"{run_id!r} is not a promotable model. Promotable: {valid}.")
        return chosen, f"explicit --run-id {run_id}", latency_of(chosen), False
    if not candidates:
        raise PromotionError(
            "no promotable model under artifacts/models/ (export one with a lab's `export`, "
            "or re-export a git-ignored ONNX from its checkpoint)"
        )
    latencies = {c.run_id: latency_of(c) for c in candidates}
    pool = candidates
    on_val = all(c.card.metrics.val is not None for c in candidates)
    rule = DEFAULT_RULE if on_val else FALLBACK_RULE
    if max_latency_ms is not None:
        pool = [c for c in candidates if latencies[c.run_id] <= max_latency_ms]
        rule += f", among models at most {max_latency_ms:g} ms at batch 1"
        if not pool:
            fastest = min(candidates, key=lambda c: latencies[c.run_id])
            raise PromotionError(
                f"no model meets --max-latency-ms {max_latency_ms:g}: the fastest, "
                f"{fastest.run_id}, takes {latencies[fastest.run_id]:.2f} ms"
            )

    if max_robustness_drop is not None:
        robust = [
            c
            for c in pool
            if c.card.robustness is not None and c.card.robustness.worst_drop <= max_robustness_drop
        ]
        rule += f", whose worst robustness drop is at most {max_robustness_drop:g}"
        if not robust:
            raise PromotionError(
                f"no model meets --max-robustness-drop {max_robustness_drop:g} (models without "
                "robustness figures in their card do not qualify: run `make robustness`)"
            )
        pool = robust

    def key(c: Export) -> tuple:
        return (-round(deciding_figures(c, on_val).macro_f1, 4), latencies[c.run_id], c.run_id)

    winner = min(pool, key=key)
    return winner, rule, latencies[winner.run_id], on_val


def promote(
    artifacts: Path,
    *,
    run_id: str | None = None,
    max_latency_ms: float | None = None,
    max_robustness_drop: float | None = None,
    latency_of: LatencyOf | None = None,
    by: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Registry:
    """Choose, then write the registry atomically. Returns the registry written (with
    `dry_run`, the registry that would be written; nothing is written)."""
    exports, refused = scan_exports(artifacts)
    servable = [e for e in exports if e.servable]
    refused |= {e.run_id: e.problem or "" for e in exports if not e.servable}
    if run_id is not None and run_id in refused:
        raise PromotionError(f"refusing to promote {run_id}: {refused[run_id]}")
    registry_path = artifacts / "registry.json"
    registry = read_registry(registry_path)
    winner, rule, latency, on_val = choose(
        servable,
        latency_of or measured_latency(artifacts),
        run_id,
        max_latency_ms,
        max_robustness_drop,
    )
    test = winner.card.metrics.test
    entry = Promotion(
        at=(now or datetime.now(UTC)).replace(microsecond=0),
        run_id=winner.run_id,
        previous=registry.production,
        by=by or getpass.getuser(),
        rule=rule,
        decided_by=DecidedBy(
            metric="val_macro_f1" if on_val else "test_macro_f1",
            value=deciding_figures(winner, on_val).macro_f1,
            test_accuracy=test.accuracy,
            test_macro_f1=test.macro_f1,
            latency_ms_batch_1=round(latency, 3),
        ),
        reason=reason or "",
        refused=dict(sorted(refused.items())),
    )
    written = Registry(
        production=winner.run_id,
        models=sorted(e.run_id for e in servable),
        history=[*registry.history, entry],
        listing=registry.listing,
    )
    if not dry_run:
        write_json_atomic(registry_path, written.model_dump(mode="json", exclude_none=True))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.promotion", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--artifacts", type=Path, default=default_artifacts())
    parser.add_argument("--run-id", help="promote this model instead of applying the rule")
    parser.add_argument("--max-latency-ms", type=float, help="only models this fast at batch 1")
    parser.add_argument(
        "--max-robustness-drop",
        type=float,
        help="only models whose card shows at most this worst-condition accuracy drop (0-1)",
    )
    parser.add_argument("--by", help="who promotes (default: the current user)")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what the rule would choose; write nothing"
    )
    parser.add_argument("--reason", help="why, recorded in the history")
    options = vars(parser.parse_args(argv))
    dry_run = options["dry_run"]
    try:
        registry = promote(options.pop("artifacts"), **options)
    except PromotionError as exc:
        print(f"promotion refused: {exc}", file=sys.stderr)
        return 2
    entry = registry.history[-1]
    for run_id, why in entry.refused.items():
        print(f"skipped {run_id}: {why}")
    decided = entry.decided_by
    print(
        ("would promote (dry run, nothing written): " if dry_run else "")
        + f"production: {registry.production} (was {entry.previous}) — {entry.rule}; "
        f"{decided.metric} {decided.value:.4f}, test accuracy {decided.test_accuracy:.4f}, "
        f"{decided.latency_ms_batch_1:.2f} ms at batch 1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
