"""Five-field cron expressions as Kubernetes CronJobs read them (minute hour day-of-month month day-of-week), and
the longest interval between two runs: the recovery point a scheduled backup can promise.

Supported per field: `*`, a number, `a-b`, `*/n`, `a-b/n` and comma lists of these (what robfig/cron, the
parser of the CronJob controller, accepts without names or macros). As in cron, when both day fields are
restricted a day matches either of them.
"""

from __future__ import annotations

import datetime as dt
import itertools

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{name}: step {step_text!r} is not a positive number")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise ValueError(f"{name}: {part!r} is not a range of numbers")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = end = int(base)
            if step is not None:
                end = high
        else:
            raise ValueError(f"{name}: {part!r} is not a number, range or */n")
        if not (low <= start <= end <= high):
            raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return values


def parse(expression: str) -> tuple[set[int], set[int], set[int], set[int], set[int], bool, bool]:
    """The values each field allows, and whether the two day fields are restricted (not `*`)."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"{expression!r} has {len(parts)} fields; cron needs 5 (minute hour day-of-month month day-of-week)")
    minutes, hours, days, months, weekdays = (_field(p, *spec) for p, spec in zip(parts, FIELDS, strict=True))
    weekdays = {0 if d == 7 else d for d in weekdays}
    return minutes, hours, days, months, weekdays, not parts[2].startswith("*"), not parts[4].startswith("*")


def runs(expression: str, start: dt.datetime, days: int) -> list[dt.datetime]:
    """Every run from `start` (midnight of that day) for `days` days, in order."""
    minutes, hours, dom, months, dow, dom_set, dow_set = parse(expression)
    found: list[dt.datetime] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(days):
        weekday = (day.weekday() + 1) % 7  # cron: 0 is Sunday
        either = dom_set and dow_set  # both restricted: either day field matches
        day_ok = (day.day in dom or weekday in dow) if either else (day.day in dom and weekday in dow)
        if day.month in months and day_ok:
            found += [day.replace(hour=h, minute=m) for h in sorted(hours) for m in sorted(minutes)]
        day += dt.timedelta(days=1)
    return found


def longest_gap(expression: str) -> dt.timedelta:
    """The longest time between two consecutive runs over four years (every weekday, month length and leap day)."""
    times = runs(expression, dt.datetime(2024, 1, 1), 4 * 366)
    if len(times) < 2:
        raise ValueError(f"{expression!r} runs less than twice in four years")
    return max(b - a for a, b in itertools.pairwise(times))


def validate(expression: str) -> str:
    parse(expression)
    longest_gap(expression)
    return expression
