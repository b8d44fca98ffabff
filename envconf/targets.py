"""What each kind of target can do, so checks and the deployer ask the target instead of comparing its name.

A check that cannot run somewhere skips because the target lacks a capability (``serves_pods``,
``has_kubelet_stats``...), and the skip reason names what is missing; a new kind of target is one
more entry in :data:`TARGETS`, not a branch in every check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A kind of target: its capabilities (asked by the checks) and how a cluster deploy differs on it.

    Capabilities. ``kubernetes``: it has a Kubernetes API (the local stack has none). ``serves_pods``:
    its pods run for real, so the ingress answers on its ports (kwok's pods are fakes).
    ``has_kubelet_stats``: kubelets export ``kubelet_volume_stats`` (kwok runs no kubelet).
    ``has_servicegraph``: the traces backend derives service graphs (Tempo's metrics generator;
    the local stack, whose backends the kwok env also reads, has no servicegraph connector).
    ``stack_as_processes``: the signal stack runs as processes on this machine (the local stack),
    so its collector's ``--config`` and Prometheus' rule files are readable, and its TLS front
    door and data directories stand in for the ingress and the PVCs.

    Cluster deploys. ``webhooks``: operator charts register admission webhooks (off on kwok: no pod
    serves them, and the API server would dial fake pod IPs). ``ingress_service``: the ingress
    controller's Service type (kind has no load balancer: NodePort with host ports, as kind
    documents; kwok: ClusterIP). ``own_postgres``: the deployer runs the PostgreSQL that
    ``POSTGRES_HOST`` names (no external database there). ``cert_manager``: the deployer
    installs cert-manager (a fresh kind cluster has none; Scaleway clusters have it).
    ``kind_cluster``: the deployer creates the kind cluster. ``app_namespaces``: the deployer creates
    ``APP_NAMESPACES`` (a fresh local cluster runs no apps, and the per-app ServiceMonitors need
    their namespaces). ``pinned_kubectl``: kubectl is always the project's build (kwok: its API
    server's version), never whatever is on PATH. ``in_cluster_slack_mock``: without
    ``SLACK_WEBHOOK_URL`` Alertmanager posts to the Slack mock the cluster runs (kind);
    ``local_slack_mock``: to a hook of the local Slack mock (kwok, whose Alertmanager never runs).
    ``generated_postgres_password``: without ``POSTGRES_EXPORTER_PASSWORD`` the deployer generates
    one (kwok: nothing connects to its PostgreSQL).
    """

    kubernetes: bool
    serves_pods: bool
    has_kubelet_stats: bool
    has_servicegraph: bool
    stack_as_processes: bool = False
    webhooks: bool = False
    ingress_service: str = ""
    own_postgres: bool = False
    cert_manager: bool = False
    kind_cluster: bool = False
    app_namespaces: bool = False
    pinned_kubectl: bool = False
    in_cluster_slack_mock: bool = False
    local_slack_mock: bool = False
    generated_postgres_password: bool = False


TARGETS = {
    "local": Target(kubernetes=False, serves_pods=False, has_kubelet_stats=False, has_servicegraph=False,
                    stack_as_processes=True),
    "scaleway": Target(kubernetes=True, serves_pods=True, has_kubelet_stats=True, has_servicegraph=True,
                       webhooks=True, ingress_service="LoadBalancer", own_postgres=False, cert_manager=False,
                       kind_cluster=False),
    "kind": Target(kubernetes=True, serves_pods=True, has_kubelet_stats=True, has_servicegraph=True,
                   webhooks=True, ingress_service="NodePort", own_postgres=True, cert_manager=True, kind_cluster=True,
                   app_namespaces=True, in_cluster_slack_mock=True),
    "kwok": Target(kubernetes=True, serves_pods=False, has_kubelet_stats=False, has_servicegraph=False,
                   webhooks=False, ingress_service="ClusterIP", own_postgres=True, cert_manager=False,
                   kind_cluster=False, app_namespaces=True, pinned_kubectl=True, local_slack_mock=True,
                   generated_postgres_password=True),
}  # fmt: skip
