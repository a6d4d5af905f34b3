"""Pulumi entry point: validate the stack configuration, then build every layer.

A bad stack file prints one line per problem, naming the key, and exits non-zero before any resource
is registered (so nothing already deployed is touched).
"""

import sys

from components.config import ConfigError
from program import main

try:
    main()
except ConfigError as error:
    for problem in error.problems:
        print(f"configuration error: {problem}", file=sys.stderr)
    sys.exit(1)
