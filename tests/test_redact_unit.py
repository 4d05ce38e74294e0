"""The secret registry and the Secret type as plain objects (no pytest session): every rule of
masking that the end-to-end leak search in test_secrets.py relies on."""

from __future__ import annotations

import base64
import json
import uuid

from pytest_prodsmoke.safety.redact import MASK, Secret, SecretRegistry, display_url
from tests.support import secret_forms


def test_secret_type_never_shows_its_value() -> None:
    secret = Secret("hunter2-hunter2")
    assert repr(secret) == "Secret('***')" and str(secret) == "***" and f"{secret}" == "***"
    assert secret.reveal() == "hunter2-hunter2"


def test_registry_scrubs_every_encoding() -> None:
    registry = SecretRegistry()
    registry.add('pa ss/wo"rd', username="smoke-x")
    text = " ".join(secret_forms('pa ss/wo"rd', "smoke-x"))
    assert registry.scrub(text).replace(MASK, "").strip() == ""


def test_query_tokens_are_masked_even_unregistered() -> None:
    registry = SecretRegistry()
    message = "Max retries exceeded with url: /x?api_key=abc123&page=2 (Caused by ...)"
    assert registry.scrub(message) == ("Max retries exceeded with url: /x?api_key=***&page=2 "
                                       "(Caused by ...)")
    assert display_url("https://h/p?token=abc&q=tea") == "https://h/p?token=***&q=tea"


def test_fragments_pytest_prints_of_a_secret_are_masked() -> None:
    registry = SecretRegistry()
    long_secret = "LONGSEKRITbe" + "y" * 100 + "LONGSEKRITend"
    registry.add(long_secret)
    registry.add("line-one-SEKRIT\nline-two-SEKRIT")
    shortened = f"assert '{long_secret[:40]}...{long_secret[-40:]}' == 'x'"
    clean = registry.scrub(shortened)
    assert "LONGSEKRIT" not in clean and clean.startswith("assert '***...***'")
    diff = "- line-one-SEKRIT\n+ other\n  line-two-SEKRIT"
    assert registry.scrub(diff) == "- ***\n+ other\n  ***"
    assert registry.scrub("nothing... to see ... here") == "nothing... to see ... here"


# -------------------------------------------------- what mutation testing found untested (#11)

def test_every_form_of_a_secret_is_registered() -> None:

    from pytest_prodsmoke.safety.redact import encoded_forms

    value = "p/ss w'rd\\é"
    forms = encoded_forms(value)
    assert value in forms
    assert "p%2Fss%20w%27rd%5C%C3%A9" in forms  # quote(..., safe=""): slashes too
    assert repr(value)[1:-1] in forms and json.dumps(value)[1:-1] in forms
    padded = base64.b64encode(b"abcde").decode()
    assert padded.endswith("=") and padded.rstrip("=") in encoded_forms("abcde")
    carriage = encoded_forms("first-part\rsecond-part")
    assert {"first-part", "second-part"} <= carriage
    assert "abcd" in encoded_forms("abcd") and "abc" not in encoded_forms("abc")


def test_registry_short_values_recompiling_and_found_in() -> None:
    registry = SecretRegistry()
    registry.add("abc")  # too short to mask: it would mask ordinary words
    registry.add(Secret("abcd"))
    assert registry.scrub("abc abcd") == "abc ***"
    assert registry.found_in("xx abcd") and not registry.found_in("abc")
    assert not registry.found_in("") and not SecretRegistry().found_in("abcd")
    # A secret added after a scrub is masked too: the pattern is rebuilt.
    registry.add("late-secret")
    assert registry.scrub("late-secret") == "***"
    registry.add_forms(["other-form", "ab", 7])  # another process's forms, as they are
    assert registry.scrub("other-form ab") == "*** ab"
    assert registry.values() >= {"abcd", "late-secret", "other-form"}
    assert "ab" not in registry.values()
    # Longest first: an encoded form is masked whole, not around a shorter secret inside it.
    nested = SecretRegistry()
    nested.add("secret")
    nested.add("my-secret-longer")
    assert nested.scrub("my-secret-longer") == "***"


def test_scrub_any_walks_containers_and_keys() -> None:
    registry = SecretRegistry()
    registry.add("hunter22")
    data = {"hunter22": ["x hunter22", ("hunter22",)], "n": 1, "s": Secret("q")}
    assert registry.scrub_any(data) == {"***": ["x ***", ("***",)], "n": 1, "s": "***"}


