from hypothesis import given
from hypothesis import strategies as st

from tokbench.core.metrics import request_metrics
from tokbench.core.trace import Recorder, answer_state


def trace_of(pieces: list[str], finish: str | None = "stop", thinking: list[str] | None = None):
    rec = Recorder(0)
    t = 0
    for x in thinking or []:
        t += 1
        rec.add(t, "thinking", x)
    for x in pieces:
        t += 1
        rec.add(t, "answer", x)
    return rec.finish(t + 1, finish_reason=finish)


def test_inline_block_split_across_pieces() -> None:
    tr = trace_of(["<th", "ink>Let me", " see</th", "ink>\n\nIt is ", "Thursday."])
    assert tr.text("thinking") == "Let me see"
    assert tr.text("answer") == "\n\nIt is Thursday."
    # pieces holding a tag boundary are split in two (same timestamp), none is lost
    assert tr.times_ns == (1, 2, 2, 3, 3, 4, 4, 5)
    assert request_metrics(tr).answer_state == "answered"


def test_only_closing_tag_means_the_template_opened_thinking() -> None:
    tr = trace_of(["hmm", " ok", "</think>", "D"])
    assert tr.text("thinking") == "hmm ok"
    assert tr.text("answer") == "D"


def test_unclosed_block_is_truncated_thinking() -> None:
    tr = trace_of(["  <think>", "still thinking"], finish="length")
    assert tr.text("answer") == "" and tr.text("thinking") == "still thinking"
    assert tr.think_open
    assert request_metrics(tr).answer_state == "thinking_truncated"


def test_empty_think_block_and_plain_answers() -> None:
    tr = trace_of(["<think>\n\n</think>", "Answer"])
    assert tr.text("answer") == "Answer" and tr.text("thinking") == "\n\n"
    plain = trace_of(["I think <think> is a tag"])
    assert plain.text("answer") == "I think <think> is a tag" and not plain.think_open


def test_states() -> None:
    assert answer_state("", "", "stop", False, None) == "empty"
    assert answer_state("", "long thoughts", "length", False, None) == "thinking_truncated"
    assert answer_state("x", "", "length", False, "boom") == "error"
    assert request_metrics(trace_of([], thinking=["a"], finish="length")).answer_state == (
        "thinking_truncated"
    )


@given(
    st.text(alphabet="ab \n", max_size=15),
    st.text(alphabet="cd \n", max_size=15),
    st.booleans(),
    st.data(),
)
def test_any_piece_boundaries_give_the_same_split(
    thought: str, answer: str, with_open: bool, data: st.DataObject
) -> None:
    full = ("<think>" if with_open else "") + thought + "</think>" + answer
    cuts = sorted(data.draw(st.lists(st.integers(0, len(full)), max_size=8)))
    pieces = [full[a:b] for a, b in zip([0, *cuts], [*cuts, len(full)], strict=True)]
    tr = trace_of([p for p in pieces if p])
    assert tr.text("thinking") == thought
    assert tr.text("answer") == answer
    assert sorted(tr.times_ns) == list(tr.times_ns)
