"""``flowloom.testing``: the ``http-echo`` and ``llm-mock`` servers, driven by real clients (httpx and openai)
and by raw bytes on a socket."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, RateLimitError

from flowloom.testing import EchoedRequest, HttpEchoServer, OpenAIMockServer

pytestmark = pytest.mark.anyio

README_TEXT = (
    'Hi, I am an AI model, my name is mock-model, temperature is 0, system prompt is "Be brief.", '
    'prompt is "Q: why?"'
)
README_MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: why?"}]


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on one connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def split_responses(raw: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """``(status line, headers, body)`` of responses framed by Content-Length, in order."""
    responses = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        responses.append((status_line, headers, raw[:length]))
        raw = raw[length:]
    return responses


async def echo(server: HttpEchoServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        return await client.request(method, path, **kwargs)


# --- http-echo ---------------------------------------------------------------------------------------------


async def test_readme_example_byte_for_byte() -> None:
    async with HttpEchoServer() as server:
        response = await echo(
            server,
            "POST",
            "/json?a=1",
            headers={"Content-Type": "application/json", "X-Token": "t"},
            content=b'{"n":3}',
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-echo"] == "yes"
    assert response.content == (
        b'{"method":"POST","path":"/json","query":{"a":"1"},"contentType":"application/json",'
        b'"headers":{"x-token":"t"},"body":"{\\"n\\":3}"}'
    )


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_every_method_is_echoed(method: str) -> None:
    async with HttpEchoServer() as server:
        response = await echo(server, method, "/any/where")
    assert response.status_code == 200
    assert response.headers["x-echo"] == "yes"
    assert response.json() == {
        "method": method,
        "path": "/any/where",
        "query": {},
        "contentType": None,
        "headers": {},
        "body": "",
    }


async def test_head_has_headers_and_no_body() -> None:
    async with HttpEchoServer() as server:
        head = await echo(server, "HEAD", "/head?x=1")
        get = await echo(server, "GET", "/head?x=1")
        raw = await raw_exchange(server.port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert head.headers["x-echo"] == "yes"
    # The length of the body a HEAD would have had: the GET's, with one more letter in the method.
    assert int(head.headers["content-length"]) == len(get.content) + 1
    assert raw.endswith(b"\r\n\r\n")  # nothing after the header section
    assert [r.method for r in server.requests] == ["HEAD", "GET", "HEAD"]


@pytest.mark.parametrize("code", [404, 201, 500, 418, 299, 999])
async def test_status_path_sets_the_status(code: int) -> None:
    async with HttpEchoServer() as server:
        response = await echo(server, "POST", f"/status/{code}?q=1", content=b"x")
    assert response.status_code == code
    assert response.headers["x-echo"] == "yes"
    assert response.json()["path"] == f"/status/{code}"
    assert response.json()["body"] == "x"


@pytest.mark.parametrize(
    "path", ["/status/4040", "/status/40", "/status/404/", "/x/status/404", "/status/abc"]
)
async def test_only_exact_status_paths_set_the_status(path: str) -> None:
    async with HttpEchoServer() as server:
        response = await echo(server, "GET", path)
    assert response.status_code == 200
    assert response.json()["path"] == path


async def test_statuses_without_content() -> None:
    async with HttpEchoServer() as server:
        no_content = await echo(server, "GET", "/status/204")
        not_modified = await echo(server, "GET", "/status/304")
        informational = await echo(server, "GET", "/status/101")  # cannot be a final answer
        after = await echo(server, "GET", "/after")  # the connection framing stayed intact
    assert (no_content.status_code, no_content.content) == (204, b"")
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert informational.status_code == 400
    assert after.json()["path"] == "/after"


async def test_query_is_decoded_in_order_of_first_appearance_last_value_wins() -> None:
    async with HttpEchoServer() as server:
        response = await echo(server, "GET", "/q?q=find+t1&name=%C3%A9t%C3%A9&a=1&empty=&a=2&flag&pct=100%25")
    assert response.json()["path"] == "/q"
    query = response.json()["query"]
    assert query == {"q": "find t1", "name": "été", "a": "2", "empty": "", "flag": "", "pct": "100%"}
    assert list(query) == ["q", "name", "a", "empty", "flag", "pct"]
    assert '"name":"été"' in response.content.decode()  # non-ASCII written as is
    assert server.requests[0].query == query


async def test_path_is_kept_as_received() -> None:
    async with HttpEchoServer() as server:
        raw = await raw_exchange(
            server.port, b"GET //double/%7Euser/a%20b?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    ((_, _, body),) = split_responses(raw)
    assert json.loads(body)["path"] == "//double/%7Euser/a%20b"


async def test_headers_are_filtered_lower_cased_and_sorted() -> None:
    headers = [
        ("X-Zeta", "z"),
        ("Authorization", "Bearer s"),
        ("x-alpha", "a"),
        ("X-Multi", "1"),
        ("X-MID", "m"),
        ("X-Multi", "2"),
        ("Xylophone", "no"),
    ]
    async with HttpEchoServer() as server:
        response = await echo(server, "GET", "/h", headers=headers)
    assert response.json()["headers"] == {"x-alpha": "a", "x-mid": "m", "x-multi": "1, 2", "x-zeta": "z"}
    assert '"headers":{"x-alpha":"a","x-mid":"m","x-multi":"1, 2","x-zeta":"z"}' in response.text
    assert server.requests[0].headers["authorization"] == "Bearer s"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "application/json"),
        ("Text/Plain ; charset=UTF-8", "text/plain"),
        ("application/vnd.test+json;v=1", "application/vnd.test+json"),
    ],
)
async def test_content_type_without_parameters(content_type: str, expected: str) -> None:
    async with HttpEchoServer() as server:
        response = await echo(server, "POST", "/ct", headers={"Content-Type": content_type}, content=b"[1]")
    assert response.json()["contentType"] == expected
    assert response.json()["body"] == "[1]"


async def test_urlencoded_body_is_decoded_in_order() -> None:
    async with HttpEchoServer() as server:
        form = await echo(server, "POST", "/urlenc", data={"z": "x y", "a": "é&=+", "m": ""})
        repeated = await echo(
            server,
            "POST",
            "/urlenc",
            headers={"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"},
            content=b"b=1&a=x+y&b=2&c=%41",
        )
    assert form.json()["contentType"] == "application/x-www-form-urlencoded"
    assert list(form.json()["body"].items()) == [("z", "x y"), ("a", "é&=+"), ("m", "")]
    assert list(repeated.json()["body"].items()) == [("b", "2"), ("a", "x y"), ("c", "A")]


async def test_multipart_body_is_decoded_in_order() -> None:
    async with HttpEchoServer() as server:
        response = await echo(
            server,
            "POST",
            "/form",
            data={"z": "1", "a": "two words", "u": "été"},
            files={"file": ("f.txt", b"line 1\r\n--not a boundary\r\nline 3", "text/plain")},
        )
    payload = response.json()
    assert payload["contentType"] == "multipart/form-data"
    assert list(payload["body"].items()) == [
        ("z", "1"),
        ("a", "two words"),
        ("u", "été"),
        ("file", "line 1\r\n--not a boundary\r\nline 3"),
    ]


async def test_multipart_written_by_hand() -> None:
    body = (
        b"preamble\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="b"\r\n\r\n2\r\n'
        b"--XyZ  \r\n"  # transport padding
        b"Content-Disposition: form-data; name=a\r\nContent-Type: text/plain\r\n\r\n\r\n"
        b"--XyZ\r\n"
        b"Content-Type: text/plain\r\n\r\nno name: dropped\r\n"
        b'--XyZ\r\ncontent-disposition: form-data; name="b"\r\n\r\nlast wins\r\n'
        b"--XyZ--\r\nepilogue"
    )
    async with HttpEchoServer() as server:
        response = await echo(
            server,
            "POST",
            "/m",
            headers={"Content-Type": 'multipart/form-data; boundary="XyZ"'},
            content=body,
        )
    assert list(response.json()["body"].items()) == [("b", "last wins"), ("a", "")]


async def test_json_body_is_raw_text() -> None:
    text = '{"b": 1, "a": [1, 2], "s": "é"}'
    async with HttpEchoServer() as server:
        response = await echo(
            server, "PUT", "/j", headers={"Content-Type": "application/json"}, content=text.encode()
        )
    assert response.json()["body"] == text


async def test_empty_and_binary_bodies() -> None:
    async with HttpEchoServer() as server:
        empty = await echo(server, "POST", "/e", content=b"")
        invalid_utf8 = await echo(server, "POST", "/b", content=b"ok\xff")
    assert empty.json()["body"] == ""
    assert empty.json()["contentType"] is None
    assert invalid_utf8.json()["body"] == "ok\ufffd"
    assert server.requests[1].body == b"ok\xff"


async def test_chunked_request_body() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b'{"a":', b"", b"1,", b'"b":2}'):
            yield piece

    async with HttpEchoServer() as server:
        response = await echo(
            server, "POST", "/c", headers={"Content-Type": "application/json"}, content=pieces()
        )
        raw = await raw_exchange(
            server.port,
            b"POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"5;ext=1\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: t\r\n\r\n",
        )
    assert server.requests[0].headers["transfer-encoding"] == "chunked"
    assert response.json()["body"] == '{"a":1,"b":2}'
    ((status_line, _, body),) = split_responses(raw)
    assert status_line == "HTTP/1.1 200 OK"
    assert json.loads(body)["body"] == "hello, chunked!"


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    pipelined = (
        b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /two?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    async with HttpEchoServer() as server:
        raw = await raw_exchange(server.port, pipelined)  # returns because the server closes after /three
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            first = await client.get("/a")
            second = await client.get("/b")
    responses = split_responses(raw)
    assert [json.loads(body)["path"] for _, _, body in responses] == ["/one", "/two", "/three"]
    assert json.loads(responses[0][2])["body"] == "abc"
    assert "connection" not in responses[0][1]
    assert responses[2][1]["connection"] == "close"
    assert first.headers.get("connection") is None and second.json()["path"] == "/b"


async def test_http_1_0_closes_unless_keep_alive() -> None:
    async with HttpEchoServer() as server:
        raw = await raw_exchange(server.port, b"GET /old HTTP/1.0\r\n\r\n")
    ((status_line, headers, body),) = split_responses(raw)
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["connection"] == "close"
    assert json.loads(body)["path"] == "/old"


async def test_expect_100_continue() -> None:
    async with HttpEchoServer() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"hi")
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        await writer.wait_closed()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")
    assert server.requests[0].body == b"hi"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
)
async def test_malformed_requests_get_an_error_and_close(request_bytes: bytes, status: int) -> None:
    async with HttpEchoServer() as server:
        raw = await raw_exchange(server.port, request_bytes)
    ((status_line, headers, _),) = split_responses(raw)
    assert status_line.split(" ")[1] == str(status)
    assert headers["connection"] == "close"
    assert server.requests == []


async def test_requests_are_recorded() -> None:
    async with HttpEchoServer() as server:
        await echo(server, "POST", "/r?a=1&a=2", headers={"X-K": "v"}, content=b"body")
    assert server.requests == [
        EchoedRequest(
            method="POST",
            path="/r",
            query={"a": "2"},
            headers={
                **server.requests[0].headers,
                "x-k": "v",
                "content-length": "4",
            },
            body=b"body",
        )
    ]
    assert server.requests[0].text == "body"


async def test_delay_allows_timeouts_and_is_settable() -> None:
    async with HttpEchoServer(delay_s=5) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/slow", timeout=0.2)
            server.delay_s = 0
            assert (await client.get("/fast", timeout=2)).json()["path"] == "/fast"
    assert [r.path for r in server.requests] == ["/slow", "/fast"]


async def test_exit_closes_requests_in_flight_and_leaks_nothing() -> None:
    before = asyncio.all_tasks()
    async with httpx.AsyncClient() as client:
        async with HttpEchoServer(delay_s=60) as server:
            pending = asyncio.create_task(client.get(f"{server.base_url}/hang", timeout=30))
            for _ in range(500):  # until the server holds the request
                if server.requests:
                    break
                await asyncio.sleep(0.01)
            started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(pending, 5)
    assert time.monotonic() - started < 2
    assert asyncio.all_tasks() - before == set()
    gc.collect()  # an unclosed transport would warn here, and warnings are errors


async def test_two_servers_get_different_ports_and_a_closed_port_refuses() -> None:
    async with HttpEchoServer() as first, HttpEchoServer() as second, OpenAIMockServer() as llm:
        ports = {first.port, second.port, llm.port}
        assert first.base_url == f"http://127.0.0.1:{first.port}"
        port = first.port
    assert len(ports) == 3
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    with pytest.raises(RuntimeError):
        _ = first.base_url


async def test_not_running_and_not_reentrant() -> None:
    server = HttpEchoServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
    async with server:
        with pytest.raises(RuntimeError, match="already running"):
            await server.__aenter__()
    async with server:  # a stopped server can start again
        assert (await echo(server, "GET", "/again")).status_code == 200


# --- llm-mock ----------------------------------------------------------------------------------------------


async def chat(server: OpenAIMockServer, body: Any, path: str = "/v1/chat/completions") -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        return await client.post(path, json=body)


async def test_llm_readme_example() -> None:
    async with OpenAIMockServer() as server:
        response = await chat(server, {"model": "mock-model", "temperature": 0, "messages": README_MESSAGES})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert abs(payload.pop("created") - time.time()) < 60
    assert payload == {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "model": "mock-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": README_TEXT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    assert server.requests == [{"model": "mock-model", "temperature": 0, "messages": README_MESSAGES}]


@pytest.mark.parametrize(
    ("temperature", "written"),
    [
        ("0", "0"),
        ("1", "1"),
        ("1.0", "1"),
        ("0.5", "0.5"),
        ("0.25", "0.25"),
        ("2.50", "2.5"),
        ("1e-7", "1e-7"),
    ],
)
async def test_llm_temperature_is_written_as_javascript_does(temperature: str, written: str) -> None:
    body = f'{{"model":"m","temperature":{temperature},"messages":[{{"role":"user","content":"u"}}]}}'
    async with OpenAIMockServer() as server, httpx.AsyncClient() as client:
        response = await client.post(
            f"{server.base_url}/v1/chat/completions",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
        )
    assert f"temperature is {written}, " in response.json()["choices"][0]["message"]["content"]


async def test_llm_absent_values_are_undefined() -> None:
    async with OpenAIMockServer() as server:
        nothing = await chat(server, {})
        null_temperature = await chat(server, {"model": "m", "temperature": None, "messages": []})
    assert nothing.json()["choices"][0]["message"]["content"] == (
        'Hi, I am an AI model, my name is undefined, temperature is undefined, system prompt is "undefined", '
        'prompt is "undefined"'
    )
    assert nothing.json()["model"] is None
    assert "temperature is undefined," in null_temperature.json()["choices"][0]["message"]["content"]


async def test_llm_first_system_last_user_and_content_parts() -> None:
    messages = [
        {"role": "user", "content": "first user"},
        {"role": "system", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
        {"role": "system", "content": "second system"},
        {"role": "assistant", "content": "ignored"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Q: "}, {"type": "image_url"}, {"text": "why?"}],
        },
    ]
    async with OpenAIMockServer() as server:
        response = await chat(server, {"model": "mock-model", "temperature": 0.0, "messages": messages})
    assert response.json()["choices"][0]["message"]["content"] == README_TEXT


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions/x", "/", "/v1/completions"])
async def test_llm_other_paths_are_404(path: str) -> None:
    async with OpenAIMockServer() as server:
        response = await chat(server, {"model": "m"}, path=path)
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "code"}


async def test_llm_any_prefix_and_wrong_method() -> None:
    async with OpenAIMockServer() as server, httpx.AsyncClient(base_url=server.base_url) as client:
        prefixed = await client.post(
            "/openai/deployments/x/chat/completions?api-version=1", json={"model": "m"}
        )
        wrong_method = await client.get("/v1/chat/completions")
        not_json = await client.post("/v1/chat/completions", content=b"{nope")
    assert prefixed.status_code == 200
    assert wrong_method.status_code == 405
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"


async def stream_events(server: OpenAIMockServer, body: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.text.endswith("data: [DONE]\n\n")
    events = response.text.split("\n\n")
    assert events[-1] == ""
    assert all(event.startswith("data: ") for event in events[:-1])
    return response, [event.removeprefix("data: ") for event in events[:-1]]


async def test_llm_stream_reassembles_to_the_plain_text() -> None:
    body = {"model": "mock-model", "temperature": 0, "messages": README_MESSAGES, "stream": True}
    async with OpenAIMockServer() as server:
        response, events = await stream_events(server, body)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        assert list(chunk) == ["id", "object", "created", "model", "choices"]
        assert chunk["object"] == "chat.completion.chunk"
        assert (chunk["id"], chunk["model"], len(chunk["choices"])) == ("chatcmpl-mock", "mock-model", 1)
    assert chunks[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "finish_reason": None,
    }
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    middle = [chunk["choices"][0] for chunk in chunks[1:-1]]
    assert len(middle) > 10  # one event per word
    assert all(choice["finish_reason"] is None for choice in middle)
    assert "".join(choice["delta"]["content"] for choice in middle) == README_TEXT


async def test_llm_stream_with_usage() -> None:
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    async with OpenAIMockServer() as server:
        _, events = await stream_events(server, body)
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


async def test_llm_chunk_delay() -> None:
    body = {"model": "m", "messages": [], "stream": True}
    async with OpenAIMockServer(chunk_delay_s=0.02) as server:
        started = time.monotonic()
        _, events = await stream_events(server, body)
    assert time.monotonic() - started >= 0.02 * (len(events) - 1) * 0.9


async def test_llm_fail_with() -> None:
    async with OpenAIMockServer(fail_with=503) as server:
        failed = await chat(server, {"model": "m"})
        other_path = await chat(server, {"model": "m"}, path="/elsewhere")
        server.fail_with = None
        recovered = await chat(server, {"model": "m"})
    assert failed.status_code == 503 and other_path.status_code == 503
    error = failed.json()["error"]
    assert list(error) == ["message", "type", "code"]
    assert error["type"] == "server_error"
    assert recovered.status_code == 200
    assert len(server.requests) == 3


async def test_openai_sdk_plain_and_streaming() -> None:
    async with (
        OpenAIMockServer() as server,
        AsyncOpenAI(api_key="k", base_url=f"{server.base_url}/v1", max_retries=0) as client,
    ):
        completion = await client.chat.completions.create(
            model="mock-model",
            temperature=0,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: why?"}],
        )
        stream = await client.chat.completions.create(
            model="mock-model",
            temperature=0,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q: why?"}],
            stream=True,
        )
        pieces: list[str] = []
        finish_reasons: list[str | None] = []
        async for chunk in stream:
            pieces.append(chunk.choices[0].delta.content or "")
            finish_reasons.append(chunk.choices[0].finish_reason)
    assert completion.choices[0].message.content == README_TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 2
    assert "".join(pieces) == README_TEXT
    assert finish_reasons[-1] == "stop"
    assert server.requests[1]["stream"] is True


async def test_openai_sdk_sees_fail_with_as_an_api_error() -> None:
    async with (
        OpenAIMockServer(fail_with=429) as server,
        AsyncOpenAI(api_key="k", base_url=f"{server.base_url}/v1", max_retries=0) as client,
    ):
        with pytest.raises(RateLimitError) as raised:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "u"}])
    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_exceeded"


async def test_llm_stream_abandoned_by_the_client_or_cut_by_exit() -> None:
    body = {"model": "m", "messages": [], "stream": True}
    before = asyncio.all_tasks()
    async with httpx.AsyncClient() as client:
        async with OpenAIMockServer(chunk_delay_s=0.05) as server:
            async with client.stream("POST", f"{server.base_url}/v1/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    assert line.startswith("data: ")
                    break  # leaving the block closes the connection mid-stream
            async with client.stream("POST", f"{server.base_url}/v1/chat/completions", json=body) as response:
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith("data: ")
                started = time.monotonic()
                await server.__aexit__(None, None, None)  # the server goes away mid-stream
                with pytest.raises(httpx.RemoteProtocolError):
                    async for _ in lines:
                        pass
    assert time.monotonic() - started < 2
    assert asyncio.all_tasks() - before == set()
    gc.collect()
