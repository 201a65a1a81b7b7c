"""The TensorBoard tags both labs write, so their runs compare side by side.

Per epoch (step = the 1-based epoch) and once at the end of the run (step = the last epoch);
besides these, `test/classification_report` (text), `test/confusion_matrix` (image) and the
HParams plugin's records.
"""

EPOCH_TAGS = (
    "train/loss",
    "train/accuracy",
    "val/loss",
    "val/accuracy",
    "val/macro_f1",
    "lr",
    "perf/train_images_per_s",
    "perf/epoch_s",
)
FINAL_TAGS = ("test/accuracy", "test/macro_f1", "perf/test_ms_per_image")
