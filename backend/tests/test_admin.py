"""Admin routes with the right key: reload, promote, export of the kept images."""

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

from conftest import OTHER, PROD, make_settings
from fastapi.testclient import TestClient
from flipkart_api.app import create_app
from helpers import write_registry
from test_store_helpers import distinct_png

KEY = "admin-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


def admin_client(artifacts, **overrides) -> TestClient:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    return TestClient(create_app(make_settings(artifacts, admin_key_sha256=digest, **overrides)))


def post_image(client, i: int) -> dict:
    files = {"file": ("x.png", distinct_png(i), "image/png")}
    return client.post("/v1/predict", files=files).json()


def token(prediction: dict) -> dict:
    return {"X-Feedback-Token": prediction["feedback_token"]}


def feedback(client, prediction: dict, label: str, headers: dict | None = None):
    body = {"prediction_id": prediction["id"], "label": label}
    return client.post("/v1/feedback", json=body, headers=headers or {})


def test_reload_picks_up_a_new_registry(artifacts) -> None:
    with admin_client(artifacts) as client:
        write_registry(artifacts, OTHER, [PROD, OTHER])
        assert client.get("/ready").json()["model"] == PROD
        response = client.post("/v1/admin/reload", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["production"] == OTHER
        assert client.get("/ready").json()["model"] == OTHER


def test_promote_writes_the_registry_and_serves_the_new_model(artifacts) -> None:
    with admin_client(artifacts) as client:
        response = client.post(
            "/v1/admin/promote", headers=AUTH, json={"run_id": OTHER, "reason": "A/B test won"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["production"] == OTHER and body["promotion"]["previous"] == PROD
        registry = json.loads((artifacts / "registry.json").read_text())
        assert registry["production"] == OTHER
        assert registry["history"][-1]["by"] == "api /v1/admin/promote"
        assert registry["history"][-1]["reason"] == "A/B test won"
        assert client.get("/ready").json()["model"] == OTHER
        since = client.get("/v1/stats", headers=AUTH).json()["since_promotion"]
        assert since["production"] == OTHER
        assert since["promoted_at"] == registry["history"][-1]["at"]


def test_promote_refusal_is_409_and_changes_nothing(artifacts) -> None:
    before = (artifacts / "registry.json").read_text()
    with admin_client(artifacts) as client:
        response = client.post("/v1/admin/promote", headers=AUTH, json={"run_id": "nope"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "promotion_refused"
        bad = client.post("/v1/admin/promote", headers=AUTH, json={"max_latency_ms": -1})
        assert bad.status_code == 422
    assert (artifacts / "registry.json").read_text() == before


def test_export_zip_holds_the_kept_images_and_their_labels(artifacts, tmp_path) -> None:
    first, second = distinct_png(1), distinct_png(2)
    cap = len(first) + len(second) + 10
    with admin_client(
        artifacts,
        keep_images=True,
        keep_images_min_confidence=0.0,
        keep_images_max_bytes=cap,
        keep_images_dir=tmp_path / "kept",
    ) as client:
        a, b = post_image(client, 1), post_image(client, 2)
        post_image(client, 3)  # over the size cap: not kept
        post_image(client, 1)  # a cache hit: kept once
        assert feedback(client, a, "Watches", token(a)).status_code == 200
        # An anonymous client (no token) cannot label b, and b's token does not open a.
        assert feedback(client, b, "Baby Care").status_code == 401
        assert feedback(client, a, "Baby Care", token(b)).status_code == 403
        response = client.get("/v1/admin/images/export", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    images = sorted(n for n in archive.namelist() if n.startswith("images/"))
    expected = {hashlib.sha256(d).hexdigest(): d for d in (first, second)}
    assert len(images) == 2
    for name in images:
        sha = name.rsplit("/", 1)[1].split(".")[0]
        assert name.endswith(".png") and archive.read(name) == expected[sha]
    rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    by_label = {r["predicted_label"]: r for r in rows}
    assert {r["sha256"] for r in rows} == set(expected)
    assert {a["label"], b["label"]} == set(by_label)
    labels = {r["sha256"]: r["feedback_label"] for r in rows}
    assert labels[hashlib.sha256(first).hexdigest()] == "Watches"
    assert labels[hashlib.sha256(second).hexdigest()] == ""  # the anonymous label was refused
    assert len(list((tmp_path / "kept").rglob("*.png"))) == 2


def test_images_below_the_confidence_threshold_are_not_kept(artifacts, tmp_path) -> None:
    with admin_client(
        artifacts, keep_images=True, keep_images_min_confidence=1.0, keep_images_dir=tmp_path
    ) as client:
        post_image(client, 1)
        response = client.get("/v1/admin/images/export", headers=AUTH)
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == ["labels.csv"]


def test_an_image_that_gets_feedback_is_kept_even_below_the_threshold(artifacts, tmp_path) -> None:
    with admin_client(
        artifacts, keep_images=True, keep_images_min_confidence=1.0, keep_images_dir=tmp_path
    ) as client:
        corrected = post_image(client, 1)
        post_image(client, 2)  # no feedback: not kept
        feedback(client, corrected, "Watches", token(corrected))
        response = client.get("/v1/admin/images/export", headers=AUTH)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    images = [n for n in archive.namelist() if n.startswith("images/")]
    assert len(images) == 1
    assert archive.read(images[0]) == distinct_png(1)
    rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    assert [(r["predicted_label"], r["feedback_label"]) for r in rows] == [
        (corrected["label"], "Watches")
    ]


def test_export_when_keeping_is_off_is_404(artifacts) -> None:
    with admin_client(artifacts) as client:
        response = client.get("/v1/admin/images/export", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "keeping_disabled"


def test_export_says_who_gave_each_label_and_when(artifacts, tmp_path) -> None:
    with admin_client(
        artifacts, keep_images=True, keep_images_min_confidence=0.0, keep_images_dir=tmp_path
    ) as client:
        by_token, by_admin, unlabelled = (post_image(client, i) for i in (1, 2, 3))
        assert feedback(client, by_token, "Watches", token(by_token)).status_code == 200
        assert feedback(client, by_admin, "Computers", AUTH).status_code == 200
        response = client.get("/v1/admin/images/export", headers=AUTH)
    manifest = zipfile.ZipFile(io.BytesIO(response.content)).read("labels.csv").decode()
    reader = csv.DictReader(io.StringIO(manifest))
    assert reader.fieldnames[-3:] == ["feedback_label", "label_source", "labelled_at"]
    by_sha = {r["sha256"]: r for r in reader}
    rows = {
        name: by_sha[hashlib.sha256(distinct_png(i)).hexdigest()]
        for i, name in enumerate(("token", "admin", "none"), start=1)
    }
    assert (rows["token"]["feedback_label"], rows["token"]["label_source"]) == (
        "Watches",
        "feedback-token",
    )
    assert (rows["admin"]["feedback_label"], rows["admin"]["label_source"]) == (
        "Computers",
        "admin",
    )
    assert rows["none"]["label_source"] == rows["none"]["labelled_at"] == ""
    now = datetime.now(UTC).replace(tzinfo=None)
    for name in ("token", "admin"):
        at = datetime.strptime(rows[name]["labelled_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert abs(at - now) < timedelta(hours=1)
    assert unlabelled["id"] and by_admin["id"] != by_token["id"]
