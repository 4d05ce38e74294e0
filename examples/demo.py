"""`make demo`: the main job of pytest-prodsmoke on the bundled example shop.

Starts the shop as the released baseline (1.0.0) and as candidates, runs the example smoke suite
through the gate against each, and checks that every verdict came out as it should:

1. candidate 2.0.0, healthy once it has started   -> PASS, exit 0: promote
2. candidate 2.0.1, orders broken                 -> FAIL, exit 1: roll back
3. rollout half done: 1.0.0 answers some requests -> FAIL (wrong_version), exit 1
4. not deployed: only 1.0.0 answers               -> FAIL (not_ready after 5 s), exit 1
5. candidate 2.0.2 changed every price by 10 %     -> FAIL (parallel_run_mismatch), exit 1

The suite also runs an A/B check (both variants must be served as assigned) and a canary
check (30 samples against each version) in every scenario.

Every run waits for the candidate first (--wait-ready), as a pipeline would right after deploy.

Then the same suite as a monitor (`prodsmoke monitor`, a cycle every half second): it watches
the healthy shop, the shop's orders break, one `firing` alert is delivered after 2 failed of 3
cycles, the shop is repaired, one `resolved` follows; the timeline and the final metrics are
printed.

Then the chaos experiments (examples/chaos/, with --chaos) against the shop made resilient (two
instances behind Debian's HAProxy, a payment service called with a timeout and a circuit
breaker): losing an instance and freezing the payment service both pass; against a shop
without its breaker the second one is `deviated` and the gate fails. Each experiment's phases
and verdict are printed.

Then the broken candidate once more with its spans exported over OTLP/HTTP to a real receiver
(oteltest's, on loopback): the failed check's span and its requests' spans are printed, each
marked when the shop received it as the parent of the request (its --trace-log).

Exits 0 when all five verdicts, the monitor's two alerts, the traces and the three experiment
verdicts are as expected. Reports go to demo-out/<scenario>/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.shop.launch import running_shop  # noqa: E402

OUT = ROOT / "demo-out"
# Fake users come from the environment, as they would from a CI secret.
DEMO_ENV = {**os.environ, "PRODSMOKE_FAKE_USERS": json.dumps([
    {"username": "smoke-demo-1", "password": "demo-password-1"},
    {"username": "smoke-demo-2", "password": "demo-password-2"},
])}


@dataclass
class Scenario:
    name: str
    title: str
    shop_version: str
    shop_faults: tuple[str, ...]
    expect_version: str
    expected_verdict: str


SCENARIOS = (
    Scenario("pass", "healthy candidate 2.0.0, ready after 2 s", "2.0.0",
             ("--ready-after", "2"), "2.0.0", "pass"),
    Scenario("broken", "candidate 2.0.1 with broken orders", "2.0.1", ("--fail", "/orders"),
             "2.0.1", "fail"),
    Scenario("wrong-version", "rollout half done: 1.0.0 answers every 3rd request", "2.0.0",
             ("--old-version", "1.0.0", "--old-every", "3"), "2.0.0", "fail"),
    Scenario("not-ready", "not deployed: only 1.0.0 answers", "1.0.0", (), "2.0.0", "fail"),
    Scenario("repriced", "candidate 2.0.2 changed every price by 10 %", "2.0.2",
             ("--price-factor", "1.1"), "2.0.2", "fail"),
)


def run_scenario(scenario: Scenario, baseline_url: str) -> tuple[int, dict]:
    out = OUT / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    with running_shop(scenario.shop_version, *scenario.shop_faults) as candidate:
        print(f"\n### {scenario.title}: candidate {candidate.url}, baseline {baseline_url}",
              flush=True)
        command = [
            sys.executable, "-m", "pytest", str(ROOT / "examples" / "smoke"), "-n", "2",
            "-p", "no:cacheprovider", "-q", "--no-header", "--tb=short",
            "--prod-url", candidate.url, "--baseline-url", baseline_url,
            "--expect-version", scenario.expect_version,
            "--wait-ready=5", "--ready-interval", "0.5",
            "--gate-report", str(out / "gate.json"), "--junitxml", str(out / "junit.xml"),
        ]
        exit_status = subprocess.call(command, cwd=ROOT, env=DEMO_ENV)
    report = json.loads((out / "gate.json").read_text()) if (out / "gate.json").exists() else {}
    return exit_status, report


def run_monitor(baseline_url: str) -> bool:
    """The monitor scenario: healthy -> orders broken at cycle 2 -> repaired at cycle 5."""
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):  # the team's webhook
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    def post(url: str, body: dict) -> None:
        request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).close()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    metrics: list[str] = []
    print("\n### monitor: healthy shop 2.0.0, orders break after cycle 2, repaired after "
          "cycle 5", flush=True)
    with running_shop("2.0.0") as shop:
        # A cycle every half second to keep the demo short; each may take longer on a busy
        # machine (the next one then starts right after it: cycles never overlap).
        command = [sys.executable, "-m", "pytest_prodsmoke.cli", "monitor", "--every", "0.5",
                   "--cycle-timeout", "60", "--max-cycles", "10", "--location", "demo",
                   "--metrics-port", "0",
                   "--webhook", f"http://127.0.0.1:{hook.server_address[1]}/alerts", "--",
                   str(ROOT / "examples" / "smoke"), "-q", "-p", "no:cacheprovider",
                   "--prod-url", shop.url, "--baseline-url", baseline_url,
                   "--expect-version", "2.0.0"]
        monitor = subprocess.Popen(command, cwd=ROOT, env=DEMO_ENV, stdout=subprocess.PIPE,
                                   text=True)
        assert monitor.stdout is not None
        metrics_url = ""
        for line in monitor.stdout:
            print(line, end="", flush=True)
            if "metrics on " in line:
                metrics_url = line.rsplit(" ", 1)[1].strip()
            if line.startswith("prodsmoke monitor: cycle 2 "):
                post(shop.url + "/_faults", {"fail": ["/orders"]})
                print("  -- the shop's orders break --", flush=True)
            if line.startswith("prodsmoke monitor: cycle 5 "):
                post(shop.url + "/_faults", {"fail": []})
                print("  -- the shop is repaired --", flush=True)
            if line.startswith("prodsmoke monitor: cycle 9 ") and metrics_url:
                with urllib.request.urlopen(metrics_url, timeout=5) as answer:
                    metrics = [m for m in answer.read().decode().splitlines()
                               if (m.startswith("prodsmoke_check_state")
                                   and "test_place_an_order" in m)
                               or m.startswith("prodsmoke_cycle")]
        status = monitor.wait()
    hook.shutdown()
    print("\nalerts delivered to the webhook:")
    for alert in received:
        print(f"  {alert['at']} {alert['status']:8} {alert['check']} ({alert['state']}): "
              f"{alert['reason'] or '-'}")
    print("final metrics (the broken check, the cycles):")
    for line in metrics:
        print(f"  {line}")
    expected = [("firing", "examples/smoke/test_shop.py::test_place_an_order"),
                ("resolved", "examples/smoke/test_shop.py::test_place_an_order")]
    return status == 0 and [(a["status"], a["check"]) for a in received] == expected


def run_chaos() -> bool:
    """The example experiments against the resilient shop and against one without breaker."""
    from examples.chaos.stack import running_stack

    expected = {True: {"test_the_shop_survives_losing_an_instance": "passed",
                       "test_orders_survive_a_frozen_payment_service": "passed"},
                False: {"test_the_shop_survives_losing_an_instance": "passed",
                        "test_orders_survive_a_frozen_payment_service": "deviated"}}
    all_as_expected = True
    for breaker in (True, False):
        name = "chaos" if breaker else "chaos-no-breaker"
        out = OUT / name
        out.mkdir(parents=True, exist_ok=True)
        title = ("the resilient shop: 2 instances behind HAProxy, payments with timeout + breaker"
                 if breaker else "the same shop without its circuit breaker")
        print(f"\n### chaos experiments: {title}", flush=True)
        with running_stack(breaker=breaker) as stack:
            status = subprocess.call(
                [sys.executable, "-m", "pytest", str(ROOT / "examples" / "chaos"), "-q",
                 "-p", "no:cacheprovider", "--no-header", "--tb=line", "--chaos",
                 "--chaos-allow", "shop instance 1", "--chaos-allow", "the payment service",
                 "--prod-url", stack.url, "--prod-timeout", "2",
                 "--gate-report", str(out / "gate.json")],
                cwd=ROOT, env={**os.environ, **stack.env})
        report = json.loads((out / "gate.json").read_text()) if (out / "gate.json").exists() \
            else {}
        found = {c["nodeid"].rsplit("::", 1)[1]: c["chaos"]["verdict"]
                 for c in report.get("checks", []) if "chaos" in c}
        ok = found == expected[breaker] and (status == 0) is breaker
        all_as_expected &= ok
        for check, verdict in found.items():
            print(f"  {'as expected' if ok else 'UNEXPECTED':12} {check}: {verdict}")
    return all_as_expected


class SpanSink:
    """oteltest's receiver keeps what it gets here: the spans, decoded."""

    def __init__(self) -> None:
        self.spans: list[dict] = []

    def handle_trace(self, request, headers) -> None:
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append({
                        "name": span.name, "trace": span.trace_id.hex(),
                        "id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                        "error": span.status.code == 2, "status": span.status.message,
                        "attributes": {a.key: a.value.WhichOneof("value") and getattr(
                            a.value, a.value.WhichOneof("value")) for a in span.attributes}})

    def handle_metrics(self, request, headers) -> None:
        pass

    def handle_logs(self, request, headers) -> None:
        pass


