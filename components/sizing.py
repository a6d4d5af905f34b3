"""PLACEHOLDER until branch `sites-chain` lands the real module (it owns this file; take theirs on merge).

Only the signature the data layer sizes MySQL from: what one site's PHP-FPM children, cron and
consumers open at most. The value below is not a sizing; the sites-chain engineer's function replaces it.
"""

from __future__ import annotations

from components.config.model import Site


def site_database_connections(site: Site) -> int:
    return 60
