"""Fixtures of the example smoke suite (a user's own conftest.py would look like this)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def shop_session(prod) -> Iterator[str]:
    """Log in as the demo's fake user and return a bearer token.

    The password comes from the environment, as it would from a CI secret.
    """
    response = prod.post("/login", json={
        "username": os.environ.get("SHOP_SMOKE_USER", "smoke-demo"),
        "password": os.environ.get("SHOP_SMOKE_PASSWORD", "demo-password"),
    })
    assert response.status_code == 200, f"login failed: {response.status_code}"
    yield response.json()["token"]


@pytest.fixture
def placed_orders(prod, shop_session) -> Iterator[list[str]]:
    """Orders a check places; deleted after the check whatever its outcome (fake data only)."""
    order_ids: list[str] = []
    yield order_ids
    for order_id in reversed(order_ids):
        response = prod.delete(f"/orders/{order_id}",
                               headers={"Authorization": f"Bearer {shop_session}"})
        assert response.status_code in (204, 404), f"cleanup of order {order_id} failed"
