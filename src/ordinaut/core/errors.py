"""One error hierarchy: each error has a stable code, an HTTP status and a user-fit message.

The API maps these to problem+json in one place; foreign exceptions are translated where they
enter (store, tool transports), never deep inside logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of the input; `loc` is a path such as ("body", "timezone")."""

    loc: Loc
    msg: str

    def as_dict(self) -> dict[str, object]:
        return {"loc": list(self.loc), "msg": self.msg}


@dataclass
class OrdinautError(Exception):
    """Base of every domain error."""

    message: str
    code: str = "error"
    status: int = 500
    title: str = "Internal error"
    errors: Sequence[FieldError] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InvalidInput(OrdinautError):
    """Input that can never succeed as given (422), with one `FieldError` per problem."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message, "invalid_input", 422, "Validation failed", tuple(errors))

    @classmethod
    def at(cls, loc: Loc, msg: str) -> InvalidInput:
        return cls(msg, (FieldError(loc, msg),))


class ScheduleError(InvalidInput):
    """A schedule expression or time zone that cannot be evaluated; message says what and where."""

    def __init__(self, message: str, field_name: str = "schedule_expr") -> None:
        super().__init__(message, (FieldError(("body", field_name), message),))
        self.code = "invalid_schedule"
        self.field_name = field_name


class NotFound(OrdinautError):
    def __init__(self, message: str = "Not found") -> None:
        super().__init__(message, "not_found", 404, "Not found")


class Conflict(OrdinautError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "conflict", 409, "Conflict")


class Unauthorized(OrdinautError):
    def __init__(self, message: str = "Missing or invalid credentials") -> None:
        super().__init__(message, "unauthorized", 401, "Unauthorized")


class Forbidden(OrdinautError):
    def __init__(self, message: str = "Not allowed") -> None:
        super().__init__(message, "forbidden", 403, "Forbidden")


class ConfigurationError(OrdinautError):
    """Settings or environment that stop a process from starting (a bad DATABASE_URL...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "configuration", 500, "Configuration error")


class StoreUnavailable(OrdinautError):
    """The database cannot be reached; callers may retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "store_unavailable", 503, "Service unavailable")
