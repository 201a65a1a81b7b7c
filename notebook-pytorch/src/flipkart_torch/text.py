"""Text models of a listing (title, description), fitted with scikit-learn, exported for NumPy.

`flipkart-torch train-text` fits TF-IDF blocks + a multinomial logistic regression on the
training products, chooses the regularisation on validation, and writes
- `runs/text/<run_id>/`: TensorBoard events (the run contract's tags at step 0, plus
  per-input figures), `metrics.json` (the contract's `TextRunMetrics`);
- `artifacts/text/<run_id>/model.json` (format `flipkart-text-linear`, evaluated by
  `flipkart_contract.text.TextModel`, which the service uses) and `card.json` (`TextCard`),
  after checking that the exported file reproduces scikit-learn's logits.

Each training product is read twice, by its title alone and by its title and description, so
one model serves a listing with either; validation and test report each input separately.
"""

from __future__ import annotations

import csv
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flipkart_contract import class_names, layout, read_splits, sha256_bytes, write_json_atomic
from flipkart_contract.evaluation import split_metrics
from flipkart_contract.latency import cpu_name
from flipkart_contract.schema import Hardware, SplitMetrics, TextCard, TextRunMetrics
from flipkart_contract.text import (
    DEFAULT_TOKEN_PATTERN,
    DESCRIPTION_MAX_CHARS,
    TITLE_MAX_CHARS,
    TextModel,
    TfidfBlock,
    clean_text,
    listing_text,
    log_softmax,
)

from flipkart_torch.run_log import RunLog, utc_now

# What each architecture's TF-IDF blocks are: (analyzer, ngram_range).
ARCHITECTURES: dict[str, tuple[tuple[str, tuple[int, int]], ...]] = {
    "tfidf-word": (("word", (1, 2)),),
    "tfidf-char": (("char_wb", (2, 5)),),
    "tfidf-word-char": (("word", (1, 2)), ("char_wb", (2, 5))),
}
# The inputs a model is evaluated on (the service accepts a description alone too; it is not
# a catalogue case worth a figure: every product has a title).
EVAL_INPUTS = ("title", "title+description")
DEFAULT_C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
VAL_LOGITS_FILE = "val_logits.json"


class TextDataError(ValueError):
    pass


@dataclass
class Listing:
    image: str
    label: int
    title: str
    description: str

    def text(self, kind: str) -> str:
        if kind == "title":
            return self.title
        if kind == "description":
            return self.description
        return listing_text(self.title, self.description)


def load_listings(
    splits_csv: Path | None = None, dataset_csv: Path | None = None
) -> tuple[list[str], dict[str, list[Listing]]]:
    """(classes, {split: listings}) from data/splits.csv and the text columns of dataset.csv."""
    splits_csv = splits_csv or layout.splits_csv()
    dataset_csv = dataset_csv or splits_csv.with_name("dataset.csv")
    classes, rows = class_names(splits_csv), read_splits(splits_csv)
    if not dataset_csv.is_file():
        raise TextDataError(f"{dataset_csv} is missing: run `make data`")
    with dataset_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"title", "description"} <= set(reader.fieldnames or ()):
            raise TextDataError(
                f"{dataset_csv} has no title/description columns: re-run `make data` "
                "(data/prepare.py version 2 or later)"
            )
        texts = {r["image"]: (r["title"], r["description"]) for r in reader}
    index = {name: i for i, name in enumerate(classes)}
    by_split: dict[str, list[Listing]] = {"train": [], "val": [], "test": []}
    for row in rows:
        if row["image"] not in texts:
            raise TextDataError(f"{row['image']} is in {splits_csv.name} but not in dataset.csv")
        title, description = texts[row["image"]]
        by_split[row["split"]].append(
            Listing(
                image=row["image"],
                label=index[row["label"]],
                title=clean_text(title, TITLE_MAX_CHARS),
                description=clean_text(description, DESCRIPTION_MAX_CHARS),
            )
        )
    return classes, by_split


