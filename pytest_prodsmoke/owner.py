"""The gate's owner: lives in the xdist controller (or the only process), records every report,
decides the verdict, writes the reports, and sets the exit status."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodsmoke import __version__
from pytest_prodsmoke.faults import inject
from pytest_prodsmoke.gate.facts import PROPERTY_PREFIX
from pytest_prodsmoke.gate.recorder import GateRecorder, cwd_relative
from pytest_prodsmoke.http.client import ProdClient, TrafficTags
from pytest_prodsmoke.outputs.junit import (
    add_gate_testcase,
    add_suite_properties,
    chaos_phase_properties,
    find_logxml,
    junit_requested,
)
from pytest_prodsmoke.outputs.report import (
    GateCase,
    RunInfo,
    build_report,
    failure_report,
    gate_case,
    remove_stale,
    render_gate_block,
    scrub_directory,
    scrubbed_json,
    write_json_atomic,
    write_text_atomic,
)
from pytest_prodsmoke.safety.redact import REGISTRY, display_url
from pytest_prodsmoke.safety.signals import (
    SIGTERM_MESSAGE,
    TermSignalHandler,
    cancel_workers,
    finish_teardown,
)
from pytest_prodsmoke.settings import Settings
from pytest_prodsmoke.state import JOURNAL_DIR, ProcessState

if TYPE_CHECKING:
    from pytest_prodsmoke.gate.rules import Verdict
    from pytest_prodsmoke.methods.readiness import Probe
    from pytest_prodsmoke.outputs.commands import CommandResult

# pytest prints the terminal summary only for these exit statuses (see TerminalReporter).
_SUMMARY_STATUSES = (0, 1, 2, 4, 5)


class GateOwner:
    """Lives in the xdist controller (or the only process) and turns the run into a verdict."""

    def __init__(self, config: pytest.Config, settings: Settings, signals: TermSignalHandler,
                 distributed: bool, run_id: str, run_dir: Path | None,
                 startup_secrets: list[str], state: ProcessState) -> None:
        self.config = config
        self.state = state  # this process's; its not_ready flag stops local collection
        self.settings = settings
        self.distributed = distributed
        self.recorder = GateRecorder(display_id=cwd_relative(config.rootpath,
                                                              config.invocation_params.dir))
        self.signals = signals
        self.run_id = run_id
        self.run_dir = run_dir  # leases and the rate budget; removed at the end
        self.startup_secrets = startup_secrets  # for ::add-mask:: under GitHub Actions
        self.started_at = time.time()
        self.xdist: Any = None
        self.verdict: Verdict | None = None
        self.not_ready: str | None = None
        self.probe_seen: str | None = None  # what --wait-ready's last probe saw
        self.command_result: CommandResult | None = None
        self.command_for = ""  # the verdict whose --on-gate-* command ran
        self.report_error: str | None = None
        self.chaos_recovery: Any = None  # methods/chaos/runs.ChaosRecovery, with --chaos
        self.traces: Any = None  # outputs/traces/plugin.RunTraces, when the run exports traces
        self.traces_summary: dict[str, Any] | None = None  # for the report
        self.block_printed = False
        self.junit_without_case_properties = (junit_requested(config)
                                              and config.getini("junit_family") == "xunit2")
        self.junit_case_properties = (junit_requested(config)
                                      and not self.junit_without_case_properties)
        if distributed and run_dir is not None:
            # SIGTERM reaching only this process still reaches the checks (safety/signals.py).
            signals.forward = lambda: cancel_workers(run_dir) > 0
            signals.grace_s = settings.cancel_grace_s

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started_at = time.time()
        if self.settings.gate_report is not None:
            problem = remove_stale(self.settings.gate_report)
            if problem:
                self.recorder.on_internal_error(problem)
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None and self.startup_secrets:
            terminal.ensure_newline()
            # GitHub Actions masks these values in everything the job prints from now on
            # (single-line values only), a second line of defence behind our own masking.
            for value in self.startup_secrets:
                if "\n" not in value:
                    terminal.write_line(f"::add-mask::{value}")
        # Before xdist's own sessionstart (trylast) starts the workers: they learn the outcome.
        if self.settings.wait_ready_s is not None and not self.config.getoption("collectonly"):
            self._wait_for_candidate()

    def _wait_for_candidate(self) -> None:
        """--wait-ready: every target must become ready within the one deadline."""
        settings = self.settings
        assert settings.wait_ready_s is not None
        deadline = time.monotonic() + settings.wait_ready_s
        several = len(settings.prod_urls) > 1
        self.signals.install()  # a cancel while waiting must still end in a report
        for label, url in zip(settings.target_labels, settings.prod_urls, strict=True):
            message = self._wait_for_target(url, max(deadline - time.monotonic(), 0.001),
                                            settings.wait_ready_s)
            if message is not None:
                self._give_up(f"{label}: {message}" if several else message)
                return

    def _wait_for_target(self, url: str, deadline_s: float, given_s: float) -> str | None:
        """Poll one target for up to ``deadline_s`` (what is left of the ``given_s`` the user
        gave); None when it is ready, else why not."""
        from pytest_prodsmoke.methods.readiness import (  # --wait-ready only
            http_probe,
            wait_until_ready,
        )

        settings = self.settings
        client = ProdClient(
            url, headers=settings.headers, timeout_s=settings.timeout_s,
            retries=0,  # the loop is the retry; urllib3's backoff would only blur the progress
            version_header=settings.version_header, verify=settings.tls_verify,
            tags=TrafficTags(run_id=self.run_id, run_header=settings.run_header,
                             check_header=settings.check_header,
                             signing_key=settings.signing_key))
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")

        def progress(probe: Probe, left: float) -> None:
            if terminal is not None:
                terminal.write_line(f"prodsmoke: waiting for {display_url(url)}"
                                    f"{settings.ready_path}: {probe.describe()}, "
                                    f"{left:.0f} s left")

        try:
            result = wait_until_ready(
                http_probe(client, settings.ready_path, settings.version_path,
                           settings.version_field, settings.timeout_s),
                settings.expect_version, deadline_s, settings.ready_interval_s, progress)
        except KeyboardInterrupt:
            # pytest would end the session before its sessionfinish, so without a report.
            reason = SIGTERM_MESSAGE if self.signals.received else "KeyboardInterrupt"
            self.recorder.on_interrupt(f"{reason} while waiting for the candidate")
            return "the wait for the candidate was interrupted"
        finally:
            client.close()
        if result.last is not None:
            self.probe_seen = result.last.describe()
        if result.ready:
            if terminal is not None:
                terminal.write_line(f"prodsmoke: {display_url(url)} ready after "
                                    f"{result.waited_s:.1f} s "
                                    f"({result.last.describe() if result.last else ''})")
            return None
        return result.failure_message(given_s, settings.expect_version)

    def _give_up(self, message: str) -> None:
        """No check will run: this process deselects them all, and so will every worker."""
        self.not_ready = message
        self.state.not_ready = message
        if self.xdist is not None:
            self.xdist.shared["not_ready"] = message

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.settings.state_dir is not None and self.verdict is not None and \
                not self.report_error:
            from pytest_prodsmoke.safety.cleanup import forget_reported

            forget_reported(self.settings.state_dir, self.run_id)  # they are in its report

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.distributed:
            self.recorder.on_collected([item.nodeid for item in session.items])

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.passed:
            self._guard(self.recorder.on_collect_report, report)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._guard(self.recorder.on_test_report, report)
        if self.junit_without_case_properties and report.user_properties:
            # pytest's default junit_family (xunit2) allows no <properties> in a <testcase>:
            # the recorder kept the properties as logged (above; a new list replaces them
            # here), so JUnit, which comes after this plugin (registered before it), writes
            # none of the check's facts. Other properties are the user's.
            report.user_properties = [(name, value) for name, value in report.user_properties
                                      if not str(name).startswith(PROPERTY_PREFIX)]
        elif self.junit_case_properties and report.user_properties:
            # A junit_family with testcase properties: a chaos experiment's phases, one each.
            report.user_properties = [*report.user_properties,
                                      *chaos_phase_properties(report.user_properties)]

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if self.signals.received:
            self.recorder.on_interrupt(self.signals.message)
        else:
            self.recorder.on_interrupt(excinfo.exconly().strip().splitlines()[-1][:300])

    @pytest.hookimpl
    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        lines = str(excrepr).strip().splitlines()
        self.recorder.on_internal_error(lines[-1][:300] if lines else "unknown internal error")

    def _guard(self, handler: Any, *args: Any) -> None:
        """Record our own bugs as internal errors (which fail the gate) instead of crashing."""
        try:
            handler(*args)
        except Exception as exc:
            self.recorder.on_internal_error(f"pytest-prodsmoke: {type(exc).__name__}: {exc}")

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int
                             ) -> Generator[None, None, None]:
        # Runs before the non-wrapper sessionfinish hooks, in particular before the JUnit
        # writer, so the suite properties make it into the file.
        if not self.config.getoption("collectonly", False):
            self.signals.finishing = True
            self.signals.stop_grace()
            if not self.distributed:
                self._finish_teardown(session)
            try:
                self._finish(session, int(exitstatus))
            except Exception as exc:  # the gate itself broke: never a quiet pass
                self._emergency(session, exc)
        try:
            return (yield)
        finally:
            if self.verdict is not None and not self.verdict.ok and session.exitstatus == 0:
                session.exitstatus = self.verdict.exit_status
            if self.verdict is not None and int(exitstatus) not in _SUMMARY_STATUSES:
                self._print_block()  # pytest will not call pytest_terminal_summary

    def _finish_teardown(self, session: pytest.Session) -> None:
        """An interrupted check's teardown (its cleanup) runs before the verdict, so the
        report can say whether it left fake data behind."""
        problem = finish_teardown(session)
        if problem is not None:
            self.recorder.on_interrupt(f"the teardown after the interruption failed: {problem}")

    def _decide(self, session: pytest.Session, exitstatus: int) -> Verdict:
        stops = tuple(str(s) for s in (session.shouldfail, session.shouldstop) if s)
        facts = self.recorder.facts(exitstatus, self.settings, stops, self.not_ready)
        journal_base = self.settings.state_dir or self.run_dir
        if journal_base is not None and (journal_base / JOURNAL_DIR).is_dir():
            from pytest_prodsmoke.safety.cleanup import read_journal  # checks that cleaned up

            # Undo actions of this run still journalled now never ran to the end.
            facts = facts._replace(journal=tuple(read_journal(journal_base, self.run_id)))
        if self.settings.state_dir is not None:
            from pytest_prodsmoke.safety.replay import read_results

            facts = facts._replace(replayed=read_results(self.run_dir))
        if self.chaos_recovery is not None:
            facts = facts._replace(chaos_recovered=tuple(self.chaos_recovery.results))
        inject("decide")
        # The rules load when the gate decides: nothing before the end of the run needs them.
        from pytest_prodsmoke.gate.rules import decide

        return decide(facts)

    def _run_info(self, exitstatus: int) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=time.time(),
            plugin_version=__version__,
            pytest_version=pytest.__version__,
            workers=len(self.xdist.workers_seen) if self.xdist else 0,
            pytest_exit_status=exitstatus,
        )

    def _write_report(self, verdict: Verdict, exitstatus: int) -> None:
        path = self.settings.gate_report
        if path is None:
            return
        try:
            report = build_report(verdict, self.settings, self._run_info(exitstatus))
            result = self.command_result
            report["traces"] = self.traces_summary
            report["command"] = None if result is None else {
                "verdict": self.command_for,  # the --on-gate-<verdict> option it came from
                "argv": list(result.argv), "returncode": result.returncode,
                "duration_s": round(result.duration_s, 3), "error": result.error or None,
            }
            write_text_atomic(path, scrubbed_json(report, REGISTRY.scrub, REGISTRY.scrub_any))
            self.report_error = None
        except OSError as exc:
            self.report_error = f"{type(exc).__name__}: {exc}"

    def _scrub_other_tools_output(self) -> None:
        alluredir = self.config.getoption("allure_report_dir", None)
        if alluredir:
            scrub_directory(Path(alluredir), REGISTRY.scrub, self.started_at)

    def _write_allure(self, verdict: Verdict) -> bool:
        """The verdict for Allure: its environment panel (Allure has no API for it: it reads
        environment.properties) and a result of its own that fails when the gate fails."""
        alluredir = self.config.getoption("allure_report_dir", None)
        if not alluredir:
            return True
        from pytest_prodsmoke.outputs.allure import write_gate_result  # --alluredir only

        lines = [f"prodsmoke.verdict={verdict.status}",
                 f"prodsmoke.target={display_url(self.settings.prod_url or '')}",
                 f"prodsmoke.expected_version={self.settings.expect_version or ''}",
                 "prodsmoke.observed_versions="
                 + ", ".join(f"{v} x{n}" for v, n in verdict.observed_versions.items())]
        ok = True
        try:
            write_text_atomic(Path(alluredir) / "environment.properties",
                              REGISTRY.scrub("\n".join(lines) + "\n"))
        except OSError as exc:
            self.recorder.on_internal_error(f"cannot write Allure environment.properties: {exc}")
            ok = False
        try:
            write_gate_result(Path(alluredir), self._scrubbed_case(verdict), self.started_at,
                              time.time())
        except OSError as exc:
            self.recorder.on_internal_error(f"cannot write the Allure gate result: {exc}")
            ok = False
        return ok

    @staticmethod
    def _scrubbed_case(verdict: Verdict) -> GateCase:
        case = gate_case(verdict)
        return GateCase(case.status, REGISTRY.scrub(case.message), REGISTRY.scrub(case.details))

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        """The end of the run, one stage after the other: decide; write the report (what the
        hook and the command read); call the pytest_prodsmoke_gate hook; run the --on-gate-*
        command; then write every output with the final verdict. A stage that fails (a hook
        that raises, a command that fails, an output that cannot be written) fails the gate,
        and the stages after it see that verdict."""
        self._scrub_other_tools_output()
        logxml = find_logxml(self.config)
        if junit_requested(self.config) and logxml is None:
            self.recorder.on_internal_error(
                "cannot add gate properties to the JUnit XML (pytest's LogXML API moved)")

        def decide_now() -> Verdict:
            return self._decide(session, exitstatus)

        verdict = decide_now()
        self._flush_check_spans()  # the report says what they exported
        if self._early_report_read() and not self._report_written(verdict, exitstatus):
            verdict = decide_now()
        verdict = self._call_gate_hook(verdict, decide_now, exitstatus)
        verdict = self._run_gate_command(verdict, decide_now)
        verdict = self._write_outputs(verdict, decide_now, exitstatus)
        self.verdict = verdict
        if logxml is not None:
            add_suite_properties(logxml, {
                "prodsmoke.verdict": verdict.status,
                "prodsmoke.target": ", ".join(display_url(u) for u in self.settings.prod_urls),
                "prodsmoke.expected_version": self.settings.expect_version or "",
                "prodsmoke.exit_status": str(verdict.exit_status),
                **({"prodsmoke.run_trace_id": self.traces.trace_id} if self.traces else {}),
            })
            add_gate_testcase(logxml, self._scrubbed_case(verdict),
                              time.time() - self.started_at)
        session.exitstatus = verdict.exit_status
        self._end_run_span(verdict.status, verdict.exit_status,
                           [(r.code, r.message) for r in verdict.reasons], verdict.counts)

    def _flush_check_spans(self) -> None:
        """Every check span exported (within the bound), before the report says how many."""
        if self.traces is None:
            return
        try:
            for counts in getattr(self.xdist, "worker_traces", ()):
                self.traces.add_worker(counts)
            self.traces_summary = self.traces.checks_done(
                self.state.spans, len(self.xdist.workers_seen) if self.xdist else 0)
        except Exception as exc:  # export never changes a verdict, not even by our own bug
            self.traces_summary = {"error": f"{type(exc).__name__}: {exc}"}

    def _end_run_span(self, status: str, exit_status: int, reasons: list[tuple[str, str]],
                      counts: Any) -> None:
        """The run span, with the final verdict (after every output: nothing can change it
        now), exported within what is left of the flush bound."""
        if self.traces is None:
            return
        try:
            self.traces.end_run(status, exit_status, reasons, counts, self.settings.prod_urls,
                                self.settings.expect_version)
        except Exception as exc:
            self.traces_summary = {"error": f"{type(exc).__name__}: {exc}"}

    def _early_report_read(self) -> bool:
        """Whether anything reads the report before the final one is written: a
        pytest_prodsmoke_gate implementation or an --on-gate-* command. (Without either, the
        report is written once, with the final verdict: a 300-check report costs ~5 ms.)"""
        return bool(self.config.hook.pytest_prodsmoke_gate.get_hookimpls()) or any(
            self.settings.gate_command(status) is not None
            for status in ("pass", "degraded", "fail"))

    def _report_written(self, verdict: Verdict, exitstatus: int) -> bool:
        """Write the gate report; a report that cannot be written fails the gate (once)."""
        self._write_report(verdict, exitstatus)
        if not self.report_error:
            return True
        problem = f"gate report not written: {self.report_error}"
        if problem not in self.recorder.internal_errors:
            self.recorder.on_internal_error(problem)
        return False

    def _call_gate_hook(self, verdict: Verdict, decide_now: Callable[[], Verdict],
                        exitstatus: int) -> Verdict:
        try:
            self.config.hook.pytest_prodsmoke_gate(config=self.config, verdict=verdict)
        except Exception as exc:  # a broken notifier must not look like a pass
            self.recorder.hook_errors.append(
                f"pytest_prodsmoke_gate hook raised {type(exc).__name__}: {exc}")
            verdict = decide_now()
            self._report_written(verdict, exitstatus)  # the command reads this one
        return verdict

    def _write_outputs(self, verdict: Verdict, decide_now: Callable[[], Verdict],
                       exitstatus: int) -> Verdict:
        """The final verdict into every output: the report, Allure, GitHub's job summary (last:
        it is appended to, so it is written once). An output that cannot be written fails the
        gate; the outputs written before it are written again, so that all say so."""
        outputs: list[Callable[[Verdict], bool]] = [
            lambda v: self._report_written(v, exitstatus), self._write_allure,
            self._tell_github]
        written: list[Callable[[Verdict], bool]] = []
        for output in outputs:
            if output(verdict):
                written.append(output)
                continue
            verdict = decide_now()
            for earlier in written:
                earlier(verdict)
        return verdict

    def _tell_github(self, verdict: Verdict) -> bool:
        """The job summary, under GitHub Actions (annotations come with the gate block)."""
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            from pytest_prodsmoke.outputs.github import step_summary

            try:
                with open(summary_path, "a", encoding="utf-8") as handle:  # shared by all steps
                    handle.write(REGISTRY.scrub(step_summary(verdict, self.settings,
                                                             self.probe_seen)))
            except OSError as exc:
                self.recorder.on_internal_error(f"cannot write GITHUB_STEP_SUMMARY: {exc}")
                return False
        return True

    def _run_gate_command(self, verdict: Verdict, decide_now: Callable[[], Verdict]) -> Verdict:
        """Run the --on-gate-<verdict> command once; its failure fails the gate."""
        argv = self.settings.gate_command(verdict.status)
        if argv is None:
            return verdict
        from pytest_prodsmoke.outputs.commands import run_command

        env = {
            "PRODSMOKE_VERDICT": verdict.status,
            "PRODSMOKE_EXIT_STATUS": str(verdict.exit_status),
            "PRODSMOKE_GATE_REPORT": str(self.settings.gate_report or ""),
            "PRODSMOKE_TARGET": display_url(self.settings.prod_url or ""),
            "PRODSMOKE_EXPECTED_VERSION": self.settings.expect_version or "",
            "PRODSMOKE_RUN_ID": self.run_id,
        }
        self.command_for = verdict.status
        self.command_result = run_command(argv, env, self.settings.gate_command_timeout_s,
                                          cwd=str(self.config.invocation_params.dir))
        if not self.command_result.ok:
            # A promote or a rollback that did not happen must not end green.
            self.recorder.command_errors.append(
                f"--on-gate-{verdict.status} command {shlex.join(argv)!r} "
                f"{self.command_result.error}")
            verdict = decide_now()
        return verdict  # the final report says what the command did

    def _emergency(self, session: pytest.Session, exc: Exception) -> None:
        message = f"pytest-prodsmoke failed to decide the gate: {type(exc).__name__}: {exc}"
        exit_status = 3  # pytest's INTERNAL_ERROR
        session.exitstatus = exit_status
        self.report_error = message
        if self.settings.gate_report is not None:
            with contextlib.suppress(OSError):
                write_json_atomic(self.settings.gate_report, failure_report(
                    message, self.settings, self._run_info(exit_status), exit_status))
        case = GateCase("failed", f"prodsmoke gate: FAIL (internal error): {message}", message)
        logxml = find_logxml(self.config)
        with contextlib.suppress(Exception):  # best effort: the exit status says it already
            if logxml is not None:
                add_gate_testcase(logxml, case, time.time() - self.started_at)
            alluredir = self.config.getoption("allure_report_dir", None)
            if alluredir:
                from pytest_prodsmoke.outputs.allure import write_gate_result

                write_gate_result(Path(alluredir), case, self.started_at, time.time())
        with contextlib.suppress(Exception):
            self._end_run_span("fail", exit_status, [("internal_error", message)], {})
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_sep("=", "prodsmoke gate: FAIL (internal error)", red=True, bold=True)
            terminal.write_line(f"  [internal_error] {message}", red=True)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        # Outermost wrapper: the block comes after pytest's short test summary, right above
        # the final stats line, where nobody can miss it.
        try:
            return (yield)
        finally:
            self._print_block(terminalreporter)

    def _print_block(self, terminal: Any = None) -> None:
        terminal = terminal or self.config.pluginmanager.get_plugin("terminalreporter")
        if self.verdict is None or terminal is None or self.block_printed:
            return
        self.block_printed = True
        title, lines = render_gate_block(self.verdict, self.settings, self.settings.gate_report,
                                         self.report_error, self.probe_seen)
        colour = {"pass": "green", "degraded": "yellow", "fail": "red"}[self.verdict.status]
        terminal.write_sep("=", title, bold=True, **{colour: True})
        for line in lines:
            terminal.write_line(REGISTRY.scrub(line), **{colour: True})
        if self.traces is not None:
            error = (self.traces_summary or {}).get("error")
            terminal.write_line(REGISTRY.scrub(
                f"  traces: not exported: {error}" if error else f"  {self.traces.line()}"),
                **{colour: True})
        result = self.command_result
        if result is not None:
            from pytest_prodsmoke.outputs.commands import tail

            status = "ok" if result.ok else f"FAILED: {result.error}"
            terminal.write_line(REGISTRY.scrub(
                f"  ran {shlex.join(result.argv)} ({result.duration_s:.1f} s): {status}"),
                bold=True, **({"green": True} if result.ok else {"red": True}))
            for line in tail(result.output):
                terminal.write_line(REGISTRY.scrub(f"    | {line}"))
        if os.environ.get("GITHUB_ACTIONS") == "true":
            from pytest_prodsmoke.outputs.github import error_annotations

            # Here, at the start of a line of the summary: workflow commands only count there.
            workspace = os.environ.get("GITHUB_WORKSPACE")
            for line in error_annotations(self.verdict, self.config.rootpath,
                                          Path(workspace) if workspace else
                                          self.config.invocation_params.dir):
                terminal.write_line(REGISTRY.scrub(line))

