"""A listing's text (title, description) and the text model every part evaluates the same way.

- `clean_text` is applied by `data/prepare.py` when it writes `dataset.csv`, by the lab before
  fitting, and by the service before predicting: Unicode NFKC, control characters to spaces,
  whitespace collapsed, cut at a word boundary to a length limit.
- `TextModel` evaluates the lab's exported text model (`model.json`, format
  `flipkart-text-linear` version 1) with NumPy alone: one or more TF-IDF blocks (word or
  `char_wb` n-grams, the same analysis as scikit-learn's `TfidfVectorizer`) concatenated, then a
  linear layer. The lab tests that it reproduces scikit-learn's `decision_function`.
- `fuse` is the late fusion of an image model's probabilities and a text model's logits
  (weighted log-linear pooling, weights fitted on validation; `FusionWeights`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

TEXT_FORMAT = "flipkart-text-linear"
TEXT_FORMAT_VERSION = 1
TITLE_MAX_CHARS = 300
DESCRIPTION_MAX_CHARS = 2000
# What a text input is made of; a fusion has weights for each.
TEXT_INPUTS = ("title", "description", "title+description")
TextInput = Literal["title", "description", "title+description"]

_SPACES = re.compile(r"\s+")
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's char_wb normalisation
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
WORD_CACHE_SIZE = 100_000  # words whose character n-gram columns a block remembers


def clean_text(value: str | None, max_chars: int) -> str:
    """One line of normalised text, at most `max_chars` long ('' for None or blank)."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", value)
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars + 1]
    space = cut.rfind(" ")
    # Cut before the word that crosses the limit, unless that would drop most of the text.
    return (cut[:space] if space > max_chars * 0.8 else cut[:max_chars]).rstrip()


def text_input_kind(title: str, description: str) -> TextInput | None:
    """Which text a (cleaned) listing has: None when it has none."""
    if title and description:
        return "title+description"
    if title:
        return "title"
    if description:
        return "description"
    return None


def listing_text(title: str, description: str) -> str:
    """The one document the text model reads: the cleaned title, then the description."""
    return "\n".join(part for part in (title, description) if part)


# ---------------------------------------------------------------- analysis (scikit-learn's)


def word_ngrams(text: str, ngram_range: tuple[int, int], token_pattern: str) -> list[str]:
    tokens = re.findall(token_pattern, text)
    low, high = ngram_range
    grams: list[str] = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams inside word boundaries, each word padded with one space."""
    low, high = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[offset : offset + n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # the word is shorter than n: counted once
                break
    return grams


@dataclass(frozen=True, eq=False)
class TfidfBlock:
    """One TF-IDF vectoriser: how text becomes terms, the fitted terms and their idf."""

    analyzer: Literal["word", "char_wb"]
    ngram_range: tuple[int, int]
    lowercase: bool
    sublinear_tf: bool
    token_pattern: str
    terms: dict[str, int]  # term -> column inside the block
    idf: np.ndarray  # float64 [num_terms]

    def analyse(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.analyzer == "word":
            return word_ngrams(text, self.ngram_range, self.token_pattern)
        return char_wb_ngrams(text, self.ngram_range)

    def term_columns(self, text: str) -> list[int]:
        """The vocabulary columns of the text's terms, one per occurrence.

        Character n-grams stay inside a word, so a word's columns are computed once and
        remembered (descriptions repeat their words, and requests repeat the catalogue's).
        """
        if self.analyzer == "word":
            return [self.terms[t] for t in self.analyse(text) if t in self.terms]
        if self.lowercase:
            text = text.lower()
        cache, columns = self._word_cache, []
        for word in _WHITE_SPACES.sub(" ", text).split():
            found = cache.get(word)
            if found is None:
                grams = char_wb_ngrams(word, self.ngram_range)
                found = tuple(self.terms[g] for g in grams if g in self.terms)
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()
                cache[word] = found
            columns.extend(found)
        return columns

    @cached_property
    def _word_cache(self) -> dict[str, tuple[int, ...]]:
        return {}

    def transform(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, l2-normalised tf-idf values) of the terms of `text` in the vocabulary."""
        found = self.term_columns(text)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        columns, counts = np.unique(np.asarray(found, dtype=np.int64), return_counts=True)
        tf = counts.astype(np.float64)
        if self.sublinear_tf:
            tf = 1.0 + np.log(tf)
        values = tf * self.idf[columns]
        norm = math.sqrt(float(values @ values))
        return columns, (values / norm if norm > 0 else values)


class TextModelError(ValueError):
    """A model.json that is not a valid text model."""


class TextModel:
    """The exported text model, evaluated with NumPy. `logits(texts)` -> float64 [N, classes]."""

    def __init__(
        self,
        classes: Sequence[str],
        blocks: Sequence[TfidfBlock],
        coef: np.ndarray,
        intercept: np.ndarray,
    ):
        self.classes = list(classes)
        self.blocks = list(blocks)
        self.offsets = np.cumsum([0] + [len(b.terms) for b in self.blocks])
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        width = int(self.offsets[-1])
        if self.coef.shape != (len(self.classes), width):
            raise TextModelError(
                f"coef is {list(self.coef.shape)}, expected {[len(self.classes), width]}"
            )
        if self.intercept.shape != (len(self.classes),):
            raise TextModelError(f"intercept has {self.intercept.shape} values, expected classes")
        if not (np.isfinite(self.coef).all() and np.isfinite(self.intercept).all()):
            raise TextModelError("coef or intercept holds NaN or infinity")

    @property
    def num_features(self) -> int:
        return int(self.offsets[-1])

    def logits(self, texts: Iterable[str]) -> np.ndarray:
        rows = []
        for text in texts:
            row = self.intercept.copy()
            for offset, block in zip(self.offsets, self.blocks, strict=False):
                columns, values = block.transform(text)
                if len(columns):
                    row += self.coef[:, offset + columns] @ values
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, len(self.classes)))

    # ------------------------------------------------------------ file format

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextModel:
        try:
            if data.get("format") != TEXT_FORMAT:
                raise TextModelError(f"format is {data.get('format')!r}, expected {TEXT_FORMAT!r}")
            if data.get("format_version") != TEXT_FORMAT_VERSION:
                raise TextModelError(
                    f"format_version {data.get('format_version')!r} is not supported "
                    f"(this code reads version {TEXT_FORMAT_VERSION})"
                )
            blocks = [_block_from_dict(b) for b in data["blocks"]]
            if not blocks:
                raise TextModelError("the model has no TF-IDF block")
            return cls(data["classes"], blocks, np.array(data["coef"]), np.array(data["intercept"]))
        except TextModelError:
            raise
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise TextModelError(f"not a {TEXT_FORMAT} model: {type(exc).__name__}: {exc}") from exc

    def to_dict(self, digits: int = 6) -> dict[str, Any]:
        """The `model.json` contents; floats rounded to `digits` significant digits."""

        def rounded(values: np.ndarray) -> Any:
            return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(values).tolist()

        return {
            "format": TEXT_FORMAT,
            "format_version": TEXT_FORMAT_VERSION,
            "classes": self.classes,
            "blocks": [
                {
                    "analyzer": b.analyzer,
                    "ngram_range": list(b.ngram_range),
                    "lowercase": b.lowercase,
                    "sublinear_tf": b.sublinear_tf,
                    "token_pattern": b.token_pattern,
                    "norm": "l2",
                    "terms": sorted(b.terms, key=b.terms.__getitem__),
                    "idf": rounded(b.idf),
                }
                for b in self.blocks
            ],
            "coef": rounded(self.coef),
            "intercept": rounded(self.intercept),
        }


