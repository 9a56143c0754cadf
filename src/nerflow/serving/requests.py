"""The body of ``POST /predict`` read and checked: :func:`parse_request` (one text or a
list, JSON, within the limits), each bad request a :class:`RequestError` with its status."""

from __future__ import annotations

import json
from typing import Any

from nerflow.data.records import Record
from nerflow.data.user_texts import InputError, InputText, input_text
from nerflow.serving.settings import Limits


class RequestError(Exception):
    """A request the server refuses: its HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _kind(value: Any) -> str:
    """What a JSON value is, in words: ``a number``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {int: "a number", float: "a number", str: "a string", list: "a list"}
    return kinds.get(type(value), "an object")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_request(body: bytes, limits: Limits) -> tuple[list[InputText], bool]:
    """The texts of a ``/predict`` body and whether it held one text (``{"text": ...}``,
    other fields kept, id 0 unless given) rather than a list (``{"texts": [...]}``: strings,
    or objects with a string ``text``; ids default to their index), as ``nerflow predict``
    reads JSON lines. Raises :class:`RequestError` (400 or 413)."""
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
        json.dumps(obj, ensure_ascii=False).encode("utf-8")  # what the answer will hold
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8") from None
    except UnicodeEncodeError:
        raise RequestError(400, "the body holds a lone surrogate (\\ud800-\\udfff)") from None
    except json.JSONDecodeError as error:
        raise RequestError(400, f"the body is not JSON: {error.msg} at char {error.pos}") from None
    except RecursionError:
        raise RequestError(400, "the body is not JSON: nested too deeply") from None
    except ValueError as error:
        raise RequestError(400, f"the body is not JSON: {error}") from None
    usage = "the body must be a JSON object with 'text' (a string) or 'texts' (a list)"
    if not isinstance(obj, dict):
        raise RequestError(400, f"{usage}, not {_kind(obj)}")
    if "text" in obj and "texts" in obj:
        raise RequestError(400, f"{usage}, not both")
    if "texts" in obj:
        items = obj["texts"]
        if not isinstance(items, list):
            raise RequestError(400, f"'texts' must be a list, not {_kind(items)}")
        if len(items) > limits.max_texts:
            raise RequestError(
                413, f"{len(items)} texts in one request; the limit is {limits.max_texts}"
            )
        texts = [_item(item, index) for index, item in enumerate(items)]
        single = False
    elif "text" in obj:
        if not isinstance(obj["text"], str):
            raise RequestError(400, f"'text' must be a string, not {_kind(obj['text'])}")
        texts = [_checked(obj, 1, "the body")]
        single = True
    else:
        raise RequestError(400, f"missing field 'text' or 'texts': {usage}")
    for index, text in enumerate(texts):
        if len(text.record.text) > limits.max_text_chars:
            where = "'text'" if single else f"texts[{index}]"
            raise RequestError(
                413,
                f"{where}: {len(text.record.text)} characters; the limit is "
                f"{limits.max_text_chars} per text",
            )
    return texts, single


def _item(item: Any, index: int) -> InputText:
    where = f"texts[{index}]"
    if isinstance(item, str):
        return InputText(index + 1, {"text": item}, Record(id=index, text=item))
    if isinstance(item, dict) and "text" in item and not isinstance(item["text"], str):
        raise RequestError(400, f"{where}: 'text' must be a string, not {_kind(item['text'])}")
    if not isinstance(item, dict):
        what = "a string or an object with a string 'text'"
        raise RequestError(400, f"{where}: must be {what}, not {_kind(item)}")
    return _checked(item, index + 1, where)


def _checked(obj: dict[str, Any], number: int, where: str) -> InputText:
    try:
        return input_text(obj, number, where)
    except InputError as error:
        raise RequestError(400, str(error)) from None
