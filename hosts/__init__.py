"""The hosts layer: bare-metal servers taken to Kubernetes nodes over SSH (scripts live beside it)."""