@dataclass
class TextConfig:
    architecture: str = "tfidf-word"
    train_inputs: tuple[str, ...] = ("title", "title+description")
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    sublinear_tf: bool = True
    min_df: int = 1
    fit_on: str = "train"  # or "train+val": refit on both once C is chosen (cross-fitting)
    cv_folds: int = 5
    max_iter: int = 3000
    seed: int = 0
    run_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown text architecture {self.architecture!r}; one of {sorted(ARCHITECTURES)}"
            )
        unknown = set(self.train_inputs) - {"title", "description", "title+description"}
        if unknown or not self.train_inputs:
            raise ValueError(
                f"train inputs must be title, description, title+description: {unknown}"
            )
        if not self.c_grid or min(self.c_grid) <= 0:
            raise ValueError("the C grid must hold positive values")
        if self.fit_on not in ("train", "train+val"):
            raise ValueError(f"fit_on must be train or train+val, got {self.fit_on!r}")
        if self.cv_folds < 2:
            raise ValueError("cross-fitting needs at least 2 folds")


def _vectorizers(config: TextConfig):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return [
        TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngrams,
            lowercase=True,
            sublinear_tf=config.sublinear_tf,
            min_df=config.min_df,
            token_pattern=DEFAULT_TOKEN_PATTERN,
            dtype=np.float64,
        )
        for analyzer, ngrams in ARCHITECTURES[config.architecture]
    ]


@dataclass
class FittedText:
    """scikit-learn's fitted pieces: the reference the exported model is checked against."""

    vectorizers: list
    classifier: Any
    c: float

    def features(self, texts: list[str]):
        from scipy.sparse import hstack

        return hstack([v.transform(texts) for v in self.vectorizers]).tocsr()

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.classifier.decision_function(self.features(texts))

    def export(self, classes: list[str]) -> TextModel:
        blocks = [
            TfidfBlock(
                analyzer=v.analyzer,
                ngram_range=tuple(v.ngram_range),
                lowercase=v.lowercase,
                sublinear_tf=v.sublinear_tf,
                token_pattern=v.token_pattern,
                terms={t: int(i) for t, i in v.vocabulary_.items()},
                idf=np.asarray(v.idf_, dtype=np.float64),
            )
            for v in self.vectorizers
        ]
        return TextModel(classes, blocks, self.classifier.coef_, self.classifier.intercept_)


def fit_text(config: TextConfig, train: list[Listing], c: float, num_classes: int) -> FittedText:
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    texts = [item.text(kind) for item in train for kind in config.train_inputs]
    labels = [item.label for item in train for _ in config.train_inputs]
    vectorizers = _vectorizers(config)
    features = hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
    classifier = LogisticRegression(C=c, max_iter=config.max_iter, random_state=config.seed)
    classifier.fit(features, labels)
    if list(classifier.classes_) != list(range(num_classes)):
        raise TextDataError("every class needs training products")
    return FittedText(vectorizers, classifier, c)


def figures(logits: np.ndarray, labels: list[int], classes: list[str]) -> SplitMetrics:
    loss = float(-log_softmax(logits)[np.arange(len(labels)), labels].mean())
    return split_metrics(labels, logits.argmax(axis=1).tolist(), classes, loss=loss)


def split_figures(
    logit_fn, listings: list[Listing], classes: list[str], inputs=EVAL_INPUTS
) -> dict[str, SplitMetrics]:
    labels = [item.label for item in listings]
    return {
        kind: figures(logit_fn([item.text(kind) for item in listings]), labels, classes)
        for kind in inputs
    }


def choose_c(
    config: TextConfig, data: dict[str, list[Listing]], classes: list[str]
) -> tuple[FittedText, dict[float, float]]:
    """The C whose model has the best mean validation macro-F1 over EVAL_INPUTS (ties: the
    smaller C, the stronger regularisation)."""
    scores: dict[float, float] = {}
    best: FittedText | None = None
    for c in sorted(config.c_grid):
        fitted = fit_text(config, data["train"], c, len(classes))
        val = split_figures(fitted.logits, data["val"], classes)
        scores[c] = float(np.mean([m.macro_f1 for m in val.values()]))
        if best is None or scores[c] > scores[best.c]:
            best = fitted
    assert best is not None
    return best, scores


