"""The example chaos experiments (run with --chaos against examples/chaos/stack.py):

1. one shop instance is killed -> the checks through HAProxy keep passing; the instance is
   restarted on rollback;
2. the payment service freezes -> orders still answer within their latency budget (the
   shop's timeout, then its open circuit breaker), and recover after the fault;
3. the same against a shop without its breaker (stack with breaker=False) -> ``deviated``.
"""

from __future__ import annotations

import pytest


def test_health(prod):
    assert prod.get("/healthz").status_code == 200


@pytest.mark.chaos(duration=3, interval=0.2, recovery=10)
def test_the_shop_survives_losing_an_instance(prod, lost_instance):
    assert prod.get("/catalog").status_code == 200


@pytest.mark.chaos(duration=3, interval=0.25, recovery=10)
@pytest.mark.latency(max_ms=1000)
@pytest.mark.synthetic
def test_orders_survive_a_frozen_payment_service(prod, fake_user, cleanup, frozen_payments):
    response = prod.post("/orders", json={"items": ["tea-01"]}, auth=fake_user.auth)
    assert response.status_code == 201, f"order answered {response.status_code}"
    order = response.json()["id"]
    cleanup.add(delete_order, prod, order, fake_user.auth, description=f"order {order}")


def delete_order(prod, order_id, auth):
    assert prod.delete(f"/orders/{order_id}", auth=auth).status_code == 204
