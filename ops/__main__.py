"""`python -m ops backups verify --stack prod`."""

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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
