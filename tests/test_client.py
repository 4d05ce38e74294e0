"""ProdClient against the real example shop on loopback (plus pure units of URL logic)."""

from __future__ import annotations

import re

import pytest
import requests

from pytest_prodsmoke import WrongVersionError, __version__
from pytest_prodsmoke.http.client import CappedRetry, ProdClient, ResponseRecord, join_url


@pytest.mark.parametrize(("base", "url", "expected"), [
    ("https://h/shop", "/healthz", "https://h/shop/healthz"),
    ("https://h/shop/", "healthz", "https://h/shop/healthz"),
    ("https://h", "/healthz?x=1", "https://h/healthz?x=1"),
    ("https://h", "", "https://h/"),
    ("https://h/shop", "", "https://h/shop"),
    ("https://h/shop", "https://other/x", "https://other/x"),
])
def test_join_url_keeps_the_base_path(base: str, url: str, expected: str) -> None:
    assert join_url(base, url) == expected


def test_retry_after_is_capped() -> None:
    assert CappedRetry().parse_retry_after("3600") == CappedRetry.retry_after_cap_s


def test_requests_carry_user_agent_and_routing_headers(shop) -> None:
    client = ProdClient(shop.url, headers=[("X-Canary", "always")])
    seen = client.get("/echo").json()["headers"]
    assert seen["User-Agent"] == f"pytest-prodsmoke/{__version__} (synthetics)"
    assert seen["X-Canary"] == "always"
    assert repr(client) == f"<ProdClient candidate {shop.url}>"


def test_base_path_is_kept_on_a_real_server(shop) -> None:
    client = ProdClient(shop.url + "/catalog")
    assert client.get("/tea-01").json()["sku"] == "tea-01"


def test_idempotent_requests_are_retried_on_503(shop) -> None:
    client = ProdClient(shop.url, retries=2)
    before = requests.get(shop.url + "/_counts", timeout=5).json().get("/flaky", 0)
    response = client.get("/flaky")
    after = requests.get(shop.url + "/_counts", timeout=5).json()["/flaky"]
    # The shop answers 503 to the first two /flaky requests, then 404 (no such page).
    assert before == 0 and after == 3
    assert response.status_code == 404


def test_post_is_never_retried(shop) -> None:
    client = ProdClient(shop.url, retries=3, read_only=False)
    response = client.post("/flaky-post-does-not-exist", json={})
    counts = requests.get(shop.url + "/_counts", timeout=5).json()
    assert counts["/flaky-post-does-not-exist"] == 1
    assert response.status_code == 404


def test_every_request_has_a_timeout(shop) -> None:
    client = ProdClient(shop.url, timeout_s=0.2, retries=0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.get("/slow?ms=1500")


def test_responses_are_recorded_and_versions_checked(shop) -> None:
    records: list[ResponseRecord] = []
    client = ProdClient(shop.url, expected_version="2.0.0", on_response=records.append)
    client.get("/healthz?token=abc")
    assert records[0].version == "2.0.0" and records[0].status == 200
    assert records[0].path == "/healthz"  # no query string: it may carry secrets
    wrong = ProdClient(shop.url, expected_version="2.0.1", on_response=records.append)
    message = "GET /healthz: answered by version 2.0.0, expected 2.0.1"
    with pytest.raises(WrongVersionError, match=re.escape(message)):
        wrong.get("/healthz")
    assert len(records) == 2


def test_shared_adapter_survives_close(shop) -> None:
    from pytest_prodsmoke.http.client import build_adapter

    adapter = build_adapter(0)
    first = ProdClient(shop.url, adapter=adapter)
    first.get("/healthz")
    first.close()
    second = ProdClient(shop.url, adapter=adapter)
    assert second.get("/healthz").ok
    adapter.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "https://shop.example/y",
                                 "http://internal.example:81/z"])
@pytest.mark.parametrize("no_proxy_arg", [None, "shop.example"])
def test_environment_settings_match_requests(monkeypatch, url: str, no_proxy_arg) -> None:
    # ProdClient caches the environment's proxies per origin; the result must be requests' own.
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    client, plain = ProdClient("http://127.0.0.1:1"), requests.Session()
    proxies = {} if no_proxy_arg is None else {"no_proxy": no_proxy_arg}
    for _ in range(2):  # the second call answers from the cache
        for verify in (True, None, False, "/ca.pem"):
            assert client.merge_environment_settings(url, dict(proxies), None, verify, None) == \
                plain.merge_environment_settings(url, dict(proxies), None, verify, None)
    client.trust_env = plain.trust_env = False
    assert client.merge_environment_settings(url, {}, None, None, None) == \
        plain.merge_environment_settings(url, {}, None, None, None)


