"""HTTP tools: the built-in `http.request` and the endpoints a catalog declares.

Both go through `HttpSender`, which applies the egress policy to every request (redirects
included) and turns httpx failures into step errors: transport errors, timeouts, 5xx, 408 and
429 are retryable; other 4xx are not.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from ordinaut.pipeline.egress import EgressPolicy
from ordinaut.pipeline.registry import Tool, ToolCallContext, ToolError

MAX_TEXT_CHARS = 1_000_000
RETRYABLE_STATUSES = frozenset({408, 425, 429})
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
BODYLESS_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
_SCALAR = {"type": ["string", "number", "boolean"]}


@dataclass
class HttpSender:
    """Sends requests under the egress policy; one TLS context is shared by every client."""

    policy: EgressPolicy
    _tls: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def tls_context(self) -> ssl.SSLContext:
        """Built on first use: loading the CA bundle costs tens of milliseconds."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    async def send(
        self, method: str, url: str, *, timeout: float, follow_redirects: bool = False, **kw: Any
    ) -> httpx.Response:

        async def check(request: httpx.Request) -> None:
            await self.policy.check(request.url.host, request.url.port)

        try:
            async with httpx.AsyncClient(
                verify=self.tls_context(),
                timeout=timeout,
                follow_redirects=follow_redirects,
                event_hooks={"request": [check]},
            ) as client:
                return await client.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            raise ToolError(f"{method} {url} timed out: {exc!r}", retryable=True) from exc
        except httpx.InvalidURL as exc:
            raise ToolError(f"invalid URL {url!r}: {exc}", retryable=False) from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"{method} {url} failed: {exc!r}", retryable=True) from exc


def status_error(response: httpx.Response) -> ToolError:
    status = response.status_code
    excerpt = response.text[:300]
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    return ToolError(f"HTTP {status} from {response.request.url}: {excerpt}", retryable=retryable)


def _is_json(response: httpx.Response) -> bool:
    kind = str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def decoded_body(response: httpx.Response) -> tuple[str, Any]:
    """("json", value) when the body is JSON, else ("text", the text, cut at 1,000,000 chars)."""
    if _is_json(response) and response.content:
        try:
            return "json", json.loads(response.content)
        except ValueError:
            pass
    return "text", response.text[:MAX_TEXT_CHARS]


# --- http.request -----------------------------------------------------------------------------

HTTP_REQUEST_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"enum": METHODS, "default": "GET"},
        "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {
            "type": "object",
            "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
        },
        "json": {},
        "body": {"type": "string"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        "follow_redirects": {"type": "boolean", "default": False},
        "raise_for_status": {"type": "boolean", "default": True},
    },
    "required": ["url"],
    "additionalProperties": False,
    "not": {"required": ["json", "body"]},
}
HTTP_REQUEST_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "json": {},
        "text": {"type": "string"},
    },
    "required": ["status", "headers"],
}


def http_request_tool(sender: HttpSender) -> Tool:
    async def http_request(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
        method = args.get("method", "GET")
        extra: dict[str, Any] = {"headers": args.get("headers"), "params": args.get("query")}
        if "json" in args:
            extra["json"] = args["json"]
        elif "body" in args:
            extra["content"] = args["body"].encode()
        response = await sender.send(
            method,
            args["url"],
            timeout=min(args.get("timeout", ctx.timeout_seconds), ctx.timeout_seconds),
            follow_redirects=args.get("follow_redirects", False),
            **extra,
        )
        if response.status_code >= 400 and args.get("raise_for_status", True):
            raise status_error(response)
        kind, body = decoded_body(response)
        return {"status": response.status_code, "headers": dict(response.headers), kind: body}

    return Tool(
        "http.request",
        "Send an HTTP request (method, url, headers, query, json or body); returns status, "
        "headers and json or text. A status >= 400 fails the step unless raise_for_status is "
        "false. Hosts are limited by the egress policy.",
        HTTP_REQUEST_INPUT,
        HTTP_REQUEST_OUTPUT,
        30.0,
        (),
        "builtin",
        http_request,
    )


# --- catalog HTTP endpoints -------------------------------------------------------------------


@dataclass(frozen=True)
class HttpEndpoint:
    """A catalog tool: `{name}` placeholders in the URL take arguments of that name; the other
    arguments go in the query string (GET, DELETE, HEAD, OPTIONS) or as a JSON body."""

    sender: HttpSender
    method: str
    url: str
    headers: dict[str, str]

    async def __call__(self, args: dict[str, Any], ctx: ToolCallContext) -> Any:
        url, rest = self._fill_url(args)
        extra: dict[str, Any] = {"headers": self.headers}
        if self.method in BODYLESS_METHODS:
            extra["params"] = {key: _query_value(value) for key, value in rest.items()}
        else:
            extra["json"] = rest
        response = await self.sender.send(self.method, url, timeout=ctx.timeout_seconds, **extra)
        if response.status_code >= 400:
            raise status_error(response)
        kind, body = decoded_body(response)
        return body if kind == "json" else {"text": body}

    def _fill_url(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url, rest = self.url, dict(args)
        for key, value in args.items():
            marker = "{" + key + "}"
            if marker in url:
                url = url.replace(marker, quote(str(value), safe=""))
                rest.pop(key)
        return url, rest


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list) and not (
        isinstance(value, list) and all(isinstance(item, str | int | float) for item in value)
    ):
        return json.dumps(value, separators=(",", ":"))
    return value
