"""The kwok target: a real Kubernetes control plane on loopback with fake nodes, and the real operators."""
