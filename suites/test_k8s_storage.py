"""Storage: every stateful component has a Bound PVC of the env's size and class, with headroom."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient, SharedLists
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Sample
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import PVCS
from obs_conformance.fixtures.readback import fresh, on_prometheus_clock

pytestmark = [pytest.mark.k8s]


@pytest.mark.parametrize("component", sorted(PVCS))
def test_pvc_bound_with_env_size_and_class(env: Environment, kube_lists: SharedLists, component: str) -> None:
    namespace, name = env.text("NAMESPACE"), PVCS[component]
    pvc = kube_lists.named(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", name)
    assert pvc is not None, f"{component}: PVC {namespace}/{name} not found (expected from its volumeClaimTemplate)"
    actual = {
        "phase": pvc.get("status", {}).get("phase"),
        "size": pvc["spec"]["resources"]["requests"].get("storage"),
        "storageClassName": pvc["spec"].get("storageClassName"),
    }
    expected = {
        "phase": "Bound",
        "size": str(env.quantity(f"{component}_STORAGE_SIZE")),
        "storageClassName": env.text("STORAGE_CLASS"),
    }
    assert actual == expected, f"{component}: PVC {namespace}/{name} is {actual}, expected {expected}"


@pytest.mark.parametrize("component", sorted(PVCS))
def test_pvc_usage_below_threshold(
    env: Environment,
    patience: Callable[[str], Patience],
    kube: KubernetesClient,
    prometheus: PrometheusClient,
    component: str,
    run_started: float,
) -> None:
    name = PVCS[component]
    if not env.profile.has_kubelet_stats:
        pytest.skip(
            f"{env.target} target: no kubelet runs, so nothing exports kubelet_volume_stats for PVC {name} "
            "(its Bound claim, size and class are checked above; the usage on kind/dev)"
        )
    selector = f'{{namespace="{env.text("NAMESPACE")}", persistentvolumeclaim="{name}"}}'
    since = on_prometheus_clock(prometheus, run_started)
    # usage as sampled during this run: a kubelet that stopped reporting leaves its last value behind
    promql = (
        f"{fresh(f'kubelet_volume_stats_used_bytes{selector}', since)} / kubelet_volume_stats_capacity_bytes{selector}"
    )

    def probe() -> Observation[list[Sample]]:
        found = prometheus.query(promql)
        return Observation(found, bool(found), f"no kubelet_volume_stats sample since the run started ({since:.3f})")

    samples = wait_for(
        probe,
        patience=patience("METRIC"),
        expected=f"{component}: kubelet_volume_stats of PVC {name}, sampled during the run",
        where=f"Prometheus: GET {prometheus.query_url(promql)}",
    ).value
    used = max(s.value for s in samples)
    limit = env.fraction("PVC_USAGE_MAX")
    assert used < limit, (
        f"{component}: PVC {name} is {used:.0%} full, expected below {limit:.0%} (headroom {1 - used:.0%})"
    )
