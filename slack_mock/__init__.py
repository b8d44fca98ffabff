"""The Slack mock: a stand-in for Slack's incoming webhooks, run by the local stack, in a cluster, and by tests."""
