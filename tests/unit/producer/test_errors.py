"""The producer's error tree: every error under ProducerError and the project root; retriable ones say so."""

import pytest

from producer.errors import LinkExistsError, ProducerError, PublishError, SpoolError, StoreError
from schemas.errors import ClickpipeError


@pytest.mark.parametrize("error", [LinkExistsError, StoreError, SpoolError, PublishError])
def test_every_producer_error_is_under_the_root(error: type[ProducerError]) -> None:
    assert issubclass(error, ProducerError)
    assert issubclass(error, ClickpipeError)


def test_retriable_errors_say_so() -> None:
    assert StoreError.retriable and PublishError.retriable
    assert not LinkExistsError.retriable


def test_a_taken_slug_carries_the_slug() -> None:
    error = LinkExistsError("promo")
    assert error.slug == "promo"
    assert "promo" in str(error)
