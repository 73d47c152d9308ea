"""Routes: agents (admin) and the JWT flow (token, refresh, revoke).

The three `/agents/auth/*` routes take no bearer credential: the body carries what proves the
caller (an agent secret, a refresh token, or the token being revoked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ordinaut.api import tokens
from ordinaut.api.auth import Authenticator, require
from ordinaut.api.schemas import MAX_OFFSET, Output, Page
from ordinaut.core.errors import Unauthorized
from ordinaut.core.models import Agent
from ordinaut.services import agents
from ordinaut.services.context import ServiceContext
from ordinaut.services.secrets import key_id_of

router = APIRouter(tags=["agents"])

Admin = Annotated[Agent, Depends(require("admin"))]
AgentId = Annotated[UUID, "the agent's id"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.@:-]*$")]
Scopes = Annotated[list[str], Field(max_length=64)]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the name is taken, or the change would break a rule"}
}


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    scopes: Scopes = Field(default_factory=list)


class AgentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    scopes: Scopes | None = None
    active: bool | None = None


class AgentOut(Output):
    id: str
    name: str
    scopes: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class AgentWithSecret(AgentOut):
    agent_secret: str = Field(description="shown only in this response; store it now")


class AgentPage(Page[AgentOut]):
    pass


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100)
    agent_secret: str = Field(min_length=1, max_length=500)
    scope: str | None = Field(
        None, max_length=2000, description="space-separated subset of the agent's scopes"
    )


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=8000)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=8000)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    scope: str


class RevokeOut(BaseModel):
    revoked: bool
    token_type: str | None = None
    session_revoked: bool = False
    detail: str | None = None


def _context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _with_secret(issued: agents.IssuedAgent) -> AgentWithSecret:
    out = AgentOut.model_validate(issued.agent)
    return AgentWithSecret(**out.model_dump(), agent_secret=issued.secret)


@router.post("/agents/auth/token", response_model=TokenOut, summary="Exchange a secret for JWTs")
async def token(request: Request, body: TokenIn) -> TokenOut:
    """An access token (short-lived) and a refresh token; wrong id or secret is 401."""
    authenticator = _authenticator(request)
    try:
        agent = await authenticator.agent_for_secret(body.agent_secret)
    except Unauthorized:
        agent = None
    if agent is None or agent.id != body.agent_id:
        raise Unauthorized("invalid agent_id or agent_secret")
    authenticator.throttle(agent.id)
    key_id = key_id_of(body.agent_secret) or ""
    pair = await tokens.issue_tokens(
        _context(request), agent, key_id, body.scope, _request_id(request)
    )
    return TokenOut(**pair.as_response())


@router.post("/agents/auth/refresh", response_model=TokenOut, summary="Rotate a refresh token")
async def refresh(request: Request, body: RefreshIn) -> TokenOut:
    """A new pair; the refresh token sent is spent. Sending a spent one ends its session."""
    pair = await tokens.refresh_tokens(_context(request), body.refresh_token, _request_id(request))
    return TokenOut(**pair.as_response())


@router.post("/agents/auth/revoke", response_model=RevokeOut, summary="Revoke a token")
async def revoke(request: Request, body: RevokeIn) -> RevokeOut:
    """Honoured by every API process. Revoking a refresh token also ends its access tokens."""
    return RevokeOut(
        **await tokens.revoke_token(_context(request), body.token, _request_id(request))
    )


@router.post(
    "/agents",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentWithSecret,
    responses=CONFLICT,
    summary="Create an agent",
)
async def create_agent(request: Request, admin: Admin, body: AgentIn) -> AgentWithSecret:
    """The response holds the agent's secret; it is stored hashed and never shown again."""
    issued = await agents.register_agent(
        _context(request),
        admin,
        name=body.name,
        scopes=body.scopes,
        request_id=_request_id(request),
    )
    return _with_secret(issued)


@router.get("/agents", response_model=AgentPage, summary="List agents")
async def list_agents(
    request: Request,
    _admin: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AgentPage:
    items, total = await agents.list_agents(_context(request), limit=limit, offset=offset)
    return AgentPage.of([AgentOut.model_validate(a) for a in items], total, limit, offset)


@router.get("/agents/{agent_id}", response_model=AgentOut, summary="Read an agent")
async def get_agent(request: Request, _admin: Admin, agent_id: AgentId) -> AgentOut:
    return AgentOut.model_validate(await agents.get_agent(_context(request), str(agent_id)))


@router.put("/agents/{agent_id}", response_model=AgentOut, responses=CONFLICT, summary="Change")
async def update_agent(
    request: Request, admin: Admin, agent_id: AgentId, body: AgentPatch
) -> AgentOut:
    """Rename, change scopes (live tokens lose dropped scopes at once) or (de)activate."""
    changes = agents.AgentChanges(body.name, body.scopes, body.active)
    agent = await agents.update_agent(
        _context(request), admin, str(agent_id), changes, _request_id(request)
    )
    if not agent.active:
        _authenticator(request).forget(agent.id)
    return AgentOut.model_validate(agent)


@router.delete(
    "/agents/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CONFLICT,
    summary="Delete an agent",
)
async def delete_agent(request: Request, admin: Admin, agent_id: AgentId) -> Response:
    """Not yourself, not the last admin, not an agent that still owns tasks (409)."""
    await agents.delete_agent(_context(request), admin, str(agent_id), _request_id(request))
    _authenticator(request).forget(str(agent_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/agents/{agent_id}/credentials",
    response_model=AgentWithSecret,
    summary="Rotate an agent's secret",
)
async def rotate_credentials(request: Request, admin: Admin, agent_id: AgentId) -> AgentWithSecret:
    """A new secret, shown once. The old secret and the JWTs minted from it stop working."""
    issued = await agents.rotate_secret(
        _context(request), admin, str(agent_id), _request_id(request)
    )
    _authenticator(request).forget(issued.agent.id)
    return _with_secret(issued)
