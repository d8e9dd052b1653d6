"""One classification of the failures of every outgoing HTTP exchange (DMP ITI-41/18/57, MHD, esignsante).

A failure is TRANSIENT (nothing is lost by sending the same bytes again later: the outbox retries it) or
PERMANENT (a person must act: dead letter). Every transport asks `classify_failure` with the HTTP status
and, when the server explained itself in the protocol's own terms, that explanation (a SOAP fault's
Receiver/Sender code, a registry error code, an OperationOutcome issue type); the HTTP status alone
decides when the status leaves no room for doubt.
"""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    TRANSIENT = "transient"  # retried later with the same bytes
    PERMANENT = "permanent"  # dead letter: the request itself (or the configuration) must change


# "Try again later" whatever the body says: 408 Request Timeout (RFC 9110 §15.5.9: the client may repeat
# the request), 425 Too Early (RFC 8470 §5.2), 429 Too Many Requests (RFC 6585 §4).
ALWAYS_TRANSIENT = frozenset({408, 425, 429})
# The request itself cannot succeed whatever the body says: 400 Bad Request, 413 Content Too Large,
# 415 Unsupported Media Type, 422 Unprocessable Content, 501 Not Implemented, 505 HTTP Version Not Supported.
ALWAYS_PERMANENT = frozenset({400, 413, 415, 422, 501, 505})


def classify_failure(status: int, *, explained: Failure | None = None) -> Failure | None:
    """What an answer with HTTP `status` means for the sender.

    `explained`: the classification the body gives, if the server answered in its protocol (None when the
    body is not readable as such). A 2xx answer is a success (None) unless the body says otherwise; 408, 425
    and 429 are always transient; 400, 413, 415, 422, 501 and 505 always permanent; otherwise the body's
    explanation decides, and without one a 5xx is transient (server-side trouble) and a 4xx permanent."""
    if 200 <= status < 300:
        return explained
    if status in ALWAYS_TRANSIENT:
        return Failure.TRANSIENT
    if status in ALWAYS_PERMANENT:
        return Failure.PERMANENT
    if explained is not None:
        return explained
    return Failure.TRANSIENT if status >= 500 else Failure.PERMANENT


__all__ = ["ALWAYS_PERMANENT", "ALWAYS_TRANSIENT", "Failure", "classify_failure"]
