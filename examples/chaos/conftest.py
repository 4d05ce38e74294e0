"""The faults of the example experiments, from the stack that runs them (stack.py sets the
environment): a user's conftest.py returns its faults from fixtures like these."""

from __future__ import annotations

import json
import os

import pytest

from pytest_prodsmoke.chaos import KillProcess, PauseProcess


@pytest.fixture
def frozen_payments() -> PauseProcess:
    return PauseProcess(int(os.environ["SHOP_PAYMENTS_PID"]), name="the payment service")


@pytest.fixture
def lost_instance() -> KillProcess:
    return KillProcess(int(os.environ["SHOP_INSTANCE_PID"]), name="shop instance 1",
                       restart=json.loads(os.environ["SHOP_INSTANCE_RESTART"]), timeout_s=10)
