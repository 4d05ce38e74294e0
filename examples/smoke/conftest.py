"""How a suite plugs its own login into pytest-prodsmoke (a user's conftest.py)."""

from __future__ import annotations


def pytest_prodsmoke_login(user, client):
    """Exchange the fake user's password for a session token, once per user and worker."""
    response = client.post("/login", json={"username": user.username,
                                           "password": user.password.reveal()})
    assert response.status_code == 200, f"login of {user.username} failed: {response.status_code}"
    return response.json()["token"]
