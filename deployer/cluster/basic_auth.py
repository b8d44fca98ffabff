"""The forms OTLP basic-auth credentials take on their way to the collector, made in one place: the
deployer writes them into Secrets, the suite's senders present them, and the secret-values check
searches the cluster for each (a leak may carry the base64 or the header rather than the password).

``OTEL_EXPORTER_OTLP_HEADERS`` is a list of ``key=value`` pairs whose values are percent-encoded (the
OpenTelemetry SDK environment spec, "Specifying headers via environment variables"): the SDKs decode
them (Java with ``URLDecoder``, which turns a bare ``+`` into a space; Python with ``unquote``), so
every character outside the unreserved set is encoded, the space as ``%20`` and base64's ``+ / =`` too.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from obs_conformance.envconf.secrets import Secret

HEADER = "authorization"  # gRPC metadata keys are lower case; HTTP headers are case-insensitive


def basic_credentials(user: str, password: Secret) -> str:
    """``base64(user:password)``, as a basic ``authorization`` header carries it."""
    return base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()


def basic_authorization(user: str, password: Secret) -> str:
    """The ``authorization`` header's value: ``Basic <base64(user:password)>``."""
    return f"Basic {basic_credentials(user, password)}"


def otlp_headers_value(user: str, password: Secret) -> str:
    """``OTEL_EXPORTER_OTLP_HEADERS`` for these credentials: ``authorization=Basic%20<base64, percent-encoded>``."""
    return f"{HEADER}={quote(basic_authorization(user, password), safe='')}"


def secret_forms(user: str, password: Secret) -> dict[str, str]:
    """The password and each form it is sent in, by a name that says which (never the value)."""
    return {
        "OTLP_AUTH_PASSWORD": password.reveal(),
        "OTLP_AUTH_PASSWORD (base64 user:password)": basic_credentials(user, password),
        "OTLP_AUTH_PASSWORD (OTEL_EXPORTER_OTLP_HEADERS value)": otlp_headers_value(user, password),
    }
