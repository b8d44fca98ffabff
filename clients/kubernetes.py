"""The Kubernetes API, read-only: kubeconfig and auth from the kubernetes library, HTTP from requests.

The kubernetes library resolves what a kubeconfig can hold (tokens, client
certificates, exec plugins such as Scaleway's); the reads themselves are plain
GETs returning JSON, which keeps the checks typed and the fake API trivial.
"""

from __future__ import annotations

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

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
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
        """The items of a list at ``path``; a missing resource type is an empty list."""
        found = self.get(path)
        return list(found.get("items", [])) if found else []

    def version(self) -> str:
        return str(self.get_json("/version").get("gitVersion", "unknown"))
