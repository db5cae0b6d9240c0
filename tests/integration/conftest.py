"""People acting in the sandboxes of a test module's `stack` (each flow module defines `stack`)."""

from collections.abc import AsyncIterator

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser, OaUser
from bizbus.deploy.sandbox.company import employee
from tests.integration.flowstack import FlowStack

SALESPERSON = employee("E1001")


@pytest.fixture
async def crm(stack: FlowStack) -> AsyncIterator[CrmUser]:
    """A salesperson logged in to the stack's CRM with their own password."""
    user = await CrmUser(stack.urls["crm"], SALESPERSON.email).login()
    yield user
    await user.aclose()


@pytest.fixture
async def erp(stack: FlowStack) -> AsyncIterator[ErpUser]:
    """The stack's ERP administrator."""
    user = ErpUser(stack.urls["erp"])
    yield user
    await user.aclose()


@pytest.fixture
async def oa(stack: FlowStack) -> AsyncIterator[OaUser]:
    """Staff filing and approving requests in the stack's OA."""
    user = OaUser(stack.urls["oa"])
    yield user
    await user.aclose()
