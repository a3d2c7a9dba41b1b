"""All of workprint's expected errors, in one place.

Hierarchy::

    WorkprintError                 every expected failure; the CLI prints ``str(err)`` on one line, exits 1
    ├── ConfigError                a setting or argument is invalid (names the field and the value)
    ├── SchemaError                a record or header does not match the event model
    ├── SegmentError               a segment is malformed, truncated or fails its checks
    │   └── QuarantineError        a segment holds more than its header declares
    ├── CaptureError               the display cannot be recorded (no DISPLAY, no RECORD extension)
    ├── SpoolError                 the on-device spool cannot be written (disk full, unwritable)
    │   └── SpoolFull              the spool reached its size cap; capture stops until uploads make room
    ├── TransportError             the collection server cannot be reached or refused a segment
    ├── ConsentError               a consent, notice or receipt problem
    ├── RedactionError             redaction failed; callers drop the data (fail closed)
    ├── AuditMismatch              a server's audit log does not extend the checkpoint held outside it
    └── HTTPError                  an error that reaches HTTP; carries ``status``
        ├── BadRequest (400), Unauthorized (401), Forbidden (403), NotFound (404), Conflict (409), Gone (410),
        ├── PayloadTooLarge (413), Unprocessable (422), TooManyRequests (429), InsufficientStorage (507)
        └── AuditUnavailable (503)  the audit entry could not be written, so the request is refused
"""

from __future__ import annotations


class WorkprintError(Exception):
    """Base class of every expected workprint error."""


class ConfigError(WorkprintError):
    """A setting or argument is invalid."""


class SchemaError(WorkprintError):
    """A record or header does not match the event model."""


class SegmentError(WorkprintError):
    """A segment is malformed, truncated or fails its integrity checks."""


class QuarantineError(SegmentError):
    """A segment's events exceed what its header declares; it must never be used."""


class CaptureError(WorkprintError):
    """The display cannot be recorded."""


class SpoolError(WorkprintError):
    """The on-device spool cannot be written."""


class SpoolFull(SpoolError):
    """The spool holds its configured maximum; nothing more is accepted until uploads make room."""


class TransportError(WorkprintError):
    """The collection server cannot be reached or refused a segment."""


class ConsentError(WorkprintError):
    """A consent, notice or receipt problem."""


class RedactionError(WorkprintError):
    """Redaction failed; the caller must drop the data."""


class AuditMismatch(WorkprintError):
    """The server's audit log was rolled back, forked, re-signed or rewritten since a witnessed checkpoint."""


class HTTPError(WorkprintError):
    """An error that reaches HTTP with a status code and a machine-readable ``code``."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(HTTPError):
    status = 400
    code = "bad_request"


class Unauthorized(HTTPError):
    status = 401
    code = "unauthorized"


class Forbidden(HTTPError):
    status = 403
    code = "forbidden"


class NotFound(HTTPError):
    status = 404
    code = "not_found"


class Conflict(HTTPError):
    status = 409
    code = "conflict"


class Gone(HTTPError):
    status = 410
    code = "gone"


class PayloadTooLarge(HTTPError):
    status = 413
    code = "payload_too_large"


class Unprocessable(HTTPError):
    status = 422
    code = "unprocessable"


class TooManyRequests(HTTPError):
    status = 429
    code = "too_many_requests"


class InsufficientStorage(HTTPError):
    status = 507
    code = "insufficient_storage"


class AuditUnavailable(HTTPError):
    status = 503
    code = "audit_unavailable"
