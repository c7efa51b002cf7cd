"""Measuring answers, outside the serving path.

- `compare_methods`: `ponder eval` — greedy, chain of thought, self-consistency and Reason
  on the same problems, through the gRPC API.
- `learning_loop`: `ponder eval --learn-stream N` — the online-learning loop simulated
  through the gRPC API (Reason, ReportOutcome, held-out checkpoints).
- `strategy_accuracy`: dev-split accuracy per planner strategy of an adapter or a student,
  on an in-process vLLM engine (the training jobs' metrics.json).
- `path_records`: the planner run with every path seen to its end, each path's feature
  rows and whether its answer is right (what `strategy_accuracy` counts).
"""