def run_traces(baseline_url: str) -> bool:
    """The broken candidate again, its spans exported to an OTLP/HTTP receiver (oteltest's, on
    loopback): the failed check's span tree, and the trace context the shop received."""
    import logging
    import time

    from oteltest.sink import HttpSink

    from examples.chaos.stack import free_port

    out = OUT / "traces"
    out.mkdir(parents=True, exist_ok=True)
    trace_log = out / "shop-traces.jsonl"
    trace_log.unlink(missing_ok=True)
    sink, port = SpanSink(), free_port()
    receiver = HttpSink(sink, logging.getLogger("demo-otlp"), port=port, daemon=True)
    receiver.start()
    time.sleep(0.3)
    print(f"\n### traces: the broken candidate, spans exported to http://127.0.0.1:{port}",
          flush=True)
    try:
        with running_shop("2.0.1", "--fail", "/orders", "--trace-log", str(trace_log)) as shop:
            status = subprocess.call(
                [sys.executable, "-m", "pytest", str(ROOT / "examples" / "smoke"), "-q",
                 "-p", "no:cacheprovider", "--no-header", "--tb=no", "-n", "2",
                 "--prod-url", shop.url, "--baseline-url", baseline_url,
                 "--expect-version", "2.0.1", "--gate-report", str(out / "gate.json"),
                 "--otlp-endpoint", f"http://127.0.0.1:{port}"], cwd=ROOT, env=DEMO_ENV)
    finally:
        receiver.stop()
    report = json.loads((out / "gate.json").read_text())
    failed = next(s for s in sink.spans if s["name"].endswith("test_place_an_order"))
    children = [s for s in sink.spans if s["parent"] == failed["id"]]
    received = {json.loads(line)["traceparent"] for line in trace_log.read_text().splitlines()}
    print(f"  {failed['name']}  trace {failed['trace']}  "
          f"{'ERROR: ' + failed['status'] if failed['error'] else 'OK'}")
    for child in children:
        attributes = child["attributes"]
        joined = f"00-{child['trace']}-{child['id']}-01" in received
        print(f"    {child['name']:6} {attributes.get('url.full')} -> "
              f"{attributes.get('http.response.status_code', '-')}"
              f"{'  (the shop got this span as its parent)' if joined else ''}")
    run = next(s for s in sink.spans if s["name"] == "prodsmoke run")
    print(f"  prodsmoke run  verdict {run['attributes'].get('prodsmoke.verdict')}, "
          f"the report counts {report['traces']['exported']} check and request spans exported; "
          f"the receiver got {len(sink.spans)} with the run span")
    return (status == 1 and failed["error"] and bool(children)
            and all(f"00-{c['trace']}-{c['id']}-01" in received for c in children)
            and failed["trace"] == next(c["trace_id"] for c in report["checks"]
                                         if c["nodeid"] == failed["name"])
            and run["attributes"].get("prodsmoke.verdict") == "fail")


