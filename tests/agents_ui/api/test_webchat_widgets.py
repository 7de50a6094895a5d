"""Admins see each web chat widget and the exact line a site owner pastes (issue 16); agents do not."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.db import Database
from tests.conftest import make_settings
from tests.factories import login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def settings(database_url: str) -> Any:
    return make_settings(database_url, public_url="https://hub.example.com/", webchat={"widgets": [
        {"id": "shop", "name": "Shop help", "allowed_origins": ["https://shop.example.com"], "team": "Sales",
         "identity_secret": "s3cret", "require_identity": True},
        {"id": "docs", "name": "Docs"}]})


def test_an_admin_sees_each_widget_and_its_snippet_an_agent_is_refused(client: TestClient, db: Database) -> None:
    admin, agent = login(client, db, "admin"), login(client, db, "agent")
    resp = client.get("/api/v1/admin/webchat/widgets", headers=admin.headers)
    assert resp.status_code == 200
    shop, docs = resp.json()["items"]
    assert shop == {"id": "shop", "name": "Shop help", "allowed_origins": ["https://shop.example.com"],
                    "team": "Sales", "identity_required": True, "demo_url": "https://hub.example.com/widget/demo",
                    "snippet": '<script src="https://hub.example.com/widget/loader.js" data-widget="shop" async>'
                               '</script>'}
    assert docs["snippet"] == ('<script src="https://hub.example.com/widget/loader.js" data-widget="docs" async>'
                               '</script>')
    assert (docs["team"], docs["identity_required"], docs["allowed_origins"]) == (None, False, [])
    assert docs["demo_url"] is None  # the demo page shows the first widget
    assert "s3cret" not in resp.text
    assert client.get("/api/v1/admin/webchat/widgets", headers=agent.headers).status_code == 403
