"""Typed dependencies: the long-lived objects routes use, taken from the app's state."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer.links import LinkStore
from producer.metrics import ProducerMetrics
from producer.publisher import ClickPublisher
from producer.settings import ProducerSettings


@dataclass(frozen=True, slots=True)
class Services:
    """What the app's routes need, built once per app in ``create_app``."""

    settings: ProducerSettings
    store: LinkStore
    publisher: ClickPublisher
    metrics: ProducerMetrics


def get_services(request: Request) -> Services:
    """Return the app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False)


def require_admin(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Allow the request only with the configured admin bearer token."""
    token = services.settings.admin_token
    if token is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "link management is disabled: set CLICKPIPE_PRODUCER_ADMIN_TOKEN",
        )
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
