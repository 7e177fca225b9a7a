"""Where webhooks may go: every internal form refused, public and allowed ones kept."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from core.config import Settings
from core.netguard import Allow, UrlRefused, check_url, is_public, literal_address, resolve

REFUSED = [
    "ftp://example.com/x",
    "http:///path-only",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://127.1/",
    "http://0177.0.0.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",  # shared address space (carrier NAT)
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://intranet/",  # one label: the local search domain decides
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254 inside IPv6
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://user:pass@example.com/",
    "http://user@example.com/",
    "http://example.com:0/",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "http://example.com/\x00",
    "http://example.com/" + "a" * 2048,
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused) as err:
        check_url(url)
    assert err.value.code == "invalid_callback_url"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/scanrag?x=1",
        "http://93.184.216.34:8080/h",
        "http://[2606:4700::1111]/",
    ],
)
def test_public_urls_pass(url: str) -> None:
    assert check_url(url).hostname


def test_legacy_ipv4_forms_are_read_as_a_c_resolver_reads_them() -> None:
    assert literal_address("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("0x7f.1") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("0") == ipaddress.IPv4Address("0.0.0.0")
    assert literal_address("example.com") is None
    assert literal_address("1e3.example") is None


def test_mapped_and_embedded_ipv4_are_judged_by_the_ipv4_address() -> None:
    assert not is_public(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert is_public(ipaddress.ip_address("::ffff:93.184.216.34"))
    assert not is_public(ipaddress.ip_address("::7f00:1"))  # deprecated IPv4-compatible form


def test_the_allow_list_admits_named_hosts_and_networks_only() -> None:
    allow = Allow.parse("hooks.internal, 10.20.0.0/16, 127.0.0.2")
    assert check_url("http://hooks.internal:8080/x", allow)
    assert check_url("http://10.20.3.4/x", allow)
    assert check_url("http://127.0.0.2:9000/x", allow)
    for url in ("http://10.21.0.1/", "http://127.0.0.1/", "http://localhost/"):
        with pytest.raises(UrlRefused):
            check_url(url, allow)
    with pytest.raises(ValueError):
        Allow.parse("not a host!")


def test_a_bad_allow_list_is_a_settings_error() -> None:
    with pytest.raises(ValueError):
        Settings(service={"webhook_allow": "10.0.0.0/8, bad host"})  # type: ignore[arg-type]
    ok = Settings(service={"webhook_allow": "10.0.0.0/8"})  # type: ignore[arg-type]
    assert ok.service.webhook_allowed.admits(ipaddress.ip_address("10.9.9.9"))


def _resolver(table: dict[str, list[str]]) -> Any:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return getaddrinfo


def test_names_are_judged_by_every_address_they_resolve_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        _resolver(
            {
                "hooks.example.com": ["93.184.216.34"],
                "rebound.example.com": ["127.0.0.1"],
                "mixed.example.com": ["93.184.216.34", "10.0.0.7"],
                "v6.example.com": ["::ffff:192.168.1.1"],
            }
        ),
    )
    ip = resolve(check_url("https://hooks.example.com/x"))
    assert ip == ipaddress.IPv4Address("93.184.216.34")
    for host in ("rebound", "mixed", "v6"):
        with pytest.raises(UrlRefused, match="non-public"):
            resolve(check_url(f"http://{host}.example.com/x"))
    with pytest.raises(UrlRefused, match="does not resolve"):
        resolve(check_url("http://nowhere.example.com/x"))
    # an allowed name may resolve to a private address (an on-premise receiver)
    allow = Allow.parse("rebound.example.com")
    assert resolve(check_url("http://rebound.example.com/x", allow), allow).is_loopback
