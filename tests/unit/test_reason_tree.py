"""What `ponder reason` and the demo print: the answer, one line per branch (program =
answer, score, tokens; the chosen one marked; pruned and failed ones with their reason),
the plan on one line and a summary line."""

from __future__ import annotations

from ponder.cli.rpc_commands import format_compact_tree, format_plan, format_reason_tree
from ponder.v1 import ponder_pb2 as pb


def response() -> pb.ReasonResponse:
    def path(
        index: int, program: str, answer: str, status: int, note: str = ""
    ) -> pb.CandidatePath:
        steps = (
            [pb.PathStep(node_id=f"b{index}-pot.method", kind=pb.NODE_KIND_METHOD, output=program)]
            if program
            else []
        )
        return pb.CandidatePath(
            id=f"b{index}-pot",
            strategy="pot",
            steps=steps,
            answer=answer,
            score=0.5 + index / 10,
            status=status,
            tokens=7 if program else 0,
            note=note,
        )

    plan = [
        pb.PlanNode(id=f"b{i}-pot.{kind}", kind=k, branch_id=f"b{i}-pot")
        for i in range(3)
        for kind, k in (("method", pb.NODE_KIND_METHOD), ("compute", pb.NODE_KIND_COMPUTE))
    ]
    return pb.ReasonResponse(
        reasoning_id="r-1",
        answer="28",
        plan=plan,
        paths=[
            path(0, "7 * (4 + 12)", "112", pb.PATH_STATUS_COMPLETED),
            path(1, "7 * 4", "28", pb.PATH_STATUS_COMPLETED),
            path(2, "", "", pb.PATH_STATUS_PRUNED, "not started: the answer settled"),
        ],
        chosen_path_id="b1-pot",
        usage=pb.ReasonUsage(decoder_calls=2, completion_tokens=14),
        scorer_version="2-abc",
    )


def test_compact_tree_lists_every_branch_and_marks_the_chosen_one() -> None:
    lines = format_compact_tree(response(), 1.25).splitlines()
    assert lines[0] == "answer: 28"
    assert lines[1].startswith("├─ b0-pot") and "7 * (4 + 12) = 112" in lines[1]
    assert "◀ chosen" not in lines[1]
    assert "7 * 4 = 28" in lines[2] and lines[2].endswith("◀ chosen") and "score 0.60" in lines[2]
    assert lines[3] == "└─ b2-pot   pruned: not started: the answer settled"
    assert lines[4] == (
        "3 branches, 2 decoder calls, 14 tokens, 1.25 s · scorer 2-abc · reasoning_id r-1"
    )


def test_long_programs_are_cut_and_a_missing_answer_is_said() -> None:
    answer = response()
    answer.answer = ""
    answer.paths[0].steps[0].output = "(" * 60
    lines = format_compact_tree(answer, 0.1).splitlines()
    assert lines[0] == "answer: (none)"
    assert "(" * 39 + "…" in lines[1] and "(" * 41 not in lines[1]


def test_plan_line_and_full_trace() -> None:
    assert format_plan(response()) == "3 pot branches, each method -> compute"
    trace = format_reason_tree(response())
    assert "<= chosen" in trace and "· method: 7 * 4" in trace and "note: not started" in trace
