"""Learning curves of the kept runs (`runs/<framework>/<run_id>/`), read from their TensorBoard
event files with no TensorFlow, TensorBoard nor protobuf library.

An event file is a sequence of TFRecords (length, its CRC, an `Event` protobuf, its CRC); a
scalar is a `Summary.Value` of an event, either a `simple_value` (PyTorch's SummaryWriter) or a
one-element numeric tensor (TensorFlow 2's `tf.summary.scalar`). Only the protobuf wire format
is decoded here, and only the fields those carry: wall time and step of the `Event`; tag,
`simple_value` and `tensor` of each value; dtype, `tensor_content` and the typed value lists of
the tensor. A truncated file (a run still writing) keeps what was read before the cut.
"""

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flipkart_contract import layout, load_metrics, parse_run_id
from flipkart_contract.run_id import RUN_ID_PATTERN

# TensorFlow dtypes (types.proto) → struct format of one element.
DTYPES = {1: "f", 2: "d", 3: "i", 9: "q"}  # float, double, int32, int64
FIRST_RECORD_HEADER = 12  # uint64 length + uint32 masked CRC of the length
RUN_ID = re.compile(RUN_ID_PATTERN)
Curve = list[tuple[int, float]]


def varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one message: an int for varints, bytes otherwise."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if at > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def tensor_scalar(data: bytes) -> float | None:
    """The value of a one-element numeric `TensorProto`, else None."""
    dtype, content, values = None, b"", []
    for number, wire, value in fields(data):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 4 and wire == 2:
            content = value
        elif number in (5, 6, 7, 10) and dtype in DTYPES:
            fmt = DTYPES[dtype]
            if wire == 2 and fmt in "fd":  # packed floats or doubles
                values += struct.unpack(f"<{len(value) // struct.calcsize(fmt)}{fmt}", value)
            elif wire == 2:  # packed varints
                at = 0
                while at < len(value):
                    item, at = varint(value, at)
                    values.append(item - (1 << 64) if item >= 1 << 63 else item)
            elif wire == 5:
                values.append(struct.unpack("<f", value)[0])
            elif wire == 1:
                values.append(struct.unpack("<d", value)[0])
            else:
                values.append(value)
    if dtype not in DTYPES:
        return None
    if content:
        fmt = DTYPES[dtype]
        if len(content) != struct.calcsize(fmt):
            return None
        return float(struct.unpack(f"<{fmt}", content)[0])
    return float(values[0]) if len(values) == 1 else None


def event_scalars(data: bytes) -> Iterator[tuple[str, int, float]]:
    """(tag, step, value) of each scalar of one `Event`."""
    step, summaries = 0, []
    for number, wire, value in fields(data):
        if number == 2 and wire == 0:
            step = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 5 and wire == 2:
            summaries.append(value)
    for summary in summaries:
        for number, wire, value in fields(summary):
            if number != 1 or wire != 2:
                continue
            tag, scalar = None, None
            for inner, kind, item in fields(value):
                if inner == 1 and kind == 2:
                    tag = item.decode("utf-8", "replace")
                elif inner == 2 and kind == 5:
                    scalar = struct.unpack("<f", item)[0]
                elif inner == 8 and kind == 2:
                    scalar = tensor_scalar(item)
            if tag is not None and scalar is not None:
                yield tag, step, float(scalar)


def records(data: bytes) -> Iterator[bytes]:
    """The TFRecords of an event file, up to the first incomplete one."""
    at = 0
    while at + FIRST_RECORD_HEADER <= len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        start = at + FIRST_RECORD_HEADER
        end = start + length
        if end + 4 > len(data):
            return
        yield data[start:end]
        at = end + 4


def read_event_file(path: Path) -> dict[str, Curve]:
    """Every scalar of one event file, by tag, in file order. A record that does not decode is
    skipped (and so is anything after a truncation)."""
    curves: dict[str, Curve] = {}
    for record in records(path.read_bytes()):
        try:
            scalars = list(event_scalars(record))
        except (ValueError, struct.error):
            continue
        for tag, step, value in scalars:
            curves.setdefault(tag, []).append((step, value))
    return curves


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    framework: str
    folder: Path


def find_runs(root: Path) -> dict[str, RunInfo]:
    """The image labs' runs under `root` (`runs/text/` holds the text models': not curves of
    an image model), by run_id."""
    found = {}
    for framework in layout.FRAMEWORKS:
        folder = root / framework
        if not folder.is_dir():
            continue
        for run in sorted(folder.iterdir()):
            if run.is_dir() and RUN_ID.match(run.name):
                found[run.name] = RunInfo(run.name, framework, run)
    return found


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    files = sorted(folder.glob("events.out.tfevents.*"))
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)


def run_curves(folder: Path) -> dict[str, Curve]:
    """Every scalar of a run (all its event files: a resumed run has several), sorted by step;
    a step written twice (a resumed epoch) keeps its last value."""
    return _cached_curves(folder, _signature(folder))


@lru_cache(maxsize=64)
def _cached_curves(folder: Path, signature: tuple) -> dict[str, Curve]:
    merged: dict[str, dict[int, float]] = {}
    for name, _, _ in signature:
        for tag, points in read_event_file(folder / name).items():
            merged.setdefault(tag, {}).update(points)
    return {tag: sorted(points.items()) for tag, points in sorted(merged.items())}


def describe_run(run: RunInfo) -> dict:
    """An item of `GET /v1/runs`: what metrics.json says (when valid) and the curves' tags."""
    _, architecture, training_mode = parse_run_id(run.run_id)
    item = {
        "run_id": run.run_id,
        "framework": run.framework,
        "architecture": architecture,
        "training_mode": training_mode,
        "test_accuracy": None,
        "test_macro_f1": None,
        "epochs_run": None,
    }
    try:
        metrics = load_metrics(run.folder / "metrics.json")
    except (OSError, ValueError):
        metrics = None
    if metrics is not None:
        test = metrics.final.test
        item |= {
            "architecture": metrics.architecture,
            "test_accuracy": test.accuracy if test is not None else None,
            "test_macro_f1": test.macro_f1 if test is not None else None,
            "epochs_run": metrics.epochs_run,
        }
    curves = run_curves(run.folder)
    item["tags"] = {tag: len(points) for tag, points in curves.items()}
    return item