def main() -> int:
    results = []
    with ExitStack() as stack:
        baseline = stack.enter_context(running_shop("1.0.0"))
        for scenario in SCENARIOS:
            exit_status, report = run_scenario(scenario, baseline.url)
            results.append((scenario, exit_status, report))
        monitor_ok = run_monitor(baseline.url)
        traces_ok = run_traces(baseline.url)
    chaos_ok = run_chaos()

    print("\n=== pytest-prodsmoke demo ===")
    all_as_expected = True
    for scenario, exit_status, report in results:
        verdict = report.get("verdict", "<no report>")
        ok = verdict == scenario.expected_verdict and (exit_status == 0) == (verdict == "pass")
        all_as_expected &= ok
        codes = ", ".join(r["code"] for r in report.get("reasons", [])) or "-"
        print(f"{'as expected' if ok else 'UNEXPECTED':12} {scenario.title:50} "
              f"verdict {verdict.upper():5} exit {exit_status}  reasons: {codes}")
        print(f"{'':12} report: {OUT / scenario.name / 'gate.json'}")
    print(f"{'as expected' if monitor_ok else 'UNEXPECTED':12} monitor: one firing after 2 of "
          "3 failed cycles, one resolved after 2 passes")
    all_as_expected &= monitor_ok
    print(f"{'as expected' if traces_ok else 'UNEXPECTED':12} traces: the failed check's span "
          "is an error, its requests' spans are the parents the shop received")
    all_as_expected &= traces_ok
    print(f"{'as expected' if chaos_ok else 'UNEXPECTED':12} chaos: an instance lost and the "
          "payments frozen are not noticed; without the breaker the gate fails (deviated)")
    all_as_expected &= chaos_ok
    print("demo " + ("succeeded: every verdict came out as it should" if all_as_expected
                     else "FAILED: a verdict was not what it should be"))
    return 0 if all_as_expected else 1


if __name__ == "__main__":
    sys.exit(main())
