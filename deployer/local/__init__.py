"""The local stack: the monitoring stack's real backends as processes on loopback."""
