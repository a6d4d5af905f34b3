"""Running the program without the Pulumi CLI: stack files, the mock engine, checks and the plan."""

import os

# The plan forks its policy check (offline/background.py); the child never uses gRPC, whose fork handlers
# would only log that the mock engine's threads are in it. Read when grpc is first imported (by pulumi).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
