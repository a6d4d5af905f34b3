"""Annotated scalar types shared by the configuration model.

Each type validates one kind of value the stack files hold (a Kubernetes quantity, a DNS label, a CIDR)
and says in its error what is allowed, so that the message printed for a bad stack file is useful on
its own.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _dns_name(value: str) -> str:
    value = value.lower()
    if not _DNS_NAME.match(value):
        raise ValueError(f"{value!r} is not a fully qualified domain name (for example shop.example.com)")
    return value


def parse_quantity(value: str) -> Decimal:
    """Return the numeric value of a Kubernetes quantity ("500m" -> 0.5, "1Gi" -> 1073741824)."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity: use a number with an optional suffix "
            "such as 500m, 2, 512Mi, 4Gi or 1G"
        )
    return Decimal(match.group("num")) * _SUFFIX[match.group("suffix")]


def _quantity(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{value!r} is not a Kubernetes quantity: write it as a string such as 500m or 4Gi")
    text = str(value)
    parse_quantity(text)
    return text


def _cidr(value: object) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network in CIDR form with no host bits set (for example 10.0.0.0/24): {exc}") from None


def _address(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _bucket(value: str) -> str:
    if not _BUCKET.match(value) or ".." in value:
        raise ValueError(
            f"{value!r} is not a bucket name: use 3 to 63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return value


BucketName = Annotated[str, AfterValidator(_bucket)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Quantity = Annotated[str, BeforeValidator(_quantity)]
Cidr = Annotated[str, BeforeValidator(_cidr)]
IpAddress = Annotated[str, BeforeValidator(_address)]
