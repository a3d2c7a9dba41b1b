"""Getting sealed segments to the collection server: the ``Transport`` boundary, HTTP, enrolment, the uploader."""

from workprint.transport.base import Outcome, ReportsSpoolLag, Transport, UploadResult
from workprint.transport.http import Enrollment, HttpTransport, enroll
from workprint.transport.uploader import Backoff, SegmentQueue, Uploader, UploadStats, upload_pending

__all__ = [
    "Backoff",
    "Enrollment",
    "HttpTransport",
    "Outcome",
    "ReportsSpoolLag",
    "SegmentQueue",
    "Transport",
    "UploadResult",
    "UploadStats",
    "Uploader",
    "enroll",
    "upload_pending",
]