def out_of_fold_val_logits(
    config: TextConfig, data: dict[str, list[Listing]], c: float, num_classes: int
) -> dict[str, np.ndarray]:
    """Cross-fitting over train+val: each val product scored, for each input, by the fold's
    model that did not see it (the folds are stratified, seeded by the config)."""
    from sklearn.model_selection import StratifiedKFold

    pool = data["train"] + data["val"]
    first_val = len(data["train"])
    labels = np.array([item.label for item in pool])
    folds = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
    out = {k: np.zeros((len(data["val"]), num_classes)) for k in EVAL_INPUTS}
    for train_idx, held_idx in folds.split(np.zeros(len(pool)), labels):
        held_val = [i for i in held_idx if i >= first_val]
        if not held_val:
            continue
        fold = fit_text(config, [pool[i] for i in train_idx], c, num_classes)
        for kind in EVAL_INPUTS:
            logits = fold.logits([pool[i].text(kind) for i in held_val])
            out[kind][[i - first_val for i in held_val]] = logits
    return out


def parity(fitted: FittedText, model: TextModel, texts: list[str]) -> dict[str, Any]:
    """The exported model (read back from its JSON) against scikit-learn, on `texts`."""
    import sklearn

    reference, ours = fitted.logits(texts), model.logits(texts)
    return {
        "reference": f"scikit-learn {sklearn.__version__} decision_function",
        "max_abs_logit_diff": float(np.abs(reference - ours).max()),
        "top1_agreement": float((reference.argmax(1) == ours.argmax(1)).mean()),
        "num_texts": len(texts),
    }


def latency_ms(model: TextModel, listings: list[Listing], repeats: int = 3) -> dict[str, float]:
    """Median ms to score one listing, per input (what the service adds to a request)."""
    out = {}
    for kind in EVAL_INPUTS:
        times = []
        for _ in range(repeats):
            for item in listings:
                start = time.perf_counter()
                model.logits([item.text(kind)])
                times.append((time.perf_counter() - start) * 1000)
        out[kind] = round(statistics.median(times), 4)
    return out


def _hardware() -> Hardware:
    return Hardware(device="cpu", device_name=cpu_name(), num_threads=1, gpus=0)


