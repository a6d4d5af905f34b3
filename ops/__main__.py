"""`python -m ops backups verify --stack prod`, `python -m ops smoke --stack prod`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from components.config import ConfigError


def main(argv: list[str] | None = None, now: dt.datetime | None = None) -> int:
    """Run a tool; `now` (tests) stands for the current time."""
    parser = argparse.ArgumentParser(prog="python -m ops", description="Operator tools for a stack of the Magento platform.")
    tools = parser.add_subparsers(dest="tool", required=True)
    backups = tools.add_parser("backups", help="backup checks").add_subparsers(dest="command", required=True)
    verify = backups.add_parser("verify", help="is every backup stream fresh, non-empty and within retention?")
    verify.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    verify.add_argument("--endpoint-url", help="override the stack's S3 endpoint (e.g. a local S3 for a drill)")
    smoke = tools.add_parser("smoke", help="post-deploy smoke check of every site through the Gateway, then the backups")
    smoke.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    smoke.add_argument("--connect", help="host:port to send to instead of edge.gatewayAddress:443")
    smoke.add_argument("--plain-http", action="store_true", help="no TLS (a target behind no Gateway, e.g. the loopback chain)")
    smoke.add_argument("--as-gateway", action="store_true", help="send the headers Envoy adds (X-Forwarded-Proto/For)")
    smoke.add_argument("--ca-file", help="CA bundle to verify the certificates with (default: the system's)")
    smoke.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    smoke.add_argument("--min-cert-days", type=int, default=14, help="fail when a certificate expires sooner")
    smoke.add_argument("--max-requests", type=int, default=150, help="most requests one rate-limit probe may send")
    smoke.add_argument("--skip-backups", action="store_true", help="leave out the backup freshness check")
    args = parser.parse_args(argv)
    if args.tool == "smoke":
        return _smoke(args)

    from ops import backups as backup_checks
    from ops.stack import load

    try:
        config = load(args.stack)
    except (FileNotFoundError, ConfigError) as exc:
        print(f"cannot read stack {args.stack}: {exc}", file=sys.stderr)
        return 2
    if config.backup is None:
        print(f"stack {args.stack} has no backup target: nothing to verify", file=sys.stderr)
        return 2
    client = backup_checks.s3_client(config)
    if args.endpoint_url:
        import boto3

        client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=config.backup.region)
    now = now or dt.datetime.now(dt.UTC)
    results = backup_checks.verify(client, config, now)
    print(backup_checks.table(results, now))
    return 0 if all(r.ok for r in results) else 1


def _smoke(args: argparse.Namespace) -> int:
    from ops.smoke import Target, smoke
    from ops.stack import load

    try:
        config = load(args.stack)
    except (FileNotFoundError, ConfigError) as exc:
        print(f"cannot read stack {args.stack}: {exc}", file=sys.stderr)
        return 2
    if args.connect:
        host, _, port = args.connect.rpartition(":")
    elif config.edge.gateway_address:
        host, port = config.edge.gateway_address, "443"
    else:
        print(f"stack {args.stack} has no edge.gatewayAddress: give --connect host:port", file=sys.stderr)
        return 2
    target = Target(host, int(port), tls=not args.plain_http, as_gateway=args.as_gateway, ca_file=args.ca_file,
                    timeout=args.timeout)
    checks = smoke(config, target, min_cert_days=args.min_cert_days, max_requests=args.max_requests,
                   backups=not args.skip_backups)
    for check in checks:
        print(check)
    failed = [c for c in checks if c.status == "fail"]
    print(f"smoke {args.stack}: {len(checks) - len(failed)} of {len(checks)} checks passed" + (f", {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
