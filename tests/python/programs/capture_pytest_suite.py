"""A small pytest suite with failing tests, for the pyheapdump pytest plugin (copied and run by the tests)."""

import pytest


@pytest.fixture
def cart():
    return {"items": ["apple", "pear"], "coupon": "HALF"}


@pytest.fixture
def broken_database():
    connection_string = "postgres://nowhere"
    raise RuntimeError(f"cannot connect to {connection_string}")


def test_cart_total(cart):
    prices = {"apple": 3}
    total = sum(prices[item] for item in cart["items"])
    assert total == 3


def test_passes(cart):
    assert cart["coupon"] == "HALF"


@pytest.mark.parametrize("quantity", [1, 2])
def test_quantity(quantity):
    expected = 1
    assert quantity == expected


def test_uses_database(broken_database):
    assert broken_database


@pytest.mark.skip(reason="not today")
def test_skipped():
    raise AssertionError("never runs")


@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    raise AssertionError("known")


class TestCheckout:
    def test_checkout(self, cart):
        step = "payment"
        raise RuntimeError(f"checkout failed at {step} with {len(cart['items'])} items")
