"""The error tree: every contract error is a SerializationError under the project root, never retriable."""

import pytest

from schemas import (
    ClickpipeError,
    InvalidRecordError,
    MalformedMessageError,
    SerializationError,
    UnknownSchemaError,
)

CONTRACT_ERRORS = [MalformedMessageError, UnknownSchemaError, InvalidRecordError]


@pytest.mark.parametrize("error", CONTRACT_ERRORS)
def test_contract_errors_are_serialization_errors_under_the_root(error):
    assert issubclass(error, SerializationError)
    assert issubclass(error, ClickpipeError)


@pytest.mark.parametrize("error", [SerializationError, *CONTRACT_ERRORS])
def test_serialization_errors_are_not_retriable(error):
    assert error("bad bytes").retriable is False


def test_contract_errors_are_distinct():
    for error in CONTRACT_ERRORS:
        others = [other for other in CONTRACT_ERRORS if other is not error]
        assert not any(issubclass(error, other) for other in others)


def test_root_is_a_plain_exception_not_retriable_by_default():
    assert issubclass(ClickpipeError, Exception)
    assert ClickpipeError.retriable is False
