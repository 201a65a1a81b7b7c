"""The text contract: cleaning, scikit-learn's analysis, the NumPy text model, fusion, cards."""

import json
import math

import numpy as np
import pytest
from flipkart_contract.schema import ListingCard, Registry, TextCard
from flipkart_contract.testing import FLIPKART_CLASSES as CLASSES
from flipkart_contract.text import (
    DEFAULT_TOKEN_PATTERN,
    FusionWeights,
    TextModel,
    TextModelError,
    char_wb_ngrams,
    clean_text,
    fuse,
    listing_text,
    text_input_kind,
    text_probabilities,
    word_ngrams,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("", ""),
        ("   \n\t ", ""),
        ("  Analog\tWatch \n for  Men ", "Analog Watch for Men"),
        ("Bed\x00sheet\u200bset", "Bed sheet set"),  # control and format characters
        ("ﬁne Ｃｏｔｔｏｎ", "fine Cotton"),  # NFKC
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw, 100) == expected


def test_clean_text_cuts_at_a_word_boundary_under_the_limit():
    text = "word " * 100
    cleaned = clean_text(text, 52)
    assert len(cleaned) <= 52
    assert cleaned.endswith("word") and "  " not in cleaned
    assert clean_text("x" * 30, 10) == "x" * 10  # one long word: a hard cut


def test_text_input_kind_and_document():
    assert text_input_kind("", "") is None
    assert text_input_kind("a", "") == "title"
    assert text_input_kind("", "b") == "description"
    assert text_input_kind("a", "b") == "title+description"
    assert listing_text("Title", "") == "Title"
    assert listing_text("Title", "Desc") == "Title\nDesc"


def test_word_ngrams_like_scikit_learn():
    grams = word_ngrams("the red cat, a cat", (1, 2), DEFAULT_TOKEN_PATTERN)
    # one-letter tokens are not tokens; bigrams join the kept tokens
    assert grams == ["the", "red", "cat", "cat", "the red", "red cat", "cat cat"]
    assert word_ngrams("one two", (2, 2), DEFAULT_TOKEN_PATTERN) == ["one two"]
    assert word_ngrams("one", (1, 3), DEFAULT_TOKEN_PATTERN) == ["one"]


def test_char_wb_ngrams_like_scikit_learn():
    assert char_wb_ngrams("ab  cd", (2, 3)) == [
        " a", "ab", "b ", " ab", "ab ",
        " c", "cd", "d ", " cd", "cd ",
    ]  # fmt: skip
    # a word shorter than n is counted once, padded
    assert char_wb_ngrams("a", (3, 5)) == [" a "]


def _tiny_model() -> dict:
    return {
        "format": "flipkart-text-linear",
        "format_version": 1,
        "classes": ["A", "B"],
        "blocks": [
            {
                "analyzer": "word",
                "ngram_range": [1, 1],
                "lowercase": True,
                "sublinear_tf": True,
                "token_pattern": DEFAULT_TOKEN_PATTERN,
                "norm": "l2",
                "terms": ["watch", "towel"],
                "idf": [2.0, 1.0],
            }
        ],
        "coef": [[3.0, -1.0], [-2.0, 4.0]],
        "intercept": [0.5, -0.5],
    }


def test_text_model_scores_by_hand():
    model = TextModel.from_dict(_tiny_model())
    logits = model.logits(["Watch watch TOWEL zzz", "nothing known", ""])
    # counts watch 2, towel 1 -> sublinear tf 1+ln 2, 1 -> times idf -> l2 normalised
    w, t = (1 + math.log(2)) * 2.0, 1.0
    norm = math.hypot(w, t)
    x = np.array([w / norm, t / norm])
    expected = np.array([[3 * x[0] - x[1] + 0.5, -2 * x[0] + 4 * x[1] - 0.5]])
    np.testing.assert_allclose(logits[:1], expected, rtol=1e-12)
    np.testing.assert_allclose(logits[1:], [[0.5, -0.5], [0.5, -0.5]])  # intercept only
    assert model.logits([]).shape == (0, 2)


def test_text_model_round_trips_through_json():
    model = TextModel.from_dict(_tiny_model())
    again = TextModel.from_dict(json.loads(json.dumps(model.to_dict())))
    texts = ["watch", "towel towel", "a watch and a towel"]
    np.testing.assert_allclose(again.logits(texts), model.logits(texts), rtol=1e-6)
    assert again.num_features == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "onnx"}, "format is 'onnx'"),
        ({"format_version": 2}, "format_version 2 is not supported"),
        ({"coef": [[1.0, 2.0]]}, "coef is"),
        ({"intercept": [0.0]}, "intercept has"),
        ({"coef": [[float("nan"), 0.0], [0.0, 0.0]]}, "NaN"),
        ({"blocks": []}, "no TF-IDF block"),
        ({"classes": None}, "not a flipkart-text-linear model"),
    ],
)
def test_text_model_refuses_a_bad_file(change, message):
    with pytest.raises(TextModelError, match=message):
        TextModel.from_dict({**_tiny_model(), **change})


