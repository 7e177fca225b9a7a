"""Where webhooks may go: public addresses only, unless the operator allows a host or network.

A ``callback_url`` is checked twice: when it is given (its form, and the address when it is an
address) and when it is used, after the name is resolved, against every address it resolves to,
and again on every redirect, so a name that resolves to an internal address later (DNS
rebinding) is refused then. The request itself goes to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from core.errors import BadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048  # the documents.callback_url column
_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class UrlRefused(BadInput):
    code = "invalid_callback_url"
    default_message = "callback_url must be a public http(s) URL"


@dataclass(frozen=True)
class Allow:
    """Hosts and networks webhooks may reach although they are not public (on-premise
    receivers): ``SCANRAG_SERVICE__WEBHOOK_ALLOW``, comma-separated names, addresses or CIDRs."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Allow:
        """The setting's value; an entry that is neither a network nor a name is an error."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (x.strip().lower() for x in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                if not re.fullmatch(r"[a-z0-9.-]+", item):
                    raise ValueError(f"webhook_allow: {item!r} is not a host or network") from None
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, ip: IPAddress) -> bool:
        """Whether the operator allowed this address."""
        return any(ip in net for net in self.networks if net.version == ip.version)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, including the forms a C resolver accepts
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``, ``0``); None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _LEGACY_V4.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(ip: IPAddress) -> bool:
    """A globally routed unicast address: not loopback, private, link-local, shared, multicast,
    reserved or unspecified, also when an IPv4 address hides inside an IPv6 one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return is_public(inner)
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64: the IPv4 address is the tail
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return bool(ip.is_global) and not (
        ip.is_multicast or ip.is_reserved or ip.is_private or ip.is_loopback or ip.is_link_local
    )


def _permitted(ip: IPAddress, allow: Allow) -> bool:
    return is_public(ip) or allow.admits(ip)


def check_url(url: str, allow: Allow = Allow()) -> SplitResult:
    """The URL's parts if its form and (literal) address may be used; raises UrlRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UrlRefused("callback_url holds spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"callback_url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("callback_url must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("callback_url must not carry a user name or password")
    if port == 0:
        raise UrlRefused("callback_url has port 0")
    host = parts.hostname.rstrip(".")
    if host in allow.hosts:
        return parts
    ip = literal_address(host)
    if ip is not None:
        if not _permitted(ip, allow):
            raise UrlRefused(f"callback_url points at a non-public address ({ip})")
    elif host in _LOCAL_NAMES or host.endswith(".localhost") or "." not in host:
        # a single-label name is resolved by the local network's search list: internal
        raise UrlRefused(f"callback_url names a local host ({host})")
    return parts


def resolve(parts: SplitResult, allow: Allow = Allow()) -> IPAddress:
    """The address to connect to for a checked URL: every address its host resolves to must be
    public (or allowed); raises UrlRefused otherwise or when the name does not resolve."""
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ip = literal_address(host)
    if ip is not None:
        found = [ip]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"callback_url's host {host} does not resolve: {exc}") from exc
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise UrlRefused(f"callback_url's host {host} has no address")
    if host in allow.hosts:
        return found[0]
    bad = [a for a in found if not _permitted(a, allow)]
    if bad:
        raise UrlRefused(f"callback_url's host {host} resolves to a non-public address ({bad[0]})")
    return found[0]
