"""Where hitl may send outgoing requests: the address policy for agent callbacks.

A callback URL comes from an agent, so it must not make hitl a proxy into the network it
runs in (cloud metadata at 169.254.169.254, databases on 10.x, admin ports on loopback).
The same policy runs twice: when the URL is submitted (422) and when the callback is sent,
against the addresses the name resolves to then (DNS rebinding), and the sender connects
to the address it checked. Plain functions; the resolver is injected.
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the host resolves to; raises OSError when it cannot tell.
Resolver = Callable[[str, int], Sequence[IPAddress]]


class EgressRefused(Exception):
    """The URL's host is, or resolves to, an address outside the policy."""


class Unresolvable(Exception):
    """The host's name did not resolve (perhaps only for now)."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The operating system's resolver (DNS, /etc/hosts)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def non_public_reason(address: IPAddress) -> str | None:
    """Why an address may not be called back, or None when it is a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and 6to4/Teredo-wrapped addresses reach IPv4 hosts.
        wrapped = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if wrapped is not None:
            return non_public_reason(wrapped)
    for label, hit in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if hit:
            return label
    if not address.is_global:  # shared (100.64/10), documentation and other special ranges
        return "not globally routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (`127.0.0.1`, `[::1]`), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class EgressPolicy:
    allow_private: bool = False
    resolver: Resolver = field(default=system_resolver)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to; EgressRefused if any is outside the policy.

        Every resolved address must pass: a name answering one public and one private
        address would otherwise let the connection pick the private one.
        """
        literal = literal_address(host)
        if literal is not None:
            found: list[IPAddress] = [literal]
        else:
            try:
                found = list(self.resolver(host.rstrip("."), port))
            except (OSError, UnicodeError) as error:
                raise Unresolvable(f"{host} did not resolve: {error}") from None
            if not found:
                raise Unresolvable(f"{host} resolved to no address")
        if not self.allow_private:
            for address in found:
                reason = non_public_reason(address)
                if reason is not None:
                    shown = "" if literal is not None else f" resolves to {address}, which"
                    raise EgressRefused(
                        f"the host {host}{shown} is a {reason} address; callbacks go to public "
                        "addresses only (HITL_CALLBACK_ALLOW_PRIVATE=true allows others)"
                    )
        return found

    def check_url(self, url: str) -> None:
        """The check at submission: refuses a URL whose host is or resolves to a forbidden
        address. A name that does not resolve now is accepted: it is checked again, with
        what it resolves to then, when the callback is sent."""
        host, port = host_and_port(url)
        try:
            self.addresses(host, port)
        except Unresolvable:
            return


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host, port
