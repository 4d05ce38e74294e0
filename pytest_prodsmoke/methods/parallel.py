"""The ``parallel_run`` fixture: the same request to the baseline and the candidate at once,
and a failed check when the answers differ.

The comparison itself is ``compare.diff`` (pure); this module sends the requests, reads the
responses into plain ``Answer``s, and keeps the per-check counts the gate report shows.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from pytest_prodsmoke.compare.diff import (
    Answer,
    Comparison,
    PathPattern,
    PatternError,
    compare_answers,
    compile_patterns,
    mask_sent_values,
    parse_body,
    render,
)
from pytest_prodsmoke.errors import (
    CredentialLeakRefusedError,
    MutationRefusedError,
    ParallelRunMismatch,
)
from pytest_prodsmoke.http.client import MUTATING_METHODS, ProdClient
from pytest_prodsmoke.safety.redact import REGISTRY, display_url

if TYPE_CHECKING:
    from pytest_prodsmoke.safety.cleanup import Cleanup

MAX_COMPARED_BYTES = 20_000_000  # larger bodies are compared by digest, not structurally
MAX_NOISE_PATHS = 50  # learned-noise paths kept per check for the report


@dataclass
class ParallelStats:
    """Per check, for the gate report and JUnit."""

    requests: int = 0
    mismatches: int = 0
    noise: int = 0  # differences ignored as noise learned from two baseline answers
    ignored: int = 0  # differences ignored by pattern
    noise_paths: dict[str, None] = field(default_factory=dict)  # what was learned (ordered set)

    def learn(self, paths: Sequence[str]) -> None:
        for path in paths:
            if len(self.noise_paths) >= MAX_NOISE_PATHS:
                break
            self.noise_paths.setdefault(path)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "mismatches": self.mismatches, "noise": self.noise,
                "ignored": self.ignored, "noise_paths": list(self.noise_paths)}


@dataclass(frozen=True)
class ParallelResult:
    """Everything one parallel request produced (``parallel_run.fetch`` returns it)."""

    candidate: requests.Response
    baseline: requests.Response
    baseline2: requests.Response | None
    comparison: Comparison

    @property
    def equal(self) -> bool:
        return self.comparison.equal


_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")


def is_text(response: requests.Response) -> bool:
    """Whether a body is text to diff line by line (or JSON), rather than bytes to compare."""
    content_type = (response.headers.get("Content-Type") or "").lower()
    if content_type:
        return any(kind in content_type for kind in _TEXT_TYPES)
    head = response.content[:4096]  # no type given: text is what decodes and has no NUL
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


def read_answer(response: requests.Response, headers: Sequence[str],
                sent: Mapping[str, str] | None = None) -> Answer:
    """The compared parts of a response; ``sent`` maps values the plugin sent to this side
    (its own trace id, the host) to the placeholders they are compared as, if echoed."""
    if len(response.content) > MAX_COMPARED_BYTES:
        # Still compared (by digest): equal lengths must not pass for equal contents.
        digest = hashlib.sha256(response.content).hexdigest()
        body: Any = f"<{len(response.content)} bytes, sha256 {digest}>"
        is_json = False
    elif not is_text(response):
        body, is_json = response.content, False  # bytes: compared exactly, shown by digest
    else:
        body, is_json = parse_body(response.text, response.headers.get("Content-Type"))
        body = mask_sent_values(body, sent or {})
    selected = {name: mask_sent_values(response.headers[name], sent or {})
                for name in headers if name in response.headers}
    return Answer(response.status_code, selected, body, is_json)


def sent_values(responses: Sequence[requests.Response]) -> list[dict[str, str]]:
    """Per response, the request header values the plugin sent that differ between the sides
    (Host, traceparent, the signature...), mapped to one placeholder per header name."""
    sent = [{**({"Host": urlsplit(r.request.url or "").netloc.rsplit("@", 1)[-1]}),
             **dict(r.request.headers)} if r.request is not None else {} for r in responses]
    names = {name for headers in sent for name in headers}
    differing = [name for name in names
                 if len({headers.get(name) for headers in sent}) > 1]
    return [{headers[name]: f"<sent {name}>" for name in differing
             if headers.get(name) and len(headers[name]) >= 4} for headers in sent]


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    # One small pool per process: a parallel request is at most three requests at once.
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=3,
                                                      thread_name_prefix="prodsmoke-parallel")
    return _POOL


class ParallelRun:
    """``parallel_run.get("/catalog")``: asks the baseline and the candidate, fails the check
    when they answer differently, returns the candidate's response."""

    def __init__(self, candidate: ProdClient, baseline: ProdClient,
                 baseline2: ProdClient | None, *, learn_noise: bool,
                 ignore: Sequence[str] = (), compare_headers: Sequence[str] = (),
                 stats: ParallelStats | None = None,
                 judge: Callable[[str, str, requests.Response, requests.Response, Comparison],
                                 Comparison | None] | None = None,
                 cleanup: Cleanup | None = None) -> None:
        self.cleanup = cleanup  # the check's: undo actions of mutations, on every side
        self.candidate = candidate
        self.baseline = baseline
        self.baseline2 = baseline2
        self.learn_noise = learn_noise or baseline2 is not None
        self.ignore: tuple[PathPattern, ...] = compile_patterns(ignore)
        self.compare_headers = tuple(h.lower() for h in compare_headers)
        self.stats = stats if stats is not None else ParallelStats()
        self.judge = judge

    def __repr__(self) -> str:
        return f"<ParallelRun baseline {self.baseline!r} candidate {self.candidate!r}>"

    # -- the requests users make
    def get(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True
        return self.request("DELETE", url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send to both, compare, raise ``ParallelRunMismatch`` on a difference, or when either
        side answered with a server error (5xx)."""
        __tracebackhide__ = True
        result = self.fetch(method, url, **kwargs)
        url = urlsplit(url).path or url  # never the query string: it may carry a token
        failing = [(side, response.status_code) for side, response in
                   (("baseline", result.baseline), ("candidate", result.candidate))
                   if response.status_code >= 500]
        if failing:
            # Two equal 500s are "equal", yet nothing was shown to work: fail closed. (fetch()
            # returns such answers, for a check that means to compare errors.)
            sides = " and ".join(f"the {side} answered {status}" for side, status in failing)
            raise ParallelRunMismatch(
                f"{method.upper()} {url}: {sides}: a comparison with a server error proves "
                "nothing (use parallel_run.fetch() to compare error answers on purpose)")
        if not result.equal:
            count = len(result.comparison.differences)
            title = (f"{method.upper()} {url}: the candidate answered differently from the "
                     f"baseline ({count} difference{'' if count == 1 else 's'})")
            raise ParallelRunMismatch(render(result.comparison, title=title, mask=REGISTRY.scrub))
        return result.candidate

    def fetch(self, method: str, url: str, *, ignore: Sequence[str] = (),
              learn_noise: bool | None = None, allow_mutation: bool = False,
              undo: Callable[[ProdClient, requests.Response], object] | None = None,
              **kwargs: Any) -> ParallelResult:
        """Send to both and compare, without failing: look at ``result.comparison``.

        A mutation (``allow_mutation=True``) needs ``undo(client, response)``: it is registered
        in the check's cleanup for every side that answered, before anything is compared, so
        the baseline's copy (e.g. a second order) is removed too, whatever the answers say."""
        __tracebackhide__ = True
        method = method.upper()
        mutating = method in MUTATING_METHODS
        if mutating and not allow_mutation:
            copies = "three" if self._learning(learn_noise) else "two"
            raise MutationRefusedError(
                f"{method} {url} refused before sending: a parallel run sends it to the baseline "
                f"and the candidate, so it happens {copies} times (e.g. {copies} orders). Pass "
                "allow_mutation=True to mean it (in a synthetic check, as a fake user)")
        if mutating and (undo is None or not callable(undo)):
            raise MutationRefusedError(
                f"{method} {url} refused before sending: a mutation in a parallel run changes "
                "the released version too, where the check cannot reach the result later. Pass "
                "undo=callable(client, response): it is called for each side that answered "
                "(client is that side's), even when the answers differ")
        learning = self._learning(learn_noise)
        try:  # before anything is sent
            patterns = self.ignore + compile_patterns(ignore)
        except PatternError as exc:
            problem: str | None = str(exc)
        else:
            problem = None
        if problem is not None:
            raise PatternError(problem)  # from this (hidden) frame: one line under the check's
        pool = _pool()
        futures = [pool.submit(self.candidate.request, method, url, **kwargs),
                   pool.submit(self.baseline.request, method, url, **kwargs)]
        if learning:
            second = self.baseline2 if self.baseline2 is not None else self.baseline
            if second is self.baseline:
                # The same session cannot serve two requests at once: ask it again afterwards.
                futures[1].result()
            futures.append(pool.submit(second.request, method, url, **kwargs))
        # Every request ends before this check goes on (or fails): a late answer must not be
        # recorded as part of the next check.
        concurrent.futures.wait(futures)
        if mutating:
            assert undo is not None
            sides = [("candidate", self.candidate), ("baseline", self.baseline)]
            if learning:
                sides.append(("second baseline", second) if second is not self.baseline
                             else ("baseline (asked twice)", second))
            self._register_undo(method, url, undo, list(zip(sides, futures, strict=True)))
        candidate, baseline = futures[0].result(), futures[1].result()
        baseline2 = futures[2].result() if learning else None
        answered = [baseline, candidate, *([baseline2] if baseline2 is not None else [])]
        sent = sent_values(answered)
        comparison = compare_answers(
            read_answer(baseline, self.compare_headers, sent[0]),
            read_answer(candidate, self.compare_headers, sent[1]),
            baseline2=(read_answer(baseline2, self.compare_headers, sent[2])
                       if baseline2 is not None else None),
            ignore=patterns)
        if self.judge is not None:
            replaced = self.judge(method, url, baseline, candidate, comparison)
            if replaced is not None:
                comparison = replaced
        self.stats.requests += 1
        self.stats.mismatches += 0 if comparison.equal else 1
        self.stats.noise += len(comparison.noise)
        self.stats.ignored += comparison.ignored
        self.stats.learn(comparison.learned_noise)
        return ParallelResult(candidate, baseline, baseline2, comparison)

    def _register_undo(self, method: str, url: str,
                       undo: Callable[[ProdClient, requests.Response], object],
                       sides: list[tuple[tuple[str, ProdClient], concurrent.futures.Future[Any]]]
                       ) -> None:
        """Every side a mutation touched is reachable for cleanup; a side whose effect is
        unknown (no answer) is a leftover from the start."""
        cleanup = self.cleanup
        if cleanup is None:  # used outside the fixture: the caller cleans up
            return
        for (name, client), future in sides:
            error = future.exception()
            # Errors raised after an answer came (wrong version, budgets) carry that answer.
            response = future.result() if error is None else getattr(error, "response", None)
            path = urlsplit(client.url_for(url)).path or "/"
            description = f"undo of {method} {path} on the {name} ({display_url(client.base_url)})"
            if response is not None:
                cleanup.add(undo, client, response, description=description)
            elif not isinstance(error, (MutationRefusedError, CredentialLeakRefusedError)):
                # Refused before sending changed nothing; anything else may have.
                cleanup.record_leftover(description, f"no answer ({type(error).__name__}): "
                                                     "whether it changed data is unknown")

    def _learning(self, override: bool | None) -> bool:
        return self.learn_noise if override is None else override
