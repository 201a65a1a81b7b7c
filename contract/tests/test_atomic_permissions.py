"""Atomic writes leave world-readable files (mkstemp alone would make them 0600), so a card or
metrics.json exported by one user can be served by another (a container, a service account)."""

import os
import stat

from flipkart_contract.files import write_json_atomic, write_text_atomic


def test_written_files_are_readable_by_everyone(tmp_path):
    for target in (
        write_json_atomic(tmp_path / "card.json", {"a": 1}),
        write_text_atomic(tmp_path / "board.md", "x\n"),
    ):
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
