"""The link management API (``/api/links``), behind the admin bearer token."""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AnyUrl, BaseModel, Field, UrlConstraints, field_validator

from producer.deps import ServicesDep, require_admin
from producer.errors import LinkExistsError
from producer.links import Link
from producer.routes import SLUG_PATTERN

router = APIRouter(prefix="/api/links", tags=["links"], dependencies=[Depends(require_admin)])

HttpUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https"], max_length=2048)]


class LinkIn(BaseModel):
    """A link to create."""

    slug: str = Field(pattern=SLUG_PATTERN, description="The path visitors follow: /{slug}.")
    account_id: str = Field(min_length=1, max_length=64)
    default_destination: HttpUrl = Field(description="Where visitors go unless their country has its own.")
    country_destinations: dict[str, HttpUrl] = Field(
        default_factory=dict, description="ISO 3166-1 alpha-2 country code to destination.", max_length=250
    )

    @field_validator("country_destinations")
    @classmethod
    def _country_codes(cls, value: dict[str, AnyUrl]) -> dict[str, AnyUrl]:
        bad = [code for code in value if len(code) != 2 or not code.isascii() or not code.isupper()]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(sorted(bad))}")
        return value


class LinkOut(BaseModel):
    """A stored link."""

    link_id: str
    account_id: str
    slug: str
    default_destination: str
    country_destinations: dict[str, str]

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        """Return the API view of ``link``."""
        return cls(
            link_id=link.link_id,
            account_id=link.account_id,
            slug=link.slug,
            default_destination=link.default_destination,
            country_destinations=dict(link.country_destinations),
        )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a link")
async def create_link(body: LinkIn, services: ServicesDep) -> LinkOut:
    """Create a link; 409 when the slug is taken."""
    link = Link(
        link_id=uuid.uuid4().hex,
        account_id=body.account_id,
        slug=body.slug,
        default_destination=str(body.default_destination),
        country_destinations=MappingProxyType(
            {code: str(url) for code, url in body.country_destinations.items()}
        ),
    )
    try:
        await services.store.create(link)
    except LinkExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return LinkOut.of(link)


@router.get("/{slug}", summary="Read a link")
async def read_link(slug: str, services: ServicesDep) -> LinkOut:
    """Return the link with this slug; 404 when there is none."""
    link = await services.store.get_by_slug(slug)
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no link with slug {slug!r}")
    return LinkOut.of(link)
