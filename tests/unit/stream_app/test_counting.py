from stream_app.counting import UNKNOWN_COUNTRY, country_key, country_of, sum_by_country


def test_country_key_keeps_source_partitions_apart() -> None:
    assert country_key("DE", 0) != country_key("DE", 1)
    assert country_of(country_key("DE", 3)) == "DE"


def test_unknown_country_has_its_own_row() -> None:
    assert country_of(country_key(None, 2)) == UNKNOWN_COUNTRY


def test_sum_by_country_adds_partitions() -> None:
    rows = {
        country_key("DE", 0): 2,
        country_key("DE", 1): 3,
        country_key("FR", 1): 1,
        country_key(None, 0): 4,
    }
    assert sum_by_country(rows) == {"DE": 5, "FR": 1, UNKNOWN_COUNTRY: 4}
