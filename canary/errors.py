"""The canary's one error type."""


class CanaryUsageError(Exception):
    """Input the canary refuses before its first round: one line, a non-zero exit."""
