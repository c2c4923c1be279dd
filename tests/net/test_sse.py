import json

from hypothesis import given
from hypothesis import strategies as st

from tokbench.net.sse import SSEParser


def feed_all(parts: list[bytes]) -> list[bytes]:
    p = SSEParser()
    out: list[bytes] = []
    for part in parts:
        out += p.feed(part)
    return out + p.close()


def test_basic_events_and_done() -> None:
    stream = b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'
    assert feed_all([stream]) == [b'{"a":1}', b'{"a":2}', b"[DONE]"]


def test_comments_other_fields_and_multiline_data() -> None:
    stream = b": keep-alive\n\nevent: message\nid: 7\ndata: line1\ndata:line2\n\n"
    assert feed_all([stream]) == [b"line1\nline2"]


def test_crlf_and_cr_line_endings() -> None:
    assert feed_all([b"data: x\r\n\r\ndata: y\r\rdata: z\n\n"]) == [b"x", b"y", b"z"]


def test_crlf_split_between_feeds_is_one_line_ending() -> None:
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\ndata: b\r\n\r\n") == [b"a\nb"]


def test_missing_final_blank_line_is_flushed_on_close() -> None:
    p = SSEParser()
    assert p.feed(b"data: [DONE]\n") == []
    assert p.close() == [b"[DONE]"]


payloads = st.lists(
    st.dictionaries(st.text(max_size=5), st.text(max_size=12), max_size=3), min_size=1, max_size=8
)


@given(payloads, st.sampled_from([b"\n", b"\r\n", b"\r"]), st.data())
def test_any_chunk_boundaries_give_the_same_events(
    objs: list[dict[str, str]], eol: bytes, data: st.DataObject
) -> None:
    events = [json.dumps(o, ensure_ascii=False).encode() for o in objs]
    stream = b"".join(b"data: " + e + eol + b": note" + eol + eol for e in events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert feed_all(parts) == events
    assert feed_all([stream]) == events
