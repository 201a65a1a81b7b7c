"""The console script: clear errors for bad input, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from flipkart_torch.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def test_unknown_model_lists_valid_names(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = run(["train", "--model", "efficientnet_litte0"], capsys)
    assert code == 2 and "unknown model" in err and "efficientnet_lite0" in err


def test_missing_data_says_make_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--model", "test_efficientnet", "--splits-csv", str(tmp_path / "splits.csv")]
    code, err = run(argv, capsys)
    assert code == 2 and "make data" in err
