"""Address arithmetic for the overlap checks."""

from __future__ import annotations

import ipaddress

AddressRange = tuple[int, int, int]  # (ip version, first, last)


def parse_range(value: str) -> AddressRange:
    """Parse a CIDR (`10.0.0.0/28`) or a range (`10.0.0.10-10.0.0.20`) into first and last address."""
    text = str(value).strip()
    try:
        if "-" in text:
            first_s, last_s = (part.strip() for part in text.split("-", 1))
            first, last = ipaddress.ip_address(first_s), ipaddress.ip_address(last_s)
            if first.version != last.version or int(first) > int(last):
                raise ValueError("the range must run from a lower to a higher address of one IP version")
            return first.version, int(first), int(last)
        network = ipaddress.ip_network(text, strict=True)
        return network.version, int(network.network_address), int(network.broadcast_address)
    except ValueError as exc:
        raise ValueError(f"{value!r} is neither a CIDR nor a first-last address range: {exc}") from None


def overlaps(a: AddressRange, b: AddressRange) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def contains(outer: AddressRange, address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return outer[0] == ip.version and outer[1] <= int(ip) <= outer[2]

