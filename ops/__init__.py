"""Operator tools that read a stack's configuration: `python -m ops <tool> ...` (see `python -m ops --help`).

- `backups verify --stack <stack>`: checks every backup stream in the stack's buckets (`ops/backups.py`).
"""
