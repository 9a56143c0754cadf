"""``nerflow serve``: the server started as a subprocess on a free port (``--port 0``) with a
tiny fixture model; each route, each bad request (a JSON 4xx, never a traceback), request
batching, a classification folder refused; the page in headless Chromium (Playwright on
the system browser): a sentence typed, the button clicked, the highlighted spans read from
the DOM against ``/predict``'s record, HTML in the text kept as text, a screenshot kept in
``test-artifacts/serve_page.png`` (``NERFLOW_TEST_ARTIFACTS``: elsewhere).

Chromium: as in ``tests/test_report.py`` (skipped without it, except under CI).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, require_chromium, save_tiny_models

from nerflow.data.records import Record
from nerflow.data.user_texts import InputText, iter_input_texts
from nerflow.inference.annotate import annotate_folders
from nerflow.serving.app import create_app
from nerflow.serving.batching import Batcher
from nerflow.serving.requests import parse_request
from nerflow.serving.settings import Batching, Limits

TYPES = ["address", "name", "org.unit", "地名"]
TEXTS = ["叶老桂在北京上海浙商银行", "那不勒斯\t米兰 国际足球俱乐部", "ac米兰的CS1.6🙂"]
LIMITS = ["--max-texts", "4", "--max-text-chars", "60", "--max-body-bytes", "2000"]
SCREENSHOT = ARTIFACTS / "serve_page.png"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    return save_tiny_models(root, TEXTS, TYPES, [("softmax", "softmax", 0)])["softmax"]


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    """``nerflow serve ARGS --port 0`` and the URL it announces."""
    command = [sys.executable, "-m", "nerflow", "serve", *args, "--port", "0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    lines = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if "listening on " in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep draining
            return process, line.split("listening on ", 1)[1].split()[0]
    process.wait(timeout=30)
    raise AssertionError(f"the server did not start (exit {process.returncode}): {''.join(lines)}")


@pytest.fixture(scope="module")
def server(model: Path) -> Iterator[str]:
    process, url = start_server(str(model), "--batch-wait-ms", "50", *LIMITS)
    yield url
    process.terminate()
    assert process.wait(timeout=30) == 0, "SIGTERM stops the server cleanly"


def request(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, Any]:
    """Status and JSON body of a request (``body``: a POST)."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        assert error.headers.get_content_type() == "application/json", raw
        assert b"Traceback" not in raw
        return error.code, json.loads(raw)


def predict(url: str, obj: Any) -> tuple[int, Any]:
    return request(f"{url}/predict", json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def predicted_by_cli_path(model: Path, objects: list[dict]) -> list[dict]:
    """What ``nerflow predict`` writes for these JSON lines (its annotator, in process)."""
    lines = io.StringIO("".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects))
    return list(annotate_folders([model], iter_input_texts(lines, "<test>", "jsonl")))


# --------------------------------------------------------------------------- routes


def test_it_listens_on_localhost_by_default(server: str) -> None:
    assert server.startswith("http://127.0.0.1:")


def test_one_text_gives_the_record_of_nerflow_predict(server: str, model: Path) -> None:
    obj = {"text": TEXTS[0], "source": "a field that is kept"}
    status, record = predict(server, obj)
    assert status == 200
    assert record == predicted_by_cli_path(model, [obj])[0]
    assert record["id"] == 0 and record["source"] == "a field that is kept"
    assert record["label"], "the fixture model tags something"


def test_a_list_gives_the_records_of_nerflow_predict(server: str, model: Path) -> None:
    items: list[Any] = [TEXTS[1], {"text": TEXTS[2], "id": "x"}, "", {"text": TEXTS[0]}]
    status, records = predict(server, {"texts": items})
    assert status == 200
    objects = [item if isinstance(item, dict) else {"text": item} for item in items]
    assert records == predicted_by_cli_path(model, objects)
    assert [record["id"] for record in records] == [0, "x", 2, 3]
    assert predict(server, {"texts": []}) == (200, [])


def test_health(server: str) -> None:
    status, health = request(f"{server}/health")
    assert status == 200
    assert health["status"] == "ok" and health["task"] == "ner"
    assert health["types"] == TYPES
    assert health["limits"] == {"max_body_bytes": 2000, "max_texts": 4, "max_text_chars": 60}


def test_the_page_is_self_contained(server: str) -> None:
    with urllib.request.urlopen(f"{server}/", timeout=60) as response:
        assert response.headers.get_content_type() == "text/html"
        page = response.read().decode("utf-8")
    assert 'id="legend"' in page and 'id="tag"' in page
    for external in ('src="http', "src='http", 'href="http', "@import", "//cdn"):
        assert external not in page
    assert "innerHTML" not in page  # user text is never parsed as HTML


