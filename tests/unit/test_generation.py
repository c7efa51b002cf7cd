import pytest

from ponder.generation import FinishReason, GenerationChunk, TokenLogprob, join_chunks


def test_join_chunks_concatenates_and_keeps_final_usage() -> None:
    chunks = [
        GenerationChunk("The", 5, 1, (TokenLogprob("The", -0.1),)),
        GenerationChunk(" end", 5, 2, (TokenLogprob(" end", -0.2),), FinishReason.STOP),
    ]
    result = join_chunks(chunks)
    assert result.text == "The end"
    assert (result.prompt_tokens, result.completion_tokens) == (5, 2)
    assert result.finish_reason is FinishReason.STOP
    assert [lp.token for lp in result.logprobs] == ["The", " end"]


def test_join_chunks_rejects_unfinished_stream() -> None:
    with pytest.raises(ValueError, match="finish"):
        join_chunks([GenerationChunk("a", 1, 1)])
    with pytest.raises(ValueError, match="finish"):
        join_chunks([])
