"""Issue 16: no input gets a 500. Each request that used to crash the parsing gets a 4xx in the
service's error format; 405 names the allowed methods; the OpenAPI schema documents every
status a route answers; an unexpected exception still answers JSON (see also test_e2e.py for
the same connection staying usable on a real server)."""

import base64

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api import deps
from flipkart_api.app import create_app
from flipkart_contract.testing import image_bytes

ONE_IMAGE_ROUTES = ("/v1/predict", "/predict", "/v1/preprocess", "/normalize")
JSON_ROUTES = (*ONE_IMAGE_ROUTES, "/v1/predict/batch")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def deeply_nested(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", ONE_IMAGE_ROUTES)
def test_two_file_parts_on_a_one_image_route_are_422(client, path) -> None:
    data = image_bytes()
    files = [("file", ("a.png", data, "image/png")), ("file", ("b.png", data, "image/png"))]
    body = assert_error(client.post(path, files=files), 422, "several_images")
    assert "/v1/predict/batch" in body["error"]["message"]


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_json_nested_100000_deep_is_400(client, path) -> None:
    field = b"images" if path.endswith("batch") else b"image"
    for body in (b'{"' + field + b'": ' + deeply_nested() + b"}", deeply_nested()):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_an_integer_of_5000_digits_is_400(client, path) -> None:
    field = b"images" if path.endswith("batch") else b"image"
    body = b'{"' + field + b'": ' + b"1" * 5000 + b"}"
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


def test_a_batch_item_that_is_not_a_string_fails_the_request(client) -> None:
    """The request's shape is wrong (the schema says strings); a bad image only fails its slot."""
    good = b64(image_bytes())
    for key, items in (("images", [good, 12]), ("urls", ["https://x.test/a.png", None])):
        response = client.post("/v1/predict/batch", json={key: items})
        assert_error(response, 422, "invalid_image_field")
    multipart = {"data": {"files": "not a file"}, "files": {"other": ("x.png", b"x", "image/png")}}
    text_part = client.post("/v1/predict/batch", **multipart)
    assert_error(text_part, 422, "invalid_image_field")


def test_image_and_url_both_given_is_422_and_a_null_one_is_absent(client) -> None:
    image = b64(image_bytes())
    both = client.post("/v1/predict", json={"image": image, "url": "https://x.test/a.png"})
    assert_error(both, 422, "missing_image")
    assert client.post("/v1/predict", json={"image": image, "url": None}).status_code == 200


@pytest.mark.parametrize("declared", ["9" * 5000, "\u00b2", "-1", "12abc"])
def test_a_strange_content_length_does_not_crash(client, declared) -> None:
    # Uvicorn refuses most of these itself; the app must not depend on it.
    async def call() -> list[dict]:
        sent: list[dict] = []
        body = b'{"image": "%%"}'
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/predict",
            "raw_path": b"/v1/predict",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", declared.encode("latin-1")),
            ],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80),
        }
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive() -> dict:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict) -> None:
            sent.append(message)

        await client.app(scope, receive, send)
        return sent

    sent = client.portal.call(call)
    assert sent[0]["type"] == "http.response.start"
    assert 400 <= sent[0]["status"] < 500


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/predict", "POST"),
        ("PUT", "/v1/predict/batch", "POST"),
        ("TRACE", "/health", "GET"),
        ("DELETE", "/v1/models/tiny_net", "GET"),
        ("PATCH", "/v1/admin/reload", "POST"),
    ],
)
def test_405_names_the_allowed_methods(client, method, path, allowed) -> None:
    response = client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_an_unexpected_exception_while_parsing_answers_json_500(artifacts, monkeypatch) -> None:
    async def broken(*args, **kwargs):
        raise RuntimeError("injected parsing failure")

    monkeypatch.setattr(deps, "read_sources", broken)
    app = create_app(make_settings(artifacts))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/predict", json={"image": b64(image_bytes())})
        assert_error(response, 500, "internal_error")
        assert "injected" not in response.text  # the details stay in the log
        assert response.headers["x-request-id"]  # the outer middleware saw the answer
        metrics = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="500"} 1.0' in metrics


DOCUMENTED = {
    ("post", "/v1/predict"): {"200", "400", "404", "413", "415", "422", "429", "503"},
    ("post", "/v1/predict/batch"): {"200", "400", "404", "413", "415", "422", "429", "503"},
    ("post", "/v1/preprocess"): {"200", "400", "404", "413", "415", "422", "429", "503"},
    ("post", "/predict"): {"200", "400", "413", "415", "422", "429", "503"},
    ("post", "/normalize"): {"200", "400", "413", "415", "422", "429", "503"},
    ("get", "/v1/models"): {"200"},
    ("get", "/v1/models/{model}"): {"200", "404", "422"},
    ("post", "/v1/feedback"): {"200", "400", "401", "403", "404", "422", "429", "503"},
    ("get", "/v1/predictions/{prediction_id}"): {"200", "401", "403", "404", "422", "503"},
    ("post", "/v1/admin/reload"): {"200", "401", "403"},
    ("post", "/v1/admin/promote"): {"200", "400", "401", "403", "409", "422"},
    ("get", "/v1/admin/images/export"): {"200", "401", "403", "404", "503"},
    ("get", "/ready"): {"200", "503"},
}


def test_openapi_documents_the_statuses_of_each_route(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for (method, path), statuses in DOCUMENTED.items():
        assert set(paths[path][method]["responses"]) == statuses, (method, path)


def test_openapi_bodies_say_what_the_server_takes(artifacts) -> None:
    settings = make_settings(artifacts, max_batch_images=5)
    with TestClient(create_app(settings)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    one = paths["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(one)
    assert one["multipart/form-data"]["schema"]["properties"]["file"]["minLength"] == 1
    image, url, text = one["application/json"]["schema"]["oneOf"]
    assert image["properties"]["image"]["minLength"] == 1
    assert image["properties"]["url"] == {"type": "null"}  # absent or null: not both given
    assert url["properties"]["image"] == {"type": "null"}
    # text alone: no image, a title or a description that is not empty
    assert text["properties"]["image"] == text["properties"]["url"] == {"type": "null"}
    assert {tuple(a["required"]) for a in text["anyOf"]} == {("title",), ("description",)}
    assert image["properties"]["title"]["maxLength"] == 1_000  # the request limits
    assert url["properties"]["description"]["maxLength"] == 10_000
    form = one["multipart/form-data"]["schema"]
    assert [a["required"] for a in form["anyOf"]] == [["file"], ["title"], ["description"]]
    batch = paths["/v1/predict/batch"]["post"]["requestBody"]["content"]
    files = batch["multipart/form-data"]["schema"]["properties"]["files"]
    assert (files["minItems"], files["maxItems"]) == (1, 5)  # the configured limit
    titles = batch["multipart/form-data"]["schema"]["properties"]["titles"]
    assert titles["maxItems"] == 5
    # a too long item fails its own slot (test_listing), so it is stated, not a schema bound
    assert "maxLength" not in titles["items"]
    assert "over 1000 characters: its slot answers 413" in titles["items"]["description"]
    images, _urls, texts = batch["application/json"]["schema"]["oneOf"]
    assert images["properties"]["titles"]["type"] == ["array", "null"]
    assert {tuple(a["required"]) for a in texts["anyOf"]} == {("titles",), ("descriptions",)}
    model = paths["/v1/models/{model}"]["get"]["parameters"][0]["schema"]
    assert model["pattern"] and model["maxLength"] == 200
    admin = paths["/v1/admin/reload"]["post"]
    assert admin["security"] == [{"HTTPBearer": []}]
