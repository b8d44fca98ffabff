"""Deploying the stack to a cluster (kind, dev) over helm and kubectl: the design's eleven steps."""
