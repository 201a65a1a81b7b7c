import pytest
from flipkart_contract.schema import ModelCard, Registry, describe_error
from pydantic import ValidationError


def test_validation_errors_become_one_short_line():
    with pytest.raises(ValidationError) as raised:
        Registry.model_validate({"production": "latest", "models": ["a", "a"], "extra": 1})
    line = describe_error(raised.value)
    assert "\n" not in line
    assert line.startswith("production: String should match pattern")
    assert "extra: Extra inputs are not permitted" in line


def test_more_than_three_errors_are_counted_not_listed():
    with pytest.raises(ValidationError) as raised:
        ModelCard.model_validate({})
    line = describe_error(raised.value)
    assert line.count(";") == 2 and line.endswith("more)")
    assert len(line) < 300  # the input is never repeated


def test_other_errors_are_their_message():
    assert describe_error(ValueError("x.json is not valid JSON")) == "x.json is not valid JSON"
