"""``GET /api/account``: who an API key belongs to, for other services (the stream worker) to authenticate
their callers with the same keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from producer.deps import UNAUTHORIZED, AccountDep, ServicesDep

router = APIRouter(prefix="/api/account", tags=["account"], responses={**UNAUTHORIZED})


class AccountOut(BaseModel):
    """The account an API key belongs to."""

    account_id: str
    name: str


_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown one; `detail` says which"}
}


@router.get("", summary="The account of the API key", responses=_UNAUTHORIZED)
async def read_account(account: AccountDep, services: ServicesDep) -> AccountOut:
    """Return the account whose key is in `Authorization: Bearer <key>`. The answer may be cached briefly."""
    found = await services.keys.get_account(account)
    if found is None:  # a key whose account is gone
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return AccountOut(account_id=found.account_id, name=found.name)
