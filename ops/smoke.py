"""Post-deploy smoke check: `python -m ops smoke --stack prod` (`make smoke STACK=prod`), after every `up`.

For each site, through the Gateway (`edge.gatewayAddress`, port 443, the site's domain as SNI and Host):

1. storefront: `/` answers 200 over TLS with a certificate that verifies for the domain (system CAs, or
   `--ca-file`) and is valid for at least `--min-cert-days` more days;
2. admin: the admin path (`edge.adminPath`) is refused (403) from here, which must be outside
   `edge.adminAllowCidrs` (with no allow-list the admin is open: reported as a warning);
3. WAF: an SQL-injection probe is refused (403) when the site's WAF is in blocking mode (in detection-only
   mode it must pass, and that is a warning);
4. rate limit: the hot endpoint with the lowest limit answers 429 within its limit times the Envoy replicas
   (local limits count per replica) plus a margin; skipped (a warning) when that would take more than
   `--max-requests`;

then the backups: the backup verifier (`ops.backups`) finds every stream fresh.

Bounded: every request times out after `--timeout` seconds and the whole run sends at most a few requests
per site plus one rate-limit budget. Exit 1 when a check fails. `--connect host:port` sends to another
address (a staging gateway, or the loopback request chain with `--plain-http --as-gateway`: no TLS, the
headers Envoy adds are sent by the client).
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from components.config.model import Site, StackConfig
from components.placement import replicas

SQLI_PROBE = "/catalogsearch/result/?q=1%27%20UNION%20SELECT%20username,password%20FROM%20admin_user--%20-"
UNIT_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600}
MARGIN = 5


@dataclass(frozen=True)
class Check:
    site: str
    name: str
    status: str  # ok | fail | warn
    detail: str

    def __str__(self) -> str:
        return f"{self.status.upper():<4} {self.site:<16} {self.name:<11} {self.detail}"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool = True
    as_gateway: bool = False
    ca_file: str | None = None
    timeout: float = 5.0
    client: str = "198.51.100.7"  # the address sent as X-Forwarded-For with --as-gateway


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    cert_days: float | None


def fetch(target: Target, domain: str, path: str, *, method: str = "GET", body: bytes | None = None) -> Answer:
    headers = {"Host": domain, "User-Agent": "Mozilla/5.0 (magento-platform smoke)"}
    if target.as_gateway:
        headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": target.client})
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    cert_days = None
    if target.tls:
        context = ssl.create_default_context(cafile=target.ca_file)
        sock = socket.create_connection((target.host, target.port), timeout=target.timeout)
        wrapped = context.wrap_socket(sock, server_hostname=domain)  # verifies the chain and the host name
        not_after = ssl.cert_time_to_seconds(wrapped.getpeercert()["notAfter"])
        cert_days = (not_after - dt.datetime.now(dt.UTC).timestamp()) / 86400
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(domain, target.port, timeout=target.timeout, context=context)
        conn.sock = wrapped
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=target.timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, cert_days)
    finally:
        conn.close()


def _storefront(site: Site, target: Target, min_days: int) -> Check:
    domain = site.domains[0]
    try:
        answer = fetch(target, domain, "/")
    except ssl.SSLCertVerificationError as exc:
        return Check(site.name, "storefront", "fail", f"{domain}: the certificate does not verify: {exc.verify_message}")
    except OSError as exc:
        return Check(site.name, "storefront", "fail", f"{domain}: {exc}")
    if answer.status != 200:
        return Check(site.name, "storefront", "fail", f"{domain}: / answered {answer.status}, expected 200")
    if answer.cert_days is not None and answer.cert_days < min_days:
        return Check(site.name, "storefront", "fail", f"{domain}: the certificate expires in {answer.cert_days:.0f} days")
    cert = f", certificate valid {answer.cert_days:.0f} more days" if answer.cert_days is not None else " (no TLS on this target)"
    return Check(site.name, "storefront", "ok", f"{domain}: 200{cert}")


def _admin(site: Site, target: Target) -> Check:
    path = f"/{site.edge.admin_path}/"
    if not site.edge.admin_allow_cidrs:
        return Check(site.name, "admin", "warn", f"{path}: no edge.adminAllowCidrs: the admin is open to every client")
    status = fetch(target, site.domains[0], path).status
    if status == 403:
        return Check(site.name, "admin", "ok", f"{path}: refused from outside the allow-list (403)")
    return Check(site.name, "admin", "fail", f"{path}: answered {status} from outside the allow-list, expected 403")


def _waf(site: Site, target: Target) -> Check:
    status = fetch(target, site.domains[0], SQLI_PROBE).status
    if site.edge.waf.mode == "blocking":
        if status == 403:
            return Check(site.name, "waf", "ok", "SQL-injection probe refused (403, blocking mode)")
        return Check(site.name, "waf", "fail", f"SQL-injection probe answered {status} in blocking mode, expected 403")
    if status == 403:
        return Check(site.name, "waf", "fail", "SQL-injection probe refused although the WAF is in detection-only mode")
    return Check(site.name, "waf", "warn", f"detection-only mode: the probe passed ({status}) and was only logged")


def _rate_limit(site: Site, target: Target, envoys: int, max_requests: int) -> Check:
    candidates = [r for r in site.edge.rate_limits if r.match != "RegularExpression"]
    if not candidates:
        return Check(site.name, "rate-limit", "warn", "no prefix rate limit to probe")
    rule = min(candidates, key=lambda r: r.requests / UNIT_SECONDS[r.unit])
    path = rule.path.replace("{adminPath}", site.edge.admin_path)
    budget = rule.requests * envoys + MARGIN
    if budget > max_requests:
        return Check(site.name, "rate-limit", "warn", f"{path}: reaching {rule.requests}/{rule.unit} x {envoys} replicas "
                     f"would take {budget} requests, more than --max-requests {max_requests}")
    post = "login" in rule.name
    for sent in range(1, budget + 1):
        status = fetch(target, site.domains[0], path, method="POST" if post else "GET",
                       body=b"login[username]=smoke@example.com&login[password]=x" if post else None).status
        if status == 429:
            return Check(site.name, "rate-limit", "ok", f"{path}: 429 after {sent} requests (limit {rule.requests}/{rule.unit})")
    return Check(site.name, "rate-limit", "fail", f"{path}: no 429 within {budget} requests (limit {rule.requests}/{rule.unit})")


def _backups(config: StackConfig, client: Any | None) -> list[Check]:
    if config.backup is None:
        return [Check("-", "backups", "warn", "this stack has no backup target")]
    from ops import backups

    try:
        results = backups.verify(client or backups.s3_client(config), config, dt.datetime.now(dt.UTC))
    except Exception as exc:  # any failure to reach the target is a failed check, never a traceback
        return [Check("-", "backups", "fail", f"cannot verify the backups: {type(exc).__name__}: {exc}")]
    failed = [r for r in results if not r.ok]
    if failed:
        return [Check("-", "backups", "fail", f"{len(failed)} of {len(results)} stream(s) not fresh: see `make verify-backups`")]
    return [Check("-", "backups", "ok", f"{len(results)} stream(s) fresh")]


def smoke(config: StackConfig, target: Target, *, min_cert_days: int = 14, max_requests: int = 150,
          backups: bool = True, s3: Any | None = None) -> list[Check]:
    """Every check of every site, then the backups (each request bounded by target.timeout)."""
    envoys = replicas(config.failure_domains)
    checks: list[Check] = []
    for site in config.sites:
        storefront = _storefront(site, target, min_cert_days)
        checks.append(storefront)
        if storefront.status == "fail":
            continue  # the site does not answer: the other checks would only repeat it
        for name, check, extra in (("admin", _admin, ()), ("waf", _waf, ()), ("rate-limit", _rate_limit, (envoys, max_requests))):
            try:
                checks.append(check(site, target, *extra))
            except OSError as exc:
                checks.append(Check(site.name, name, "fail", f"no answer: {exc}"))
    if backups:
        checks += _backups(config, s3)
    return checks
