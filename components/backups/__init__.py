"""The backup target: S3-compatible buckets, one per purpose (`buckets.py`), and the streams in them (`streams.py`)."""

from components.backups.buckets import Backups, BackupsArgs, BucketTarget, PurposeBucket

__all__ = ["Backups", "BackupsArgs", "BucketTarget", "PurposeBucket"]
