"""Pulumi entry point: validate the stack configuration, then build every layer.

A bad stack file prints one line per problem, naming the key, and exits non-zero before any resource
is registered (so nothing already deployed is touched).
"""

import sys

from components.config import ConfigError
from program import main
from sites.stack import is_site_stack
from sites.stack import main as site_stack_main

try:
    # A store's own stack (Pulumi.<env>-site-<name>.yaml names its platform stack), else the platform.
    if is_site_stack():
        site_stack_main()
    else:
        main()
except ConfigError as error:
    for problem in error.problems:
        print(f"configuration error: {problem}", file=sys.stderr)
    sys.exit(1)