@pytest.mark.parametrize(
    ("block_change", "message"),
    [
        ({"analyzer": "char"}, "unknown analyzer"),
        ({"norm": "l1"}, "norm 'l1'"),
        ({"ngram_range": [2, 1]}, "ngram_range"),
        ({"terms": ["watch", "watch"]}, "distinct"),
        ({"idf": [1.0]}, "idf has"),
        ({"token_pattern": "("}, "not a flipkart-text-linear model"),
    ],
)
def test_text_model_refuses_a_bad_block(block_change, message):
    data = _tiny_model()
    data["blocks"] = [{**data["blocks"][0], **block_change}]
    with pytest.raises(TextModelError, match=message):
        TextModel.from_dict(data)


def test_fusion_limits_and_normalisation():
    image = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    text_logits = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(fuse(image, text_logits, FusionWeights(1.0, 0.0)), image)
    text_only = fuse(image, text_logits, FusionWeights(0.0, 1.0))
    np.testing.assert_allclose(text_only, text_probabilities(text_logits, FusionWeights(0, 1)))
    both = fuse(image, text_logits, FusionWeights(1.0, 1.0))
    np.testing.assert_allclose(both.sum(axis=1), 1.0)
    # the product of the two, renormalised
    product = image * text_only
    np.testing.assert_allclose(both, product / product.sum(axis=1, keepdims=True))
    # a zero image probability does not make the fusion NaN
    certain = np.array([[1.0, 0.0, 0.0]])
    assert np.isfinite(fuse(certain, text_logits[:1], FusionWeights(1, 1))).all()
    hot = text_probabilities(np.array([[0.0, 2.0]]), FusionWeights(1, 1, text_temperature=2.0))
    np.testing.assert_allclose(hot, [[1 / (1 + math.e), math.e / (1 + math.e)]])
    # one text's logits (1-D, what the backend scores per request): the same probabilities
    one = text_probabilities(np.array([0.0, 2.0]), FusionWeights(1, 1, text_temperature=2.0))
    np.testing.assert_allclose(one, hot[0])


def test_fusion_takes_one_row_or_a_batch():
    image, logits = np.array([0.7, 0.2, 0.1]), np.array([0.0, 2.0, 0.0])
    w = FusionWeights(0.5, 1.5, text_temperature=0.8)
    np.testing.assert_allclose(fuse(image, logits, w), fuse(image[None], logits[None], w)[0])
    np.testing.assert_allclose(
        text_probabilities(logits, w), text_probabilities(logits[None], w)[0]
    )
    assert text_probabilities(logits, w).shape == (3,)


def _split() -> dict:
    n = len(CLASSES)
    return {
        "accuracy": 0.9,
        "macro_f1": 0.9,
        "num_images": 10,
        "confusion_matrix": [[1 if i == j else 0 for j in range(n)] for i in range(n)],
    }


def test_listing_card_validates_its_parts():
    card = {
        "listing_id": "20261201-070000_listing",
        "classes": CLASSES,
        "image": {"run_id": "20261201-035652_efficientnet_lite0_finetune", "sha256": "a" * 64},
        "text": {"run_id": "20261201-060000_text-tfidf-word-char", "sha256": "b" * 64},
        "fusion": {
            "num_products": 154,
            "weights": {"title": {"image": 0.5, "text": 1.0, "text_temperature": 1.2}},
        },
        "metrics": {"val": {"image": _split(), "fused:title": _split()}},
        "created_at": "2026-12-01T07:00:00Z",
    }
    assert ListingCard.model_validate(card).fusion.weights["title"].text == 1.0
    with pytest.raises(ValueError, match="not an image run id"):
        ListingCard.model_validate({**card, "image": {**card["image"], "run_id": "x"}})
    with pytest.raises(ValueError, match="not a text run id"):
        ListingCard.model_validate({**card, "text": {**card["text"], "run_id": "x_text"}})
    with pytest.raises(ValueError, match="weights"):
        ListingCard.model_validate(
            {**card, "fusion": {**card["fusion"], "weights": {"image": {"image": 1, "text": 1}}}}
        )


def test_text_card_requires_the_model_file_facts():
    with pytest.raises(ValueError, match="model"):
        TextCard.model_validate({"run_id": "20261201-060000_text-tfidf-word"})


def test_registry_names_a_listing_or_none():
    assert Registry().listing is None
    assert Registry(listing="20261201-070000_listing").listing == "20261201-070000_listing"
    with pytest.raises(ValueError, match="listing"):
        Registry(listing="../etc")
