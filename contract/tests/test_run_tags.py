"""The run contract's TensorBoard tags: each tag once, per-epoch and final sets apart."""

from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS


def test_tags_are_unique_and_the_two_sets_do_not_overlap():
    tags = (*EPOCH_TAGS, *FINAL_TAGS)
    assert len(set(tags)) == len(tags)
    assert {"val/macro_f1", "lr"} <= set(EPOCH_TAGS)  # what checkpointing and schedules follow
    assert all(tag.startswith(("test/", "perf/")) for tag in FINAL_TAGS)
