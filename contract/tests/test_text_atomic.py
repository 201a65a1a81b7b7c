"""`write_text_atomic`: the text files the tools write (leaderboard CSV/Markdown, README)."""

import os

import pytest
from flipkart_contract.files import write_text_atomic


def test_text_is_replaced_whole_and_no_temp_file_is_left(tmp_path):
    target = tmp_path / "new" / "board.md"
    assert write_text_atomic(target, "old é\n") == target
    write_text_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert os.listdir(target.parent) == ["board.md"]


def test_a_failed_rename_keeps_the_old_text(tmp_path, monkeypatch):
    target = tmp_path / "board.csv"
    write_text_atomic(target, "a,b\n")

    def crash(src, dst):
        raise OSError("power cut during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        write_text_atomic(target, "half")
    assert target.read_text() == "a,b\n"
    assert os.listdir(tmp_path) == ["board.csv"]
