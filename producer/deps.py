"""Typed dependencies: the long-lived objects routes use, and the caller's account from its API key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from producer.geo import IPNetwork
from producer.links import KeyStore, LinkStore, LinkView
from producer.metrics import ProducerMetrics
from producer.publisher import ClickPublisher
from producer.settings import ProducerSettings
from producer.visitors import VisitorKeys


@dataclass(frozen=True, slots=True)
class Services:
    """What the app's routes need, built once per app in ``create_app``."""

    settings: ProducerSettings
    links: LinkStore
    keys: KeyStore
    cache: LinkView  # links by slug for the redirect: the TTL cache, or the notified view
    publisher: ClickPublisher
    metrics: ProducerMetrics
    trusted_proxies: tuple[IPNetwork, ...]
    clock: Callable[[], datetime]  # the time now, aware (UTC)
    visitors: VisitorKeys


def get_services(request: Request) -> Services:
    """Return the app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An API key made with `clickpipe keys create`.")


async def current_account(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Return the id of the account whose API key the request carries; 401 otherwise."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    account_id = await services.keys.account_for_key(credentials.credentials)
    if account_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return account_id


AccountDep = Annotated[str, Depends(current_account)]


Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, model: type[Model]) -> Model:
    """Read and validate the JSON body as ``model``; 422 as FastAPI gives. Routes call this after their
    dependencies (the API key) are resolved: FastAPI itself parses a declared body before them, so an
    unauthenticated caller could make the service parse any body it likes."""
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"]), "input": _shown(error.get("input"))}
            for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from exc


def invalid(field: str, message: str, value: object = None) -> RequestValidationError:
    """A 422 for one body field, in the shape FastAPI gives every other (``HTTPValidationError``)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


MAX_SHOWN = 256
"""Characters of a refused body an error shows back."""


def _shown(value: object) -> object:
    """What an error may show of the input: raw bytes (a body that is not JSON, perhaps not UTF-8) as text,
    cut to ``MAX_SHOWN`` characters (FastAPI's encoder decodes bytes as UTF-8 and fails with a 500)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value[:MAX_SHOWN]).decode("utf-8", "replace")
    return value


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a route's JSON body read with ``read_json``, and its 422."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        },
        "responses": {
            "422": {
                "description": "The body is not JSON or not valid (each error names its field)",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
                },
            }
        },
    }


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"}
}
"""The answer every route behind an API key may give (``responses=`` of their routers)."""
