"""Who counts as one client for the per-client cap, and the ledger's counting."""

from __future__ import annotations

from smartdoor.server.admission import ConnectionLedger, ConnectionLimits, client_key
from tests.conftest import build_settings


def test_a_client_is_an_ipv4_address_or_an_ipv6_64():
    assert client_key(("192.0.2.7", 50000)) == "192.0.2.7"
    assert client_key(("2001:db8:1:2::a", 1)) == client_key(("2001:db8:1:2:ffff::b", 2)) == "2001:db8:1:2::/64"
    assert client_key(("2001:db8:1:3::a", 1)) != client_key(("2001:db8:1:2::a", 1))
    assert client_key(("::ffff:192.0.2.7", 1)) == "192.0.2.7"  # a dual-stack socket's IPv4 client
    assert client_key(None) == "local"  # a Unix socket


def test_ledger_refuses_past_either_cap_and_gives_places_back():
    ledger = ConnectionLedger(max_connections=3, max_per_client=2)
    assert [ledger.admit("a"), ledger.admit("a"), ledger.admit("a")] == [None, None, "client_full"]
    assert [ledger.admit("b"), ledger.admit("c")] == [None, "server_full"]
    ledger.release("a")
    assert ledger.admit("c") is None
    for key in ("a", "b", "c"):
        ledger.release(key)
    assert ledger.total == 0 and not ledger.per_client


def test_the_per_client_cap_never_exceeds_the_global_one(tmp_path):
    settings = build_settings("mongodb://unused", tmp_path, None, max_connections=8, max_connections_per_client=64)
    assert ConnectionLimits.from_settings(settings).max_per_client == 8
