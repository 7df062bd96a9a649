"""schemathesis against the app's own OpenAPI schema (bounded examples): never a 5xx.

The app is served by uvicorn on 127.0.0.1 with the tiny model already loaded; every generated
request, valid or not, must get a non-5xx answer, and a 4xx must carry a JSON error body.
"""
import schemathesis
from hypothesis import HealthCheck, given, settings

from test_browser import server  # noqa: F401  (the same loopback uvicorn fixture)

EXAMPLES = 40


def test_no_server_errors(server):  # noqa: F811
    url, _ = server
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    checked = []
    cases = [(r.ok(), mode) for r in schema.get_all_operations()
             for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)]
    for operation, mode in cases:
        if mode is schemathesis.GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue   # nothing to break in a GET without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case):
            response = case.call(timeout=30)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text[:200])
            if response.status_code >= 400:
                assert "error" in response.json()
            checked.append((mode.value, response.status_code))
        check()
    assert {"/predict", "/info", "/health"} <= {r.ok().path for r in schema.get_all_operations()}
    assert len(checked) >= 40
    assert any(m == "negative" and 400 <= code < 500 for m, code in checked)   # bad input was sent
