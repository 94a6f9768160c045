"""Whom a rate limit counts: one IPv4 address, or one IPv6 /64 (a customer picks any address in it)."""
from app.ratelimit import client_bucket


def test_ipv6_clients_are_counted_by_their_64():
    one_customer = {client_bucket(f"2001:db8:1:2::{i:x}") for i in range(1, 16)}
    assert one_customer == {"2001:db8:1:2::/64"}
    assert client_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:3::1") == "2001:db8:1:3::/64"  # the next /64 is someone else
    assert client_bucket("fe80::1%eth0") == "fe80::/64"


def test_ipv4_clients_are_counted_by_their_address_also_when_mapped_into_ipv6():
    assert client_bucket("192.0.2.7") == "192.0.2.7" != client_bucket("192.0.2.8")
    assert client_bucket("::ffff:192.0.2.7") == "192.0.2.7"  # a dual-stack socket's view of an IPv4 client


def test_what_is_not_an_address_is_its_own_bucket():
    assert client_bucket("testclient") == "testclient"
    assert client_bucket("unknown") == "unknown"
