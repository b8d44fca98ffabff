"""The Kubernetes API: kubeconfig and auth from the kubernetes library, HTTP from requests.

The kubernetes library resolves what a kubeconfig can hold (tokens, client
certificates, exec plugins such as Scaleway's); the calls themselves are plain
requests returning JSON, which keeps the checks typed and the fake API trivial.
The checks only read; the kwok target's own steps (deployer/targets/kwok) also
create and server-side apply, as its admin (a client certificate).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.http import HttpBackend


class KubernetesClient(HttpBackend):
    component = "Kubernetes API"

    @classmethod
    def from_kubeconfig(cls, context: str | None, timeout: float, config_file: str | None = None) -> KubernetesClient:
        from kubernetes import config as kube_config
        from kubernetes.client import Configuration

        configuration = Configuration()
        load: Any = kube_config.load_kube_config  # untyped in the kubernetes package
        load(config_file=config_file, context=context or None, client_configuration=configuration)
        session = requests.Session()
        token = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
        if token:
            prefix = configuration.api_key_prefix.get("authorization", "")
            session.headers["Authorization"] = f"{prefix} {token}".strip() if not token.startswith("Bearer") else token
        if configuration.cert_file and configuration.key_file:
            session.cert = (configuration.cert_file, configuration.key_file)
        session.verify = (
            configuration.ssl_ca_cert
            if configuration.verify_ssl and configuration.ssl_ca_cert
            else configuration.verify_ssl
        )
        return cls(configuration.host, timeout, session)

    @classmethod
    def with_client_certificate(cls, server: str, ca: Path, cert: Path, key: Path, timeout: float) -> KubernetesClient:
        """A client of ``server`` authenticated by a client certificate, trusting only ``ca``
        (the files are read at each call: a renewed certificate needs no new client)."""
        session = requests.Session()
        session.cert = (str(cert), str(key))
        session.verify = str(ca)
        return cls(server, timeout, session)

    def with_timeout(self, timeout: float) -> KubernetesClient:
        """The same client (session, credentials) with another timeout per call."""
        return type(self)(self.base_url, timeout, self.session)

    calls = 0  # requests made by every client of this process: the API cost of a run (bench/run.py)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        KubernetesClient.calls += 1
        # the cluster's CA on each call: a session's verify loses to REQUESTS_CA_BUNDLE (requests merges
        # environment settings over the session's), and a private CA would then fail verification
        kwargs.setdefault("verify", self.session.verify)
        return super().request(method, path, **kwargs)

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when it does not exist (404)."""
        try:
            result: dict[str, Any] = self.get_json(path)
        except BackendError as e:
            if e.status == 404:
                return None
            raise
        return result

    def items(self, path: str) -> list[dict[str, Any]]:
        """The items of a list at ``path``, paged like ``list_all``; a missing resource type is an empty list."""
        return self.list_all(path)

    def list_all(self, path: str, page: int = 500, field_selector: str = "") -> list[dict[str, Any]]:
        """Every item of the list at ``path`` (a kind across namespaces), page by page (``limit``/``continue``):
        one list call per kind, never one per object. A missing resource type is an empty list.

        Each item's ``metadata.managedFields`` is dropped as its page arrives: no check reads who manages
        a field, and on a big cluster they are much of what a list holds."""
        items: list[dict[str, Any]] = []
        token = ""
        selector = {"fieldSelector": field_selector} if field_selector else {}
        while True:
            params = {"limit": str(page), **selector, **({"continue": token} if token else {})}
            try:
                found = self.get_json(path, params)
            except BackendError as e:
                if e.status == 404:
                    return items
                raise
            for item in found.get("items", []):
                item.get("metadata", {}).pop("managedFields", None)
                items.append(item)
            token = str(found.get("metadata", {}).get("continue") or "")
            if not token:
                return items

    def version(self) -> str:
        return str(self.get_json("/version").get("gitVersion", "unknown"))

    def create(self, path: str, document: dict[str, Any]) -> None:
        """POST ``document`` to the collection at ``path``; one that exists already (409) is left as it is."""
        try:
            self.request("POST", path, json=document)
        except BackendError as e:
            if e.status != 409:
                raise

    def apply(self, path: str, document: dict[str, Any], field_manager: str) -> dict[str, Any]:
        """Server-side apply of ``document`` at ``path`` (the object's URL) as ``field_manager``, taking over
        fields other managers own; the object as stored."""
        response = self.request(
            "PATCH",
            path,
            json=document,
            params={"fieldManager": field_manager, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        applied: dict[str, Any] = response.json()
        return applied

    def delete(self, path: str) -> int:
        """DELETE the object at ``path``: the HTTP status (200, 202, or 404 when it was gone already)."""
        try:
            return self.request("DELETE", path).status_code
        except BackendError as e:
            if e.status == 404:
                return 404
            raise


class SharedLists:
    """Lists read once per run and shared by the checks that read them (a check parametrized per host or
    per component reads its kind's list once, not once per case): one paged list call per kind and
    namespace, never one per check nor per object. The lists are the few kinds of the stack's own
    namespace, small on any cluster; a big list read by one check is read by it (``KubernetesClient``).
    A Secret's private key (``tls.key``) is dropped as its list arrives: no check reads one."""

    def __init__(self, kube: KubernetesClient) -> None:
        self.kube = kube
        self._lists: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def items(self, path: str, field_selector: str = "") -> list[dict[str, Any]]:
        """The items at ``path`` (optionally a ``fieldSelector``), listed on the first ask."""
        with self._lock:
            key = (path, field_selector)
            if key not in self._lists:
                found = self.kube.list_all(path, field_selector=field_selector)
                for item in found if path.endswith("/secrets") else []:
                    (item.get("data") or {}).pop("tls.key", None)
                self._lists[key] = found
            return self._lists[key]

    def named(self, path: str, name: str, field_selector: str = "") -> dict[str, Any] | None:
        """The item of the list at ``path`` named ``name``; None when the list holds none."""
        return next((i for i in self.items(path, field_selector) if i["metadata"]["name"] == name), None)
