"""A storm of malformed bodies gets 4xx problems only, and changes nothing.

Runs against a real uvicorn process with a synchronous client: the whole HTTP stack
(uvicorn's parser, the middleware, FastAPI's body decoding) sees the junk, as in production.
"""

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import purchase
from tests.reliability.database import fingerprint
from tests.server import running_server

EXAMPLES = 2000

_huge = st.one_of(
    st.integers(min_value=10**18, max_value=10**400),
    st.integers(max_value=-1),
    st.just(float("1e308")),
    st.text(alphabet="9", min_size=19, max_size=500),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    _huge,
)
_junk = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
_no_digits = st.text(alphabet=st.characters(exclude_categories=["Nd"]), max_size=30)
_REQUIRED = ("id", "type", "customer_id", "occurred_at", "data")


@st.composite
def _broken_events(draw: st.DrawFn) -> Any:
    """A purchase with at least one change that no valid event can have."""
    body: dict[str, Any] = purchase(customer="storm")
    body["data"] = dict(body["data"])
    breakage = draw(
        st.sampled_from(
            ["drop", "extra", "extra-data", "type", "amount", "id", "occurred_at", "nest"]
        )
    )
    if breakage == "drop":
        del body[draw(st.sampled_from(_REQUIRED))]
    elif breakage == "extra":
        # The envelope forbids unknown members.
        body[draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in body))] = draw(_junk)
    elif breakage == "extra-data":
        key = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in body["data"]))
        body["data"][key] = draw(_junk)
    elif breakage == "type":
        body["type"] = draw(
            st.one_of(
                _junk.filter(lambda v: not isinstance(v, str)),
                st.text(max_size=30).filter(lambda v: v.isascii() is False or v == ""),
            )
        )
    elif breakage == "amount":
        body["data"]["amount"] = draw(
            st.one_of(
                _huge,
                st.integers(max_value=0),
                _no_digits,
                st.lists(_scalars, max_size=3),
            )
        )
    elif breakage == "id":
        body["id"] = draw(
            st.one_of(
                st.just(""),
                st.text(min_size=129, max_size=300, alphabet="abc"),
                st.text(min_size=1, max_size=30).map(lambda v: " " + v),
                _junk.filter(lambda v: not isinstance(v, str)),
            )
        )
    elif breakage == "occurred_at":
        body["occurred_at"] = draw(
            st.one_of(
                st.just("2026-11-23T10:00:00"),  # no offset
                # Numbers would be read as Unix timestamps, so only digit-free junk.
                _no_digits,
                st.lists(_scalars, max_size=3),
                st.none(),
            )
        )
    else:
        body["data"] = draw(_junk.filter(lambda v: not isinstance(v, dict)))
    return body


def _escaped(value: Any) -> bytes:
    # Non-ASCII as \u escapes, lone surrogates included: valid JSON, odd strings.
    return json.dumps(value).encode()


def _raw(value: Any) -> bytes:
    # Non-ASCII as raw UTF-8; a lone surrogate makes the body invalid UTF-8.
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


_bodies = st.one_of(
    # Bytes that are not JSON at all, or not UTF-8.
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    # JSON of the wrong shape.
    _junk.filter(lambda v: not isinstance(v, dict)).map(_escaped),
    st.dictionaries(st.text(max_size=10), _junk, max_size=6)
    .filter(lambda d: "events" not in d)
    .map(_raw),
    # Nearly-valid events.
    _broken_events().map(_escaped),
    _broken_events().map(_raw),
)


_PATHS = ("/v1/events", "/v1/events/batch", "/v1/customers/storm/redemptions")
# Bodies are drawn twenty at a time: hypothesis's per-example bookkeeping, not the requests,
# would otherwise dominate the run.
PER_EXAMPLE = 20


async def test_malformed_bodies_get_problems_and_change_nothing(database_url: str) -> None:
    with (
        running_server(database_url, workers=1) as server,
        httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client,
    ):
        # Taken once the server is up: it has written its bootstrap key by then.
        before = await fingerprint(database_url)

        @settings(
            max_examples=EXAMPLES // PER_EXAMPLE,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(
            requests=st.lists(
                st.tuples(st.sampled_from(_PATHS), _bodies),
                min_size=PER_EXAMPLE,
                max_size=PER_EXAMPLE,
            )
        )
        def storm(requests: list[tuple[str, bytes]]) -> None:
            for path, body in requests:
                response = client.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
                assert 400 <= response.status_code < 500, (path, body, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                problem = response.json()
                assert problem["status"] == response.status_code
                assert problem["type"].startswith("urn:reinforce:problem:")

        storm()
        assert await fingerprint(database_url) == before