def test_environment_proxy_is_used_for_a_real_request(shop, monkeypatch) -> None:
    # An HTTP proxy receives the absolute URL; the example shop answers it (404 for the odd path),
    # which proves the request went to the proxy and not to the unresolvable host.
    monkeypatch.setenv("HTTP_PROXY", shop.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = ProdClient("http://unresolvable.invalid", retries=0, timeout_s=5)
    assert client.get("/healthz").status_code in (200, 404)
    monkeypatch.setenv("NO_PROXY", "unresolvable.invalid")
    with pytest.raises(requests.ConnectionError):
        ProdClient("http://unresolvable.invalid", retries=0, timeout_s=5).get("/healthz")


def test_every_hop_of_a_redirect_is_recorded_and_the_answer_pinned(shop, old_shop) -> None:
    records: list[ResponseRecord] = []
    client = ProdClient(shop.url, expected_version="2.0.0", on_response=records.append)
    assert client.get("/redirect", params={"to": f"{shop.url}/healthz"}).ok
    assert [(r.path, r.status, r.redirect) for r in records] == [
        ("/redirect", 302, True), ("/healthz", 200, False)]
    with pytest.raises(WrongVersionError, match=r"GET /healthz: answered by version 1\.0\.0"):
        client.get("/redirect", params={"to": f"{old_shop.url}/healthz"})


def test_send_of_a_prepared_request_is_pinned_and_timed_out(shop, old_shop) -> None:
    records: list[ResponseRecord] = []
    client = ProdClient(shop.url, expected_version="2.0.0", on_response=records.append,
                        timeout_s=3)
    prepared = client.prepare_request(requests.Request("GET", "/healthz"))
    assert prepared.url == f"{shop.url}/healthz"
    assert client.send(prepared).ok and len(records) == 1
    with pytest.raises(WrongVersionError):
        client.send(client.prepare_request(requests.Request("GET", f"{old_shop.url}/healthz")))


def test_the_connection_pool_refuses_requests_around_the_client(shop) -> None:
    from pytest_prodsmoke import ProdsmokeError

    client = ProdClient(shop.url)
    prepared = client.prepare_request(requests.Request("GET", "/healthz"))
    with pytest.raises(ProdsmokeError, match="around the ProdClient"):
        client.get_adapter(prepared.url).send(prepared, timeout=3)


def test_failure_causes_are_a_few_words_without_the_url() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    from pytest_prodsmoke.http.client import failure_cause

    refused = requests.exceptions.ConnectionError(MaxRetryError(
        None, "/x?token=secret", NewConnectionError(
            None, "Failed to establish a new connection: [Errno 111] Connection refused")))
    assert failure_cause(refused) == "connection refused"
    assert failure_cause(requests.exceptions.ReadTimeout("...")) == "read timeout"
    assert failure_cause(requests.exceptions.ConnectTimeout("...")) == "connect timeout"
    tls = requests.exceptions.SSLError("HTTPSConnectionPool(host='h', port=443): Max retries "
                                       "exceeded with url: /x?token=secret (Caused by SSLError("
                                       "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_"
                                       "FAILED] certificate verify failed: self-signed')))")
    assert failure_cause(tls) == ("TLS error: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                  "verify failed: self-signed")
    assert "secret" not in failure_cause(refused) + failure_cause(tls)


def test_request_log_lines_for_retries_and_no_answers() -> None:
    from pytest_prodsmoke.http.requestlog import format_request_log, latency_summary

    records = [ResponseRecord("candidate", "GET", "/flaky", 503, None, 0.0, retried=True),
               ResponseRecord("candidate", "GET", "/flaky", 404, "2.0.0", 0.004),
               ResponseRecord("candidate", "GET", "/slow", 0, None, 0.5, error="read timeout"),
               ResponseRecord("candidate", "GET", "/version", 200, "2.0.0", 0.001, probe=True)]
    text = format_request_log(records, None)
    assert text.splitlines()[0] == "3 requests"
    assert "GET    /flaky  -> 503 (retried)  [candidate]" in text
    assert "GET    /slow  -> no answer (read timeout)   500.0 ms  [candidate]" in text
    assert "[candidate, version probe]" in text
    summary = latency_summary(records)
    assert summary["count"] == 3 and summary["max_ms"] == 500.0
