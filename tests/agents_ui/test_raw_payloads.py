"""Admins list the inbound items kept raw and download each as a file that no browser renders."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from hub.db import Database
from hub.ports import RawPayload
from hub.runtime import Hub
from tests.factories import login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def test_an_admin_pages_through_kept_payloads_and_downloads_one_as_an_attachment(client: TestClient,
                                                                                 db: Database) -> None:
    hub: Hub = client.app.state.hub  # type: ignore[attr-defined]
    mail = b"From: <x@example.com>\r\nSubject: =?bogus?=\r\n\r\n<script>alert(1)</script>"
    asyncio.run(hub.keep_raw_async(RawPayload("email", "support", "bad charset", mail, "message/rfc822", "<m1@x>")))
    asyncio.run(hub.keep_raw_async(RawPayload("email", "support", "no From", b"<html>hi</html>", "text/html")))
    admin = login(client, db, "admin")
    first = client.get("/api/v1/admin/raw-payloads?limit=1", headers=admin.headers).json()
    [newest] = first["items"]
    assert (newest["reason"], newest["content_type"], newest["size"]) == ("no From", "application/octet-stream", 15)
    rest = client.get(f"/api/v1/admin/raw-payloads?before={first['next_before']}", headers=admin.headers).json()
    assert [i["external_id"] for i in rest["items"]] == ["<m1@x>"] and rest["next_before"] is None
    assert "payload" not in newest
    download = client.get(f"/api/v1/admin/raw-payloads/{rest['items'][0]['id']}/raw", headers=admin.headers)
    assert download.status_code == 200 and download.content == mail
    assert download.headers["content-type"] == "message/rfc822"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    html = client.get(f"/api/v1/admin/raw-payloads/{newest['id']}/raw", headers=admin.headers)
    assert html.headers["content-type"] == "application/octet-stream"
    assert client.get("/api/v1/admin/raw-payloads/999999/raw", headers=admin.headers).status_code == 404
