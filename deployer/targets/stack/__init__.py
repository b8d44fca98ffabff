"""The signal stack: Prometheus, Alertmanager, exporters, PostgreSQL, nginx, the collector, log and trace stores, the Slack mock."""
