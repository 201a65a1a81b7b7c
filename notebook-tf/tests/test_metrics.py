"""The lab's split summary (the contract's figures plus Keras' loss) and the validation
callback against scikit-learn; the classification report; the LR schedule."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from flipkart_tf.callbacks import MacroF1Callback
from flipkart_tf.metrics import classification_summary, report_markdown, softmax_cross_entropy
from flipkart_tf.schedule import WarmupCosine
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

# a fixed prediction set: class 3 is never predicted, class 4 is never true
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 5, 5, 6, 6, 6])
Y_PRED = np.array([0, 1, 0, 1, 1, 2, 0, 2, 4, 2, 1, 5, 6, 6, 6, 4])


def test_summary_matches_sklearn_and_keras() -> None:
    logits = np.eye(7)[Y_PRED] * 3.0
    classes = [f"c{i}" for i in range(7)]
    summary = classification_summary(logits, Y_TRUE, classes, label_smoothing=0.1)
    precision, recall, f1, support = precision_recall_fscore_support(
        Y_TRUE, Y_PRED, labels=range(7), zero_division=0
    )
    assert summary.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert summary.macro_f1 == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"), abs=1e-12)
    assert summary.confusion_matrix == confusion_matrix(Y_TRUE, Y_PRED, labels=range(7)).tolist()
    assert summary.num_images == len(Y_TRUE)
    assert list(summary.per_class) == classes
    for i, name in enumerate(classes):
        scores = summary.per_class[name]
        assert scores.precision == pytest.approx(precision[i])
        assert scores.recall == pytest.approx(recall[i])
        assert scores.f1 == pytest.approx(f1[i])
        assert scores.support == support[i]
    assert summary.loss == pytest.approx(softmax_cross_entropy(logits, Y_TRUE, 0.1))


def test_report_is_a_markdown_code_block_of_every_class() -> None:
    classes = [f"class {i}" for i in range(7)]
    summary = classification_summary(np.eye(7)[Y_PRED], Y_TRUE, classes)
    report = report_markdown(summary, classes)
    assert report.startswith("```\n") and report.endswith("\n```")
    assert all(name in report for name in classes)
    assert f"{summary.macro_f1:.3f}" in report.splitlines()[-2]  # the macro avg row


def test_cross_entropy_matches_keras() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 7))
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    expected = float(loss(np.eye(7)[Y_TRUE], logits))
    assert softmax_cross_entropy(logits, Y_TRUE, 0.1) == pytest.approx(expected, rel=1e-5)


def linear_model(weights: np.ndarray) -> keras.Model:
    inputs = keras.Input((weights.shape[0],))
    outputs = keras.layers.Dense(weights.shape[1], use_bias=False)(inputs)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([weights])
    return model


def test_callback_macro_f1_matches_sklearn_and_drives_checkpointing(tmp_path) -> None:
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(5, 7)).astype(np.float32)
    features = rng.normal(size=(40, 5)).astype(np.float32)
    labels = rng.integers(0, 7, 40)
    model = linear_model(weights)
    model.compile(
        optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    val = tf.data.Dataset.from_tensor_slices((features, np.eye(7)[labels])).batch(16)
    callback = MacroF1Callback(val, [f"c{i}" for i in range(7)], label_smoothing=0.0)
    best = tmp_path / "best.weights.h5"
    model.fit(
        val,
        epochs=1,
        verbose=0,
        callbacks=[
            callback,
            keras.callbacks.ModelCheckpoint(
                str(best),
                monitor="val_macro_f1",
                mode="max",
                save_best_only=True,
                save_weights_only=True,
            ),
        ],
    )
    predictions = (features @ weights).argmax(axis=1)  # lr 0: the weights did not move
    logged = callback.history[0]
    assert logged["val_macro_f1"] == pytest.approx(f1_score(labels, predictions, average="macro"))
    assert logged["val_accuracy"] == pytest.approx(accuracy_score(labels, predictions))
    assert best.is_file()  # the checkpoint callback found val_macro_f1 in the logs


def test_warmup_then_cosine() -> None:
    schedule = WarmupCosine(peak_lr=1.0, total_steps=110, warmup_steps=10, min_lr=0.0)
    values = [float(schedule(step)) for step in (0, 4, 9, 10, 60, 110, 500)]
    assert values[0] == pytest.approx(0.1) and values[1] == pytest.approx(0.5)
    assert values[2] == pytest.approx(1.0) and values[3] == pytest.approx(1.0)
    assert values[4] == pytest.approx(0.5, abs=1e-6)
    assert values[5] == pytest.approx(0.0, abs=1e-6) and values[6] == pytest.approx(0.0, abs=1e-6)
    restored = WarmupCosine.from_config(schedule.get_config())
    assert float(restored(60)) == pytest.approx(values[4])
