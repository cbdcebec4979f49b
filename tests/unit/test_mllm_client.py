"""The MLLM client's edge cases at the transport level (httpx.MockTransport).

These check our handling of what a server can do wrong; that real requests
and schemas work is proven against a live vLLM server in tests/integration.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from PIL import Image

from spagent_graph.answers import TypesAnswer
from spagent_graph.errors import MLLMResponseError, MLLMUnavailableError
from spagent_graph.mllm import MLLMClient, Visual
from tests.conftest import panning_frames, smooth_picture, write_test_video

GOOD = {"text_type": "natural language text", "visual_type": "None", "subject": "animals"}


def completion(content: str) -> dict:
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
    }


def client_with(handler, **kwargs) -> tuple[MLLMClient, list[dict]]:
    sent: list[dict] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content) if request.content else {})
        return handler(request, len(sent))

    transport = httpx.MockTransport(record)
    client = MLLMClient(base_url="http://mllm.test/v1", model="m", http_client=httpx.Client(transport=transport),
                        max_retries=2, **kwargs)
    return client, sent


def test_request_carries_the_json_schema_and_the_answer_is_parsed():
    client, sent = client_with(lambda request, n: httpx.Response(200, json=completion(json.dumps(GOOD))))
    answer = client.ask("classify", TypesAnswer)
    assert answer.parsed == TypesAnswer(**GOOD)
    response_format = sent[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == TypesAnswer.model_json_schema()
    assert client.calls[-1].parsed and client.calls[-1].schema_name == "TypesAnswer"


def test_server_errors_are_retried_then_succeed():
    def flaky(request, n):
        return httpx.Response(503, json={"error": "warming up"}) if n < 3 else httpx.Response(200, json=completion(json.dumps(GOOD)))

    client, sent = client_with(flaky)
    assert client.ask("classify", TypesAnswer).parsed.subject == "animals"
    assert len(sent) == 3


def test_truncated_json_is_a_response_error_that_quotes_the_answer():
    client, _ = client_with(lambda request, n: httpx.Response(200, json=completion('{"text_type": "natural lang')))
    with pytest.raises(MLLMResponseError, match=r"TypesAnswer.*does not fit its schema.*natural lang"):
        client.ask("classify", TypesAnswer)
    assert client.calls[-1].parsed is False


def test_client_error_status_is_not_retried():
    client, sent = client_with(lambda request, n: httpx.Response(400, json={"error": {"message": "bad schema"}}))
    with pytest.raises(MLLMResponseError, match="HTTP 400"):
        client.ask("classify", TypesAnswer)
    assert len(sent) == 1


def test_timeouts_end_as_unavailable_after_retries():
    def slow(request, n):
        raise httpx.ReadTimeout("too slow", request=request)

    client, sent = client_with(slow)
    with pytest.raises(MLLMUnavailableError, match="http://mllm.test/v1 could not be reached"):
        client.ask("classify", TypesAnswer)
    assert len(sent) == 3


def test_unreachable_endpoint_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MLLMClient(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    with pytest.raises(MLLMUnavailableError, match=f"127.0.0.1:{port}/v1 could not be reached"):
        client.ask("classify", TypesAnswer)


def test_images_go_as_data_urls_and_videos_as_sampled_frames(tmp_path: Path):
    image = tmp_path / "a.png"
    Image.fromarray(smooth_picture(1)).save(image)
    video = write_test_video(tmp_path / "v.mp4", panning_frames(12))
    client, sent = client_with(lambda request, n: httpx.Response(200, json=completion(json.dumps(GOOD))), max_frames=4)
    client.ask("look", TypesAnswer, [Visual(image, "single image"), Visual(video, "video")])
    parts = sent[0]["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text"] + ["image_url"] * 5
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts[1:])


def test_two_videos_share_the_per_request_image_limit(tmp_path: Path):
    video = write_test_video(tmp_path / "v.mp4", panning_frames(12))
    client, sent = client_with(lambda request, n: httpx.Response(200, json=completion(json.dumps(GOOD))),
                               max_frames=8, max_images_per_request=8)
    client.ask("look", TypesAnswer, [Visual(video, "video"), Visual(video, "video")])
    assert [p["type"] for p in sent[0]["messages"][-1]["content"]].count("image_url") == 8


def test_video_url_mode_sends_the_file_itself(tmp_path: Path):
    video = write_test_video(tmp_path / "v.mp4", panning_frames(4))
    client, sent = client_with(lambda request, n: httpx.Response(200, json=completion(json.dumps(GOOD))),
                               video_input="video_url")
    client.ask("look", TypesAnswer, [Visual(video, "video")])
    part = sent[0]["messages"][-1]["content"][1]
    assert part["type"] == "video_url" and part["video_url"]["url"].startswith("data:video/mp4;base64,")
