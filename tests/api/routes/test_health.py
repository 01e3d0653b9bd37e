from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["models"] == 1 and body["unavailable"] == 0


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    for path in ("/api/health", "/", "/static/css/app.css", "/api/nope", "/docs"):
        r = client.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], path
        assert r.headers.get("x-content-type-options") == "nosniff", path


def test_unknown_route_is_json_404(client: TestClient) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404 and "message" in r.json()


def test_oversized_body_is_413_with_message(client: TestClient) -> None:
    r = client.post("/api/health", content=b"x" * (9 * 2**20), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "limit" in r.json()["message"]


def test_large_responses_are_gzipped(client: TestClient) -> None:
    r = client.get("/openapi.json", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip"
