"""First light: the world builds and the API answers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.world import World


def test_a_bank_sees_the_receipt_pledged_to_it(
    client: TestClient, auth: Callable[[str], dict[str, str]], world: World
) -> None:
    response = client.get(f"/api/v1/receipts/{world.receipts['pledged']}", headers=auth("bank"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pledged"


def test_the_other_bank_gets_404_for_it(
    client: TestClient, auth: Callable[[str], dict[str, str]], world: World
) -> None:
    response = client.get(f"/api/v1/receipts/{world.receipts['pledged']}", headers=auth("bank2"))
    assert response.status_code == 404
