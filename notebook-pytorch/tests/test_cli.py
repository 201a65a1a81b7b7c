"""The console script: clear errors for bad input, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from flipkart_torch.cli import build_parser, main, train_config


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def test_unknown_architecture_lists_valid_names(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, err = run(["train", "--architecture", "efficientnet_litte0"], capsys)
    assert code == 2 and "unknown architecture" in err and "efficientnet_lite0" in err


def test_old_flag_spellings_are_aliases() -> None:
    new = ["--architecture", "m", "--training-mode", "freeze", "--resize-method", "crop"]
    old = ["--model", "m", "--mode", "freeze", "--resize-mode", "crop"]
    configs = [train_config(build_parser().parse_args(["train", *argv])) for argv in (new, old)]
    assert configs[0] == configs[1]
    assert (configs[0].architecture, configs[0].training_mode) == ("m", "freeze")
    assert configs[0].resize_method == "crop"


def test_drop_mode_option(capsys: pytest.CaptureFixture) -> None:
    parse = build_parser().parse_args
    assert train_config(parse(["train", "--architecture", "m"])).drop_mode == "head"
    argv = ["train", "--architecture", "mambavision_t", "--drop-mode", "nvidia"]
    assert train_config(parse(argv)).drop_mode == "nvidia"
    argv = ["train", "--architecture", "test_efficientnet", "--drop-mode", "nvidia"]
    code, err = run(argv, capsys)
    assert code == 2 and "MambaVision's" in err


def test_a_bad_run_id_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--architecture", "test_efficientnet", "--run-id", "my run"]
    code, err = run(argv, capsys)
    assert code == 2 and "not a run id" in err


def test_missing_data_says_make_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    splits = str(tmp_path / "splits.csv")
    argv = ["train", "--architecture", "test_efficientnet", "--splits-csv", splits]
    code, err = run(argv, capsys)
    assert code == 2 and "make data" in err