def test_secret_equality_truth_and_registration() -> None:
    from pytest_prodsmoke.safety.redact import REGISTRY, register_secret

    assert Secret("abcd") == Secret("abcd") and Secret("abcd") != Secret("abce")
    assert Secret("abcd") != "abcd" and hash(Secret("abcd")) == hash(Secret("abcd"))
    assert bool(Secret("x")) and not bool(Secret(""))
    # Values of their own each time: the registry is the process's, and mutmut runs this test
    # again in processes forked after an earlier run registered them.
    first, second = f"registered-{uuid.uuid4().hex}", f"registered-{uuid.uuid4().hex}"
    registered = register_secret(first)
    assert isinstance(registered, Secret) and registered.reveal() == first
    assert REGISTRY.scrub(first) == "***"
    same = Secret(second)
    assert register_secret(same) is same and REGISTRY.scrub(second) == "***"


def test_query_values_and_display_url() -> None:
    from pytest_prodsmoke.safety.redact import mask_query_values

    assert mask_query_values("/x?token=abc&q=1;api_key=z") == "/x?token=***&q=1;api_key=***"
    assert mask_query_values("nothing here") == "nothing here"
    # (mask_query, dead code, is gone: display_url is what every output uses.)
    assert display_url("https://h/p?token=&q=") == "https://h/p?token=&q="  # nothing to hide
    assert display_url("https://h/p?q=a*b") == "https://h/p?q=a*b"
    assert display_url("https://u:pw@h/x?a=1") == "https://***@h/x?a=1"
    assert display_url("https://user@h/x") == "https://***@h/x"  # a user name alone too
    # Malformed URLs, where urlsplit sees no user info, and text that is no URL at all.
    assert display_url("https:/u:PASSWORD@127.0.0.1") == "https:/***@127.0.0.1"
    assert display_url("http://u?:password@h") == "http://***@h"
    assert display_url("see a:b@c and x:PASS@y") == "see a:***@y"  # too much, never too little
    assert display_url("no url") == "no url" and display_url(42) == "42"  # type: ignore[arg-type]
    # A password after a path, where the user-info pattern (anchored at the start) sees none.
    assert display_url("https://h/p?u=x:PASS@y") == "https://h/p?u=x:***@y"


def test_secret_looking_names() -> None:
    from pytest_prodsmoke.safety.redact import looks_secret

    assert all(looks_secret(n) for n in ("password", "API_KEY", "X-Auth-Token", "session_id"))
    assert not any(looks_secret(n) for n in ("page", "q", "Content-Type", "version"))


def test_fragments_around_ellipses_in_detail() -> None:
    registry = SecretRegistry()
    secret = "abcdSEKRETabcdVALUE"  # its first four characters come back inside it
    registry.add(secret)
    assert registry.scrub("abcdSEKRE...") == "***..."  # a head at the very start
    assert registry.scrub("abcd abcdSEKRE...") == "abcd ***..."  # an earlier false start
    assert registry.scrub("x...dVALUE") == "x...***"  # a tail only
    assert registry.scrub("abcdSEK... and abcdSEKRE... and x") == "***... and ***... and x"
    assert registry.scrub("a...b...abcdS...z") == "a...b...***...z"  # the middle ellipsis
    assert registry.scrub("x...ALUEabcdSEKR...") == "x...***..."  # tail and head adjacent
    other = SecretRegistry()
    other.add("abcdefghij")
    other.add("xxabcdefgh")  # another secret whose head overlaps the first's
    assert other.scrub("zz xxabcdefg...") == "zz ***..."


def test_the_longest_head_and_only_heads_before_the_ellipsis() -> None:
    registry = SecretRegistry()
    registry.add("SEKRaSEKRbSEKRc")  # the first four characters come back twice
    # The longest head is the whole run before the ellipsis, not the last "SEKR...".
    assert registry.scrub("SEKRaSEKRb...") == "***..."
    # A false start, then the real head in the middle: later starts are tried too.
    assert registry.scrub("SEKRzSEKRaSEKRb...") == "SEKRz***..."
    # A false start and the secret's first characters only after the ellipsis: nothing.
    assert registry.scrub("id SEKRx...SEKRq") == "id SEKRx...SEKRq"
    # The secret around the middle of three ellipses.
    assert registry.scrub("a...SEKRaS...b...z") == "a...***...b...z"
    repeated = SecretRegistry()
    repeated.add("aaaaaaBCDE")  # a head that starts one character into a run of its letters
    assert repeated.scrub("aaaaaaa...") == "a***..."


def test_forms_from_another_process_of_the_shortest_length() -> None:
    registry = SecretRegistry()
    registry.add_forms(["abcd", "abc"])
    assert registry.scrub("abcd abc") == "*** abc"


def test_the_unpadded_form_is_no_shorter_than_the_value_encodes() -> None:
    """Only '=' padding is dropped: a text sharing all but the last character is no secret."""
    registry = SecretRegistry()
    registry.add("sekretaaW")  # base64 c2VrcmV0YWFX: no padding, ends in X
    assert registry.scrub("c2VrcmV0YWFX") == "***"
    assert registry.scrub("c2VrcmV0YWF!") == "c2VrcmV0YWF!"
