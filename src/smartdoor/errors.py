"""One error type for everything a client can cause; the API turns it into JSON."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, *, retry_after: int | None = None, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after
        self.extra = extra

    def payload(self) -> dict:
        body = {"status": "error", "error": self.error, "message": self.message, **self.extra}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
