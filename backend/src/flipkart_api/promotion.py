"""Choose the production model and record the decision in `artifacts/registry.json`.

Default rule: highest test macro-F1, ties (to 4 decimals) broken by lower batch-1 latency;
`--max-latency-ms` first drops slower models (the accuracy-vs-speed trade-off); `--run-id`
promotes one model explicitly. A model whose ONNX sha256 does not match its card, or whose card
lacks test metrics, is never promoted. The registry is written atomically, with a history entry.

    uv run python -m flipkart_api.promotion [--run-id ID] [--max-latency-ms 20] [--reason TEXT]
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flipkart_api.leaderboard import (
    Candidate,
    benchmark_images,
    measure_latency,
    scan_models,
    write_atomic,
)
from flipkart_api.settings import default_artifacts_root

DEFAULT_RULE = "highest test macro-F1, ties by lower batch-1 latency"

LatencyOf = Callable[[Candidate], float]


class PromotionError(Exception):
    """The promotion is refused; the message says why and what to do."""


def metric_of(candidate: Candidate, name: str) -> float:
    return float(candidate.card["metrics"]["test"][name])


def load_registry(path: Path) -> dict:
    if not path.exists():
        return {"schema_version": 1, "production": None, "models": [], "history": []}
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromotionError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    if not isinstance(registry, dict):
        raise PromotionError(f"{path} is not a JSON object; fix or delete it")
    registry.setdefault("history", [])
    return registry


def choose(
    candidates: list[Candidate],
    latency_of: LatencyOf,
    run_id: str | None = None,
    max_latency_ms: float | None = None,
) -> tuple[Candidate, str, float]:
    """The winner, the rule that chose it, and its batch-1 latency."""
    if run_id is not None:
        chosen = next((c for c in candidates if c.run_id == run_id), None)
        if chosen is None:
            valid = ", ".join(c.run_id for c in candidates) or "none"
            raise PromotionError(f"{run_id!r} is not a promotable model. Promotable: {valid}.")
        return chosen, f"explicit --run-id {run_id}", latency_of(chosen)
    if not candidates:
        raise PromotionError(
            "no promotable model under artifacts/models/ (export one with a lab's `export`)"
        )
    latencies = {c.run_id: latency_of(c) for c in candidates}
    pool = candidates
    rule = DEFAULT_RULE
    if max_latency_ms is not None:
        pool = [c for c in candidates if latencies[c.run_id] <= max_latency_ms]
        rule += f", among models at most {max_latency_ms:g} ms at batch 1"
        if not pool:
            fastest = min(candidates, key=lambda c: latencies[c.run_id])
            raise PromotionError(
                f"no model meets --max-latency-ms {max_latency_ms:g}: the fastest, "
                f"{fastest.run_id}, takes {latencies[fastest.run_id]:.2f} ms"
            )
    winner = min(
        pool,
        key=lambda c: (-round(metric_of(c, "macro_f1"), 4), latencies[c.run_id], c.run_id),
    )
    return winner, rule, latencies[winner.run_id]


def promote(
    artifacts: Path,
    *,
    run_id: str | None = None,
    max_latency_ms: float | None = None,
    latency_of: LatencyOf | None = None,
    by: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Choose, then write the registry atomically. Returns the registry written."""
    candidates, refused = scan_models(artifacts)
    if run_id is not None and run_id in refused:
        raise PromotionError(f"refusing to promote {run_id}: {refused[run_id][1]}")
    if latency_of is None:
        images = benchmark_images(data_dir=artifacts.parent / "data")

        def latency_of(candidate: Candidate) -> float:
            return measure_latency(candidate.model_path, candidate.card, images, threads=2)[0]

    winner, rule, latency = choose(candidates, latency_of, run_id, max_latency_ms)
    registry_path = artifacts / "registry.json"
    registry = load_registry(registry_path)
    previous = registry.get("production")
    registry.update(
        schema_version=1,
        production=winner.run_id,
        models=sorted(c.run_id for c in candidates),
    )
    registry["history"].append(
        {
            "at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "run_id": winner.run_id,
            "previous": previous,
            "by": by or getpass.getuser(),
            "rule": rule,
            "decided_by": {
                "metric": "test_macro_f1",
                "value": metric_of(winner, "macro_f1"),
                "test_accuracy": metric_of(winner, "accuracy"),
                "latency_ms_batch_1": round(latency, 3),
            },
            "reason": reason or "",
            "refused": {rid: why for rid, (_, why) in sorted(refused.items())},
        }
    )
    write_atomic(registry_path, json.dumps(registry, indent=2) + "\n")
    return registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="promote", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=default_artifacts_root())
    parser.add_argument("--run-id", help="promote this model instead of applying the rule")
    parser.add_argument("--max-latency-ms", type=float, help="only models this fast at batch 1")
    parser.add_argument("--by", help="who promotes (default: the current user)")
    parser.add_argument("--reason", help="why, recorded in the history")
    args = parser.parse_args(argv)
    try:
        registry = promote(
            args.artifacts,
            run_id=args.run_id,
            max_latency_ms=args.max_latency_ms,
            by=args.by,
            reason=args.reason,
        )
    except PromotionError as exc:
        print(f"promotion refused: {exc}", file=sys.stderr)
        return 2
    entry = registry["history"][-1]
    for run_id, why in entry["refused"].items():
        print(f"skipped {run_id}: {why}")
    decided = entry["decided_by"]
    print(
        f"production: {registry['production']} (was {entry['previous']}) — {entry['rule']}; "
        f"test macro-F1 {decided['value']:.4f}, accuracy {decided['test_accuracy']:.4f}, "
        f"{decided['latency_ms_batch_1']:.2f} ms at batch 1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
