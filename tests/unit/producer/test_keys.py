"""API keys: random, prefixed, stored as a hash."""

from producer.keys import KEY_PREFIX, hash_api_key, new_api_key


def test_new_keys_are_prefixed_and_distinct() -> None:
    first, second = new_api_key(), new_api_key()
    assert first.startswith(KEY_PREFIX)
    assert first != second
    assert len(first) > 40  # 256 random bits


def test_the_stored_form_is_a_stable_hash_that_is_not_the_key() -> None:
    key = new_api_key()
    assert hash_api_key(key) == hash_api_key(key)
    assert hash_api_key(key) != hash_api_key(new_api_key())
    assert key not in hash_api_key(key)