def _block_from_dict(data: dict[str, Any]) -> TfidfBlock:
    analyzer = data["analyzer"]
    if analyzer not in ("word", "char_wb"):
        raise TextModelError(f"unknown analyzer {analyzer!r} (word or char_wb)")
    if data.get("norm", "l2") != "l2":
        raise TextModelError(f"norm {data.get('norm')!r} is not supported (l2)")
    low, high = (int(n) for n in data["ngram_range"])
    if not 1 <= low <= high <= 10:
        raise TextModelError(f"ngram_range {data['ngram_range']} is not 1 <= low <= high <= 10")
    terms = list(data["terms"])
    if len(set(terms)) != len(terms) or not all(isinstance(t, str) for t in terms):
        raise TextModelError("terms are not distinct strings")
    idf = np.asarray(data["idf"], dtype=np.float64)
    if idf.shape != (len(terms),) or not np.isfinite(idf).all():
        raise TextModelError(f"idf has {idf.shape} finite values for {len(terms)} terms")
    pattern = str(data.get("token_pattern", DEFAULT_TOKEN_PATTERN))
    re.compile(pattern)
    return TfidfBlock(
        analyzer=analyzer,
        ngram_range=(low, high),
        lowercase=bool(data.get("lowercase", True)),
        sublinear_tf=bool(data.get("sublinear_tf", False)),
        token_pattern=pattern,
        terms={t: i for i, t in enumerate(terms)},
        idf=idf,
    )


# ---------------------------------------------------------------- fusion


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Over the last axis: one row [classes] or a batch [N, classes]."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class FusionWeights:
    """p_fused ∝ p_image^image · softmax(text_logits)^text; text alone: softmax(logits / T)."""

    image: float
    text: float
    text_temperature: float = 1.0


def text_probabilities(text_logits: np.ndarray, weights: FusionWeights) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(text_logits, dtype=np.float64) / weights.text_temperature))


def fuse(image_probs: np.ndarray, text_logits: np.ndarray, weights: FusionWeights) -> np.ndarray:
    """Fused probabilities [N, classes] of image probabilities and text logits."""
    log_image = np.log(np.clip(np.asarray(image_probs, dtype=np.float64), 1e-12, 1.0))
    return np.exp(log_softmax(weights.image * log_image + weights.text * log_softmax(text_logits)))
