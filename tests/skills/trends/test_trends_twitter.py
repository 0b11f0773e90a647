"""X trends source against responses shaped as the X API v2 documents them."""

from __future__ import annotations

import time

import httpx

from core.errors import ErrorCategory
from skills.base import invoke_json
from skills.ratelimit import X_TRENDS
from skills.trends import fetch_trends

TRENDS = "https://api.x.com/2/trends/by/woeid/{}"
DOCUMENTED = {
    "data": [
        {"trend_name": "Europe", "tweet_count": 232408},
        {"trend_name": "#Isak", "tweet_count": 2956},
        {"trend_name": "RNLI"},
        {"trend_name": "europe", "tweet_count": 5},  # same trend, other case: dropped
    ]
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
USAGE_CAPPED = {
    "account_id": 1234567890,
    "product_name": "standard-basic",
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}


async def test_documented_response_becomes_trends(kit, make_ctx, respx_mock) -> None:
    route = respx_mock.get(TRENDS.format(23424977)).mock(
        return_value=httpx.Response(200, json=DOCUMENTED)
    )
    limiter = kit.RecordingLimiter()
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["twitter"], "woeid": 23424977, "max_results": 20},
        make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN), limiter=limiter),
    )
    assert out.success, out.error
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {kit.X_TOKEN}"
    assert request.url.params["max_trends"] == "20"
    assert request.url.params["trend.fields"] == "trend_name,tweet_count"
    assert [t.title for t in out.trends] == ["Europe", "#Isak", "RNLI"]
    europe, isak, rnli = out.trends
    assert europe.id == "twitter:23424977:europe" and europe.platform == "twitter"
    assert europe.engagement_metrics.views == 232408
    assert europe.url == "https://x.com/search?q=Europe"
    assert isak.url == "https://x.com/search?q=%23Isak" and isak.tags == ["Isak"]
    assert rnli.engagement_metrics.views == 0 and rnli.description == "Trending on X."
    [(bucket, limit, cost)] = limiter.acquired
    assert bucket.startswith("x:trends:") and kit.X_TOKEN not in bucket
    assert limit == X_TRENDS and cost == 1
    kit.assert_no_secret(out.model_dump_json())


async def test_429_holds_the_bucket_until_reset_then_retries(kit, make_ctx, respx_mock) -> None:
    reset = int(time.time()) + 45
    respx_mock.get(TRENDS.format(1)).mock(
        side_effect=[
            httpx.Response(
                429,
                json=TOO_MANY,
                headers={
                    "x-rate-limit-limit": "75",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(reset),
                },
            ),
            httpx.Response(200, json=DOCUMENTED),
        ]
    )
    limiter = kit.RecordingLimiter()
    ctx = make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN), limiter=limiter)
    out = await invoke_json(fetch_trends, {"platforms": ["twitter"]}, ctx)
    assert out.success and len(out.trends) == 3
    [(bucket, held)] = limiter.holds
    assert bucket.startswith("x:trends:") and 35 <= held <= 46
    assert 35 <= ctx.sleep.delays[0] <= 50  # the retry waited for the reset


async def test_retry_after_header_is_used_when_present(kit, make_ctx, respx_mock) -> None:
    respx_mock.get(TRENDS.format(1)).mock(
        return_value=httpx.Response(429, json=TOO_MANY, headers={"Retry-After": "30"})
    )
    ctx = make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN))
    out = await invoke_json(fetch_trends, {"platforms": ["twitter"]}, ctx)
    assert out.error is not None and out.error.code == "RATE_LIMITED" and out.error.retryable
    assert ctx.sleep.delays == [30.0, 30.0, 30.0]


async def test_unauthorized_is_permanent_and_hides_the_token(kit, make_ctx, respx_mock) -> None:
    route = respx_mock.get(TRENDS.format(1)).mock(
        return_value=httpx.Response(401, json=UNAUTHORIZED)
    )
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["twitter"]},
        make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN)),
    )
    assert out.error is not None and out.error.code == "X_AUTH_FAILED"
    assert out.error.category is ErrorCategory.PERMANENT and route.call_count == 1
    assert "Unauthorized" in out.error.message
    kit.assert_no_secret(out.model_dump_json())


async def test_usage_cap_is_transient(kit, make_ctx, respx_mock) -> None:
    respx_mock.get(TRENDS.format(1)).mock(return_value=httpx.Response(429, json=USAGE_CAPPED))
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["twitter"]},
        make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN)),
    )
    assert out.error is not None and out.error.code == "USAGE_CAPPED" and out.error.retryable


async def test_unknown_woeid_errors_body_is_permanent(kit, make_ctx, respx_mock) -> None:
    body = {
        "errors": [
            {
                "parameters": {"woeid": ["999"]},
                "message": "The `woeid` query parameter value [999] is not one of [1, 23424977]",
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            }
        ]
    }
    respx_mock.get(TRENDS.format(999)).mock(return_value=httpx.Response(200, json=body))
    out = await invoke_json(
        fetch_trends,
        {"platforms": ["twitter"], "woeid": 999},
        make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN)),
    )
    assert out.error is not None and out.error.code == "X_TRENDS_ERROR"
    assert out.error.category is ErrorCategory.PERMANENT


async def test_server_error_is_transient_and_malformed_is_unknown(
    kit, make_ctx, respx_mock
) -> None:
    route = respx_mock.get(TRENDS.format(1)).mock(return_value=httpx.Response(503, text="busy"))
    ctx = make_ctx(kit.trends_settings(x_bearer_token=kit.X_TOKEN))
    out = await invoke_json(fetch_trends, {"platforms": ["twitter"]}, ctx)
    assert out.error is not None and out.error.code == "UPSTREAM_UNAVAILABLE"
    assert route.call_count == 4

    route.return_value = httpx.Response(200, json={"data": {"trend_name": "not a list"}})
    out = await invoke_json(fetch_trends, {"platforms": ["twitter"]}, ctx)
    assert out.error is not None and out.error.code == "MALFORMED_RESPONSE"
    assert out.error.category is ErrorCategory.UNKNOWN
