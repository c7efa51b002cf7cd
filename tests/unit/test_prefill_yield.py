"""The rule by which a prompt prefilled in chunks sits out a step a new request needs."""

from dataclasses import dataclass

from ponder.engine.prefill_yield import is_long_prefill, prefills_to_hold, runs_alone

CAP = 32  # long_prefill_token_threshold


@dataclass
class Req:
    num_prompt_tokens: int
    num_computed_tokens: int
    num_output_tokens: int = 0


def long_prompt(done: int = 64) -> Req:
    return Req(num_prompt_tokens=3300, num_computed_tokens=done)


def test_a_prompt_is_long_while_more_than_one_capped_chunk_of_it_is_left() -> None:
    assert is_long_prefill(long_prompt(done=0), CAP)
    assert is_long_prefill(Req(3300, 3300 - CAP - 1), CAP)
    assert not is_long_prefill(Req(3300, 3300 - CAP), CAP)  # its last chunk
    assert not is_long_prefill(Req(20, 0), CAP)  # a short prompt: one step
    assert not is_long_prefill(Req(3300, 3300, num_output_tokens=5), CAP)  # decoding


def test_long_prefills_sit_out_a_step_a_waiting_request_needs() -> None:
    running = [long_prompt(), Req(40, 40, num_output_tokens=30)]
    assert prefills_to_hold(running, waiting=1, chunk_cap=CAP) == [running[0]]
    # nobody new: the long prompt keeps its chunk in every step
    assert prefills_to_hold(running, waiting=0, chunk_cap=CAP) == []


def test_until_a_new_request_has_its_second_token() -> None:
    prompt = long_prompt()
    for outputs, held in ((0, True), (1, True), (2, False)):
        short = Req(12, 12 if outputs else 0, num_output_tokens=outputs)
        assert prefills_to_hold([prompt, short], waiting=0, chunk_cap=CAP) == (
            [prompt] if held else []
        )


def test_long_prefills_do_not_hold_each_other_or_anything_without_a_cap() -> None:
    first, second = long_prompt(64), long_prompt(0)
    assert prefills_to_hold([first, second], waiting=0, chunk_cap=CAP) == []
    assert prefills_to_hold([first, second], waiting=2, chunk_cap=CAP) == [first, second]
    # no cap: vLLM does not chunk a prompt for others' sake, so there is nothing to yield
    assert prefills_to_hold([first, Req(12, 0)], waiting=1, chunk_cap=0) == []
    assert prefills_to_hold([Req(12, 0)], waiting=3, chunk_cap=CAP) == []


def test_a_lone_long_prefill_is_stepped_small_only_while_alone() -> None:
    full = 256  # max_num_batched_tokens
    assert runs_alone([long_prompt()], 64, full)
    assert runs_alone([long_prompt(done=0)], 64, full)  # waiting, not yet started
    assert not runs_alone([long_prompt()], 0, full)  # off
    assert not runs_alone([long_prompt(), Req(12, 0)], 64, full)  # not alone
    assert not runs_alone([Req(3300, 3300 - 64)], 64, full)  # its last small step
    assert not runs_alone([Req(12, 12, 5)], 64, full)  # decoding
    # a prompt that fits in one full step keeps it: its first token is not delayed
    assert not runs_alone([Req(200, 0)], 64, full)
    assert runs_alone([Req(300, 0)], 64, full)
