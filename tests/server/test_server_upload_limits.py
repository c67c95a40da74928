"""One upload-limit hook for every upload route (server/uploads/limits.py): each route's ceiling is its
own setting, and a body over it is refused with a 413 naming the limit before anything else looks at the
request (sign-in, CSRF, the form), on the API and the pages alike."""

from __future__ import annotations

import io

from server.settings import locate, update_settings
from server.uploads.limits import LIMITED_ENDPOINTS

CEILING = 4096


def limited_rules(app):
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules() if rule.endpoint in LIMITED_ENDPOINTS}
    return [rules[endpoint] for endpoint in sorted(LIMITED_ENDPOINTS)]


def test_every_limited_endpoint_is_an_upload_route_with_a_byte_setting(app):
    rules = limited_rules(app)
    assert [rule.endpoint for rule in rules] == sorted(LIMITED_ENDPOINTS)
    # the areas that take files: enrolment, album, deepfake, faces compare, unknown-face search
    blueprints = {name.split(".")[0] for name in LIMITED_ENDPOINTS}
    assert blueprints == {"api", "album", "attendance", "deepfake", "enrolment"}
    assert len(LIMITED_ENDPOINTS) == 13
    for rule in rules:
        assert "POST" in rule.methods, rule.endpoint
        key, what = LIMITED_ENDPOINTS[rule.endpoint]
        locate(key)  # a setting (KeyError otherwise)
        assert key.endswith("_BYTES") and what


def test_a_body_over_the_route_ceiling_is_413_before_sign_in_or_csrf(app, client):
    keys = {key for key, _what in LIMITED_ENDPOINTS.values()}
    update_settings(app, **dict.fromkeys(keys, CEILING))
    adapter = app.url_map.bind("localhost")
    for rule in limited_rules(app):
        url = adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1), method="POST")
        _key, what = LIMITED_ENDPOINTS[rule.endpoint]
        big = client.post(url, data={"file": (io.BytesIO(b"x" * (2 * CEILING)), "big.jpg")})
        assert big.status_code == 413, (rule.endpoint, big.status_code)
        answer = big.get_json() if rule.endpoint.startswith("api.") else {"error": big.get_data(as_text=True)}
        assert f"for {what}: send fewer or smaller files" in answer["error"], rule.endpoint
        small = client.post(url, data={"file": (io.BytesIO(b"x" * 16), "small.jpg")})
        assert small.status_code != 413, rule.endpoint  # under the ceiling: sign-in or CSRF answers
