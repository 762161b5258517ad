"""The link management API under ``/api/links``: each account sees and changes only its own links."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from producer.deps import UNAUTHORIZED, AccountDep, ServicesDep, invalid, json_body, read_json
from producer.errors import LinkExistsError
from producer.links import Link, new_id, new_slug
from producer.validation import check_country, check_destination, check_slug

router = APIRouter(prefix="/api/links", tags=["links"], responses={**UNAUTHORIZED})

Destination = Annotated[str, Field(description="An absolute http(s) URL.", examples=["https://example.com/"])]
CountryDestinations = Annotated[
    dict[str, str],
    Field(
        description="ISO 3166-1 alpha-2 country code (upper case) to destination URL.",
        examples=[{"DE": "https://example.de/"}],
        max_length=250,
    ),
]


def _checked_destinations(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    return {check_country(code): check_destination(url) for code, url in value.items()}


class LinkIn(BaseModel):
    """A link to create."""

    model_config = ConfigDict(extra="forbid")

    slug: str | None = Field(None, description="The path visitors follow (/{slug}); generated when absent.")
    default_destination: Destination
    country_destinations: CountryDestinations = Field(default_factory=dict)
    disabled: bool = Field(False, description="A disabled link answers 410 instead of redirecting.")
    # strict: an ISO 8601 string with an offset, as the document says, not a number read as epoch seconds
    expires_at: AwareDatetime | None = Field(
        None, strict=True, description="From this time on the link answers 410 (ISO 8601 with an offset)."
    )

    _slug = field_validator("slug")(lambda value: None if value is None else check_slug(value))
    _default = field_validator("default_destination")(check_destination)
    _countries = field_validator("country_destinations")(_checked_destinations)


class LinkPatch(BaseModel):
    """Changes to a link; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    slug: str | None = None
    default_destination: Destination | None = None
    country_destinations: CountryDestinations | None = None
    disabled: bool | None = None
    expires_at: AwareDatetime | None = Field(None, strict=True)

    _slug = field_validator("slug")(lambda value: None if value is None else check_slug(value))
    _default = field_validator("default_destination")(
        lambda value: None if value is None else check_destination(value)
    )
    _countries = field_validator("country_destinations")(_checked_destinations)


class LinkOut(BaseModel):
    """A stored link."""

    link_id: str
    slug: str
    default_destination: str
    country_destinations: dict[str, str]
    disabled: bool
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        """Return the API view of ``link``."""
        return cls(
            link_id=link.link_id,
            slug=link.slug,
            default_destination=link.default_destination,
            country_destinations=dict(link.country_destinations),
            disabled=link.disabled,
            expires_at=link.expires_at,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


class LinkPage(BaseModel):
    """One page of links; pass ``next_cursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[LinkOut]
    next_cursor: str | None


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such link in this account"}}
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "The slug is taken"}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a link",
    responses=_CONFLICT,
    openapi_extra=json_body(LinkIn),
)
async def create_link(account: AccountDep, services: ServicesDep, request: Request) -> LinkOut:
    """Create a link; a slug is generated when none is given."""
    body = await read_json(request, LinkIn)  # once the key is known good
    now = datetime.now(UTC)
    for _ in range(5):
        link = Link(
            link_id=new_id(),
            account_id=account,
            slug=body.slug or new_slug(),
            default_destination=body.default_destination,
            country_destinations=MappingProxyType(dict(body.country_destinations)),
            created_at=now,
            updated_at=now,
            disabled=body.disabled,
            expires_at=body.expires_at,
        )
        try:
            await services.links.create(link)
        except LinkExistsError as exc:
            if body.slug is not None:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
            continue  # a generated slug collided: draw another
        await services.cache.refresh(link.slug)
        return LinkOut.of(link)
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not generate a free slug; try again")


@router.get("", summary="List links")
async def list_links(
    account: AccountDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Links per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page.")
    ] = None,
) -> LinkPage:
    """Return the account's links, oldest first, a page at a time."""
    links = await services.links.list(account, limit=limit + 1, after=cursor)
    more = len(links) > limit
    links = links[:limit]
    return LinkPage(
        items=[LinkOut.of(link) for link in links], next_cursor=links[-1].link_id if more else None
    )


@router.get("/{link_id}", summary="Read a link", responses=_NOT_FOUND)
async def read_link(link_id: str, account: AccountDep, services: ServicesDep) -> LinkOut:
    """Return one of the account's links."""
    return LinkOut.of(await _own_link(services, account, link_id))


@router.patch(
    "/{link_id}",
    summary="Change a link",
    responses={**_NOT_FOUND, **_CONFLICT},
    openapi_extra=json_body(LinkPatch),
)
async def update_link(link_id: str, account: AccountDep, services: ServicesDep, request: Request) -> LinkOut:
    """Change the given fields of one of the account's links; the next click sees the change."""
    body = await read_json(request, LinkPatch)  # once the key is known good
    link = await _own_link(services, account, link_id)
    changes = body.model_dump(exclude_unset=True)
    if "country_destinations" in changes:
        changes["country_destinations"] = MappingProxyType(dict(changes["country_destinations"] or {}))
    for required in ("slug", "default_destination", "disabled"):
        if required in changes and changes[required] is None:
            raise invalid(required, f"{required} cannot be null")
    updated = link.changed(datetime.now(UTC), **changes)
    try:
        await services.links.update(updated)
    except LinkExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await services.cache.refresh(link.slug, updated.slug)
    return LinkOut.of(updated)


@router.delete(
    "/{link_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a link", responses=_NOT_FOUND
)
async def delete_link(link_id: str, account: AccountDep, services: ServicesDep) -> Response:
    """Delete one of the account's links; its slug answers 404 from the next click on."""
    link = await services.links.delete(account, link_id)
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no link {link_id!r} in this account")
    await services.cache.refresh(link.slug)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _own_link(services: ServicesDep, account: str, link_id: str) -> Link:
    link = await services.links.get(account, link_id)
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no link {link_id!r} in this account")
    return link
