"""The example smoke suite: run it against a deployed, not yet released shop.

    PRODSMOKE_FAKE_USERS='[{"username": "smoke-demo-1", "password": "..."}]' \
    pytest examples/smoke --prod-url http://127.0.0.1:8002 --expect-version 2.0.0 \
        --baseline-url http://127.0.0.1:8001 --gate-report gate.json -n 2
"""

from __future__ import annotations

import pytest


def test_health(prod):
    response = prod.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_version_endpoint_reports_the_deployed_version(prod, prod_target):
    if prod_target.expected_version is None:
        pytest.fail("run this suite with --expect-version: a release gate must pin the version")
    assert prod.get("/version").json()["version"] == prod_target.expected_version


def test_catalog_lists_products(prod):
    items = prod.get("/catalog").json()["items"]
    assert items, "the catalog is empty"
    assert all(item["price"] > 0 for item in items)


def test_product_page(prod):
    assert prod.get("/catalog/tea-01").json()["name"] == "Green tea"


@pytest.mark.synthetic
def test_place_an_order(prod, fake_user, cleanup):
    """A synthetic transaction: as a fake user, order, read the order back; the order is
    deleted afterwards whatever happens (and named in the gate report if it cannot be)."""
    response = prod.post("/orders", json={"items": ["tea-01"]}, auth=fake_user.auth)
    assert response.status_code == 201, f"order failed with {response.status_code}"
    order_id = response.json()["id"]
    cleanup.add(delete_order, prod, order_id, fake_user.auth,
                description=f"order {order_id} of {fake_user.username}")
    assert prod.get(f"/orders/{order_id}").json()["items"] == ["tea-01"]


def delete_order(prod, order_id, auth):
    response = prod.delete(f"/orders/{order_id}", auth=auth)
    assert response.status_code in (204, 404), f"delete answered {response.status_code}"


@pytest.mark.noncritical
def test_catalog_matches_the_released_version(prod, baseline):
    """Informative: a changed catalog degrades the verdict but does not block the release."""
    released = baseline.get("/catalog").json()["items"]
    assert prod.get("/catalog").json()["items"] == released


# --- comparing with the released version ----------------------------------------------------

@pytest.mark.parallel_run(ignore=["$.generated_at"], learn_noise=True)
def test_catalog_answers_like_the_released_version(parallel_run):
    """Parallel run: the same request to the baseline and the candidate; any difference fails.

    ``generated_at`` is ignored by name; ``request_id`` (random per answer) is learned as noise
    because the baseline is asked twice and its two answers already differ there.
    """
    response = parallel_run.get("/catalog")
    assert response.status_code == 200


@pytest.mark.variants("A", "B")
def test_recommendations_work_in_both_variants(prod, prodsmoke_variant):
    """A/B: runs once per variant; the shop must serve the assigned one (X-Variant)."""
    response = prod.get("/recommendations")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 2


@pytest.mark.canary(samples=30)
def test_product_page_is_no_worse_than_released(prod):
    """Canary: 30 runs against each version, interleaved; fails if the candidate errs
    significantly more often or is significantly (and materially) slower."""
    assert prod.get("/catalog/tea-01").status_code == 200