BAD_REQUESTS = [
    (b'{"text": "abc"', 400, "not JSON"),
    ('{"text": "\u5317"}'.encode("utf-16"), 400, "not UTF-8"),
    (b"[" * 1500, 400, "not JSON"),
    (b'["a text"]', 400, "must be a JSON object"),
    (b'{"text": "a\\ud800b"}', 400, "lone surrogate"),
    (b'{"text": "a", "score": NaN}', 400, "NaN is not a JSON number"),
    (b'{"txt": "a"}', 400, "missing field 'text' or 'texts'"),
    (b'{"text": 5}', 400, "'text' must be a string, not a number"),
    (b'{"text": null}', 400, "'text' must be a string, not null"),
    (b'{"text": "a", "texts": []}', 400, "not both"),
    (b'{"texts": "a"}', 400, "'texts' must be a list"),
    (b'{"texts": ["a", 7]}', 400, "texts[1]: must be a string or an object"),
    (b'{"texts": [{"text": ["a"]}]}', 400, "texts[0]: 'text' must be a string, not a list"),
    (b'{"texts": [{"id": 1}]}', 400, "texts[0]: not a JSON object with a string 'text'"),
    (b'{"text": "a", "id": true}', 400, "'id' must be an integer or a string"),
    (b'{"texts": ["a", "b", "c", "d", "e"]}', 413, "5 texts in one request; the limit is 4"),
    (json.dumps({"text": "北" * 61}).encode(), 413, "61 characters; the limit is 60"),
    (json.dumps({"texts": ["a", "北" * 61]}).encode(), 413, "texts[1]: 61 characters"),
    (json.dumps({"text": "a" * 3000}).encode(), 413, "larger than the limit of 2000 bytes"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_json_4xx(server: str, body: bytes, status: int, message: str) -> None:
    got, answer = request(f"{server}/predict", body)
    assert (got, list(answer)) == (status, ["error"])
    assert message in answer["error"]


def test_an_oversized_chunked_body_is_refused_without_its_length(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    chunks = (b'{"text": "' + b"a" * 1000 for _ in range(5))
    connection.request("POST", "/predict", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413
    assert "2000 bytes" in json.loads(response.read())["error"]
    connection.close()


def test_unknown_routes_and_methods_are_json(server: str) -> None:
    assert request(f"{server}/nothing-here")[0] == 404
    status, answer = request(f"{server}/predict", method="GET")
    assert status == 405 and "GET /predict" in answer["error"]
    try:
        urllib.request.urlopen(urllib.request.Request(f"{server}/health", method="PUT"))
    except urllib.error.HTTPError as error:
        assert error.code == 405 and "GET" in error.headers["Allow"]
    else:
        raise AssertionError("PUT /health answered")


def test_concurrent_requests_are_batched_and_each_gets_its_own_record(
    server: str, model: Path
) -> None:
    texts = [f"{TEXTS[i % 3]}{i}" for i in range(8)]
    before = request(f"{server}/health")[1]["counters"]
    barrier = threading.Barrier(len(texts))
    answers: dict[int, Any] = {}

    def client(index: int) -> None:
        barrier.wait()
        answers[index] = predict(server, {"text": texts[index], "id": index})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    expected = predicted_by_cli_path(model, [{"text": t, "id": i} for i, t in enumerate(texts)])
    assert [answers[i] for i in range(len(texts))] == [(200, record) for record in expected]
    after = request(f"{server}/health")[1]["counters"]
    assert after["requests"] - before["requests"] == len(texts)
    assert after["model_calls"] - before["model_calls"] < len(texts)


# --------------------------------------------------------------------------- in process


def fake_annotator(calls: list[list[str]]):
    """Records each call's texts; a text "boom" makes the call fail."""

    def annotator(texts: list[InputText]) -> list[dict]:
        calls.append([text.record.text for text in texts])
        if any(text.record.text == "boom" for text in texts):
            raise RuntimeError("the model broke")
        return [text.output([]) for text in texts]

    return annotator


def submit_together(batcher: Batcher, groups: list[list[str]]) -> list[Any]:
    async def run() -> list[Any]:
        await batcher.start()
        try:
            jobs = [
                batcher.submit([InputText(1, {"text": t}, Record(0, t)) for t in group])
                for group in groups
            ]
            return await asyncio.gather(*jobs, return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(run())


def test_batching_gathers_requests_up_to_its_size_and_without_it_one_call_each() -> None:
    groups = [["a"], ["b", "c"], ["d"], ["e", "f", "g"], ["h"]]
    calls: list[list[str]] = []
    answers = submit_together(Batcher(fake_annotator(calls), Batching(True, 200, 4)), groups)
    assert [[record["text"] for record in answer] for answer in answers] == groups
    assert calls == [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    calls.clear()
    submit_together(Batcher(fake_annotator(calls), Batching(enabled=False)), groups)
    assert calls == groups


def test_a_failing_request_fails_alone() -> None:
    calls: list[list[str]] = []
    answers = submit_together(
        Batcher(fake_annotator(calls), Batching(True, 200, 64)), [["a"], ["boom"], ["b"]]
    )
    assert calls[0] == ["a", "boom", "b"]  # one call, then each request alone
    assert isinstance(answers[1], RuntimeError)
    assert answers[0][0]["text"] == "a" and answers[2][0]["text"] == "b"


def test_a_model_failure_is_a_json_500_without_traceback() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async def run() -> tuple[int, dict]:
        app = create_app(fake_annotator([]), {"types": []})
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/predict", json={"text": "boom"})
            return response.status, await response.json()

    status, answer = asyncio.run(run())
    assert status == 500
    assert answer == {"error": "internal error: the prediction failed (see the server log)"}


def test_parse_request_defaults_ids_like_nerflow_predict() -> None:
    texts, single = parse_request(b'{"texts": ["a", {"text": "b", "k": 1}]}', Limits())
    assert not single
    assert [(t.record.id, t.fields) for t in texts] == [
        (0, {"text": "a"}),
        (1, {"text": "b", "k": 1}),
    ]


# --------------------------------------------------------------------------- command line


def test_a_classification_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "classifier"
    folder.mkdir()
    (folder / "classifier.json").write_text("{}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "nerflow", "serve", str(folder), "--port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert "a classification model folder" in line and "NER" in line


def test_help_says_where_it_listens() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nerflow", "serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "127.0.0.1" in result.stdout and "--no-batching" in result.stdout


# --------------------------------------------------------------------------- the page


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TEXT = "🙂叶老桂<b>在</b>北京<img src=x onerror=alert(1)>浙商银行"


CRAFTED = {
    "id": 0,
    "text": "<b>叶老桂</b>在<img src=x onerror=alert(1)>北京",
    "label": {"name": {"<b>叶老桂</b>": [[0, 9]]}, "地名": {"北京": [[39, 40]]}},
}
"""A record with HTML inside an entity and between two (offsets checked in the test)."""


def flat_spans(label: dict) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` of a record's label, sorted (a flat model: no overlaps)."""
    return sorted(
        ((entity_type, start, end) for entity_type, mentions in label.items()
         for positions in mentions.values() for start, end in positions),
        key=lambda span: span[1],
    )  # fmt: skip


def test_the_page_highlights_the_entities_in_chromium(server: str) -> None:
    browser_path = require_chromium()
    try:
        from playwright import sync_api as playwright_api
    except ImportError:  # part of the test extra: CI has it
        if os.environ.get("CI"):
            pytest.fail("playwright is missing; CI installs the test extra")
        pytest.skip("playwright is missing (pip install -e '.[test]')")
    status, record = predict(server, {"text": PAGE_TEXT})
    assert status == 200 and record["label"]
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 600})
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{server}/")
            page.wait_for_selector("body[data-ready=true]")
            legend = page.eval_on_selector_all(
                "#legend li",
                "items => items.map(li => [li.dataset.type, "
                "getComputedStyle(li.querySelector('.swatch')).backgroundColor])",
            )
            page.fill("#text", PAGE_TEXT)
            page.click("#tag")
            page.wait_for_selector("#status:has-text('entities'), #status:has-text('entity')")
            marks = page.eval_on_selector_all(
                "#result mark.entity",
                "marks => marks.map(m => [m.dataset.type, +m.dataset.start, +m.dataset.end, "
                "m.textContent, getComputedStyle(m).backgroundColor])",
            )
            shown = page.inner_text("#result")
            injected = page.eval_on_selector_all("#result b, #result img", "nodes => nodes.length")
            text_content = page.eval_on_selector("#result", "node => node.textContent")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            # HTML inside and between entities, rendered from a record the page is given
            page.evaluate("record => showRecord(record)", CRAFTED)
            crafted = page.eval_on_selector_all(
                "#result mark.entity", "marks => marks.map(m => [m.dataset.type, m.textContent])"
            )
            crafted_text = page.eval_on_selector("#result", "node => node.textContent")
            injected += page.eval_on_selector_all("#result b, #result img", "nodes => nodes.length")
            page.fill("#text", "北" * 61)  # over the server's limit: the error is shown
            page.click("#tag")
            page.wait_for_selector("#status.error")
            error = page.inner_text("#status")
        finally:
            browser.close()
    print(f"screenshot: {SCREENSHOT}")
    assert [entity_type for entity_type, _color in legend] == TYPES
    colors = dict(legend)
    assert len(set(colors.values())) == len(TYPES)
    chars = list(PAGE_TEXT)  # code points, as the server counts
    assert [tuple(mark[:3]) for mark in marks] == flat_spans(record["label"])
    for entity_type, start, end, text, color in marks:
        assert text == "".join(chars[start : end + 1])  # offsets hold after the emoji
        assert color == colors[entity_type]
    assert text_content == PAGE_TEXT and "<b>" in shown  # HTML in the text stays text
    assert injected == 0 and not dialogs
    assert crafted_text == CRAFTED["text"]
    assert crafted == [["name", "<b>叶老桂</b>"], ["地名", "北京"]]
    assert "61 characters; the limit is 60" in error
