"""Operations errors carry what went wrong as data, and sit under the project's root."""

from pathlib import Path

import httpx
import pytest

from clickpipe.accounts import create_key
from clickpipe.errors import LoadgenError, OperationsError, PortInUseError, UnknownAccountError
from clickpipe.loadgen import LoadOptions, prepare_links, run_load
from producer.settings import ProducerSettings
from schemas.errors import ClickpipeError


def test_unknown_account_names_the_account(tmp_path: Path) -> None:
    with pytest.raises(UnknownAccountError) as caught:
        create_key(ProducerSettings(data_dir=tmp_path), "nobody")
    assert caught.value.account_id == "nobody"
    assert caught.value.database == str(tmp_path / "links.db")
    assert isinstance(caught.value, ClickpipeError)


async def test_loadgen_refused_link_carries_the_status() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json={"detail": "bad key"}))
    options = LoadOptions(url="http://service", api_key="cpk_wrong", links=1)
    async with httpx.AsyncClient(base_url=options.url, transport=transport) as client:
        with pytest.raises(LoadgenError) as caught:
            await prepare_links(client, options)
    assert (caught.value.url, caught.value.status) == ("http://service", 401)


async def test_loadgen_without_a_service_has_no_status() -> None:
    options = LoadOptions(url="http://127.0.0.1:1", api_key="cpk_any", links=1, requests=1)
    with pytest.raises(LoadgenError) as caught:
        await run_load(options, progress=None)
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_port_in_use_says_which_port() -> None:
    error = PortInUseError("worker", "127.0.0.1", 6066)
    assert (error.what, error.host, error.port, error.retriable) == ("worker", "127.0.0.1", 6066, True)
    assert isinstance(error, OperationsError)