def train_text(
    config: TextConfig,
    *,
    splits_csv: Path | None = None,
    runs_dir: Path | None = None,
    text_dir: Path | None = None,
) -> TextRunMetrics:
    started = time.perf_counter()
    classes, data = load_listings(splits_csv)
    if not all(data[s] for s in ("train", "val", "test")):
        raise TextDataError("train, val and test all need products")
    config.run_id = config.run_id or f"{utc_now():%Y%m%d-%H%M%S}_text-{config.architecture}"
    fitted, c_scores = choose_c(config, data, classes)
    val_logits = {k: fitted.logits([i.text(k) for i in data["val"]]) for k in EVAL_INPUTS}
    fitted_on = data["train"]
    if config.fit_on == "train+val":
        val_logits = out_of_fold_val_logits(config, data, fitted.c, len(classes))
        fitted_on = data["train"] + data["val"]
        fitted = fit_text(config, fitted_on, fitted.c, len(classes))
    model = TextModel.from_dict(json.loads(json.dumps(fitted.export(classes).to_dict())))

    train_texts = [item.text(k) for item in fitted_on for k in config.train_inputs]
    train_labels = [item.label for item in fitted_on for _ in config.train_inputs]
    train = figures(model.logits(train_texts), train_labels, classes)
    val_labels = [item.label for item in data["val"]]
    val = {k: figures(val_logits[k], val_labels, classes) for k in EVAL_INPUTS}
    test = split_figures(model.logits, data["test"], classes)
    checked = [item.text(k) for s in ("val", "test") for item in data[s] for k in EVAL_INPUTS]
    checked += ["", "ÉTÉ ½ ﬁne — 漢字", "a b c", "x" * 500]  # nothing known, Unicode, long word
    agreement = parity(fitted, model, checked)
    if agreement["max_abs_logit_diff"] > 1e-4 or agreement["top1_agreement"] < 1.0:
        raise RuntimeError(f"the exported text model disagrees with scikit-learn: {agreement}")
    speed = latency_ms(model, data["test"][:50])

    run_dir = (runs_dir or layout.text_runs_dir()) / config.run_id
    log = RunLog(run_dir)
    main = "title+description"
    log.epoch(
        0,
        {
            "train/loss": train.loss or 0.0,
            "train/accuracy": train.accuracy,
            "val/loss": val[main].loss or 0.0,
            "val/accuracy": val[main].accuracy,
            "val/macro_f1": val[main].macro_f1,
            "lr": 0.0,
            "perf/train_images_per_s": 0.0,
            "perf/epoch_s": time.perf_counter() - started,
        },
    )
    extra = {f"{split}/{kind}/{name}": getattr(m, name)
             for split, per in (("val", val), ("test", test)) for kind, m in per.items()
             for name in ("accuracy", "macro_f1")}  # fmt: skip
    extra.update({f"val/c_{c:g}/mean_macro_f1": s for c, s in c_scores.items()})
    log.final(
        0,
        {
            "test/accuracy": test[main].accuracy,
            "test/macro_f1": test[main].macro_f1,
            "perf/test_ms_per_image": speed[main],
            **extra,
        },
        report=_report(test, classes),
        matrix=test[main].confusion_matrix or [],
        classes=classes,
        hparam_values={**_config_dict(config), "c": fitted.c},
    )
    log.close()

    metrics = TextRunMetrics(
        run_id=config.run_id,
        architecture=config.architecture,
        classes=classes,
        config={
            **_config_dict(config),
            "c": fitted.c,
            "val_mean_macro_f1_by_c": {f"{c:g}": s for c, s in c_scores.items()},
        },
        budget=f"CPU, 1 thread, {len(config.c_grid)} fits (one per C)"
        + (f" + {config.cv_folds} cross-fits + 1 refit" if config.fit_on == "train+val" else ""),
        hardware=_hardware(),
        data={
            "splits_sha256": sha256_bytes((splits_csv or layout.splits_csv()).read_bytes()),
            "num_train": len(data["train"]),
            "num_val": len(data["val"]),
            "num_test": len(data["test"]),
        },
        wall_time_s=round(time.perf_counter() - started, 2),
        final={"val": val, "test": test},
        created_at=utc_now(),
        notes=f"python {platform.python_version()}; model.json checked against scikit-learn",
    )
    write_json_atomic(run_dir / "metrics.json", metrics.model_dump(mode="json", exclude_none=True))

    out = (text_dir or layout.text_models_dir()) / config.run_id
    out.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(model.to_dict(), separators=(",", ":")).encode()
    (out / "model.json").write_bytes(blob)
    if config.fit_on == "train+val":
        logits_file = {
            "images": [item.image for item in data["val"]],
            "logits": {k: np.round(v, 6).tolist() for k, v in val_logits.items()},
        }
        write_json_atomic(out / VAL_LOGITS_FILE, logits_file)
    card = TextCard(
        run_id=config.run_id,
        architecture=config.architecture,
        classes=classes,
        max_chars={"title": TITLE_MAX_CHARS, "description": DESCRIPTION_MAX_CHARS},
        metrics={"val": val, "test": test},
        fitted_on=config.fit_on,
        val_logits=VAL_LOGITS_FILE if config.fit_on == "train+val" else None,
        model={
            "sha256": sha256_bytes(blob),
            "bytes": len(blob),
            "num_features": model.num_features,
        },
        parity=agreement,
        latency_ms={"ms_per_text": speed, "threads": 1, "hardware": cpu_name()},
        created_at=metrics.created_at,
    )
    write_json_atomic(out / "card.json", card.model_dump(mode="json", exclude_none=True))
    return metrics


def _config_dict(config: TextConfig) -> dict[str, Any]:
    data = asdict(config)
    data["train_inputs"] = list(config.train_inputs)
    data["c_grid"] = list(config.c_grid)
    return data


def _report(test: dict[str, SplitMetrics], classes: list[str]) -> str:
    lines = []
    for kind, m in test.items():
        lines.append(f"{kind}: accuracy {m.accuracy:.4f}, macro-F1 {m.macro_f1:.4f}")
        for name, r in (m.per_class or {}).items():
            lines.append(f"  {name:28s} P {r.precision:.3f} R {r.recall:.3f} F1 {r.f1:.3f}")
    return "\n".join(lines)
