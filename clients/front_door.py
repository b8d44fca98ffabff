"""Requests to the front door as a visitor makes them: to an ingress host (SNI and Host header),
dialled at the env's ingress address, with or without the env's basic-auth credentials, and the
TLS facts of what it serves (protocols it accepts, the chain and how each link is signed)."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from obs_conformance.clients.errors import BackendUnreachable
from obs_conformance.envconf.secrets import Secret


@dataclass(frozen=True)
class Answer:
    """What the front door answered: status, headers (lower-case names) and the start of the body."""

    request: str
    status: int
    headers: dict[str, str]
    body: str

    def shown(self) -> str:
        location = f" Location={self.headers['location']!r}" if "location" in self.headers else ""
        snippet = self.body[:120].replace("\n", " ")
        return f"{self.status}{location} body {snippet!r}"


@dataclass(frozen=True)
class ChainLink:
    """One certificate of a served chain and the hash its issuer signed it with (``sha1``, ``sha256``...)."""

    subject: str
    signature_hash: str


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to ``host`` (SNI, Host header, certificate name) over a socket dialled at ``address``."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class _PlainConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def basic_auth(user: str, password: Secret) -> str:
    token = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
    return f"Basic {token}"


class FrontDoor:
    """An ingress as seen from outside: ``address`` (else each host itself), its HTTPS and HTTP ports,
    and the CA its chain must verify against (``None``: the system store, as for ACME)."""

    def __init__(
        self, address: str | None, https_port: int, http_port: int, ca_file: str | None, timeout: float
    ) -> None:
        self.address = address
        self.https_port = https_port
        self.http_port = http_port
        self.ca_file = ca_file
        self.timeout = timeout

    def _dial(self, host: str) -> str:
        return self.address or host

    def where(self, host: str) -> str:
        via = f" via {self.address}" if self.address else ""
        return f"https://{host}:{self.https_port}{via}"

    def request(
        self,
        host: str,
        method: str,
        path: str,
        credentials: tuple[str, Secret] | None = None,
        body: str | None = None,
        https: bool = True,
    ) -> Answer:
        """One request, redirects not followed; the request is named without its credentials."""
        port = self.https_port if https else self.http_port
        scheme = "https" if https else "http"
        named = f"{'authenticated' if credentials else 'anonymous'} {method} {scheme}://{host}:{port}{path}"
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if credentials is not None:
            headers["Authorization"] = basic_auth(*credentials)
        connection: http.client.HTTPConnection
        if https:
            context = ssl.create_default_context(cafile=self.ca_file)
            connection = _PinnedConnection(host, port, self._dial(host), context, self.timeout)
        else:
            connection = _PlainConnection(host, port, self._dial(host), self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read(4096).decode("utf-8", "replace")
            found = {name.lower(): value for name, value in response.getheaders()}
            return Answer(named, response.status, found, text)
        except OSError as e:
            raise BackendUnreachable(f"front door {host}", f"{named}{' ' if self.address else ''}: {e}") from e
        finally:
            connection.close()

    def legacy_handshake(self, host: str) -> tuple[bool, str]:
        """Offer TLS 1.0 and 1.1 only: (accepted, what was seen). A client unable to offer them raises."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():  # the point is to offer what is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL 3 itself will not offer TLS < 1.2
        try:
            with (
                socket.create_connection((self._dial(host), self.https_port), self.timeout) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                cipher = tls.cipher()
                return True, f"accepted {tls.version()} ({cipher[0] if cipher else 'no cipher'})"
        except ssl.SSLError as e:
            if e.reason == "NO_PROTOCOLS_AVAILABLE":
                raise RuntimeError(f"this client cannot offer TLS 1.0/1.1 ({e}): the check proves nothing") from e
            return False, f"refused: {e.reason or e}"
        except (ConnectionResetError, ConnectionAbortedError, TimeoutError) as e:
            return False, f"refused: {type(e).__name__}"

    def served_chain(self, host: str) -> list[ChainLink]:
        """The chain the server sends (leaf first), unverified: what each link is signed with."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection((self._dial(host), self.https_port), self.timeout) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                ssl_object: Any = getattr(tls, "_sslobj", tls)  # Python 3.13 makes get_unverified_chain public
                chain = ssl_object.get_unverified_chain() or []
                ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
        except OSError as e:
            raise BackendUnreachable(f"front door {host}", f"handshake with {self.where(host)}: {e}") from e
        return [link(der) for der in ders]


def link(data: bytes) -> ChainLink:
    """A certificate (DER or PEM) as a chain link: subject and signature hash."""
    pem = data.lstrip().startswith(b"-----")
    cert = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    algorithm = cert.signature_hash_algorithm
    return ChainLink(cert.subject.rfc4514_string(), algorithm.name if algorithm is not None else "none")
