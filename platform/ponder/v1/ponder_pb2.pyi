from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]

class SamplingPreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLING_PRESET_UNSPECIFIED: _ClassVar[SamplingPreset]
    SAMPLING_PRESET_REPORT: _ClassVar[SamplingPreset]
    SAMPLING_PRESET_CREATIVE: _ClassVar[SamplingPreset]

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_STOP: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_ABORT: _ClassVar[FinishReason]

class NodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_KIND_UNSPECIFIED: _ClassVar[NodeKind]
    NODE_KIND_EXTRACT: _ClassVar[NodeKind]
    NODE_KIND_METHOD: _ClassVar[NodeKind]
    NODE_KIND_COMPUTE: _ClassVar[NodeKind]
    NODE_KIND_VERIFY: _ClassVar[NodeKind]
    NODE_KIND_ANSWER: _ClassVar[NodeKind]

class PathStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATH_STATUS_UNSPECIFIED: _ClassVar[PathStatus]
    PATH_STATUS_COMPLETED: _ClassVar[PathStatus]
    PATH_STATUS_PRUNED: _ClassVar[PathStatus]
    PATH_STATUS_FAILED: _ClassVar[PathStatus]

class ReasonEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_EVENT_KIND_UNSPECIFIED: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_PLAN_BUILT: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_BRANCH_STARTED: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_STEP_DONE: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_BRANCH_PRUNED: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_BRANCH_DONE: _ClassVar[ReasonEventKind]
    REASON_EVENT_KIND_FINAL_ANSWER: _ClassVar[ReasonEventKind]

class AnalyzeMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYZE_METHOD_UNSPECIFIED: _ClassVar[AnalyzeMethod]
    ANALYZE_METHOD_FUSED_DECODER: _ClassVar[AnalyzeMethod]
    ANALYZE_METHOD_CHART_READING: _ClassVar[AnalyzeMethod]
    ANALYZE_METHOD_CHART_READING_REASON: _ClassVar[AnalyzeMethod]
    ANALYZE_METHOD_TABLE_READING: _ClassVar[AnalyzeMethod]
    ANALYZE_METHOD_TABLE_READING_REASON: _ClassVar[AnalyzeMethod]

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_BASE: _ClassVar[ModelKind]
    MODEL_KIND_ADAPTER: _ClassVar[ModelKind]
    MODEL_KIND_STUDENT: _ClassVar[ModelKind]
    MODEL_KIND_REFRESH: _ClassVar[ModelKind]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
SAMPLING_PRESET_UNSPECIFIED: SamplingPreset
SAMPLING_PRESET_REPORT: SamplingPreset
SAMPLING_PRESET_CREATIVE: SamplingPreset
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_STOP: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_ABORT: FinishReason
NODE_KIND_UNSPECIFIED: NodeKind
NODE_KIND_EXTRACT: NodeKind
NODE_KIND_METHOD: NodeKind
NODE_KIND_COMPUTE: NodeKind
NODE_KIND_VERIFY: NodeKind
NODE_KIND_ANSWER: NodeKind
PATH_STATUS_UNSPECIFIED: PathStatus
PATH_STATUS_COMPLETED: PathStatus
PATH_STATUS_PRUNED: PathStatus
PATH_STATUS_FAILED: PathStatus
REASON_EVENT_KIND_UNSPECIFIED: ReasonEventKind
REASON_EVENT_KIND_PLAN_BUILT: ReasonEventKind
REASON_EVENT_KIND_BRANCH_STARTED: ReasonEventKind
REASON_EVENT_KIND_STEP_DONE: ReasonEventKind
REASON_EVENT_KIND_BRANCH_PRUNED: ReasonEventKind
REASON_EVENT_KIND_BRANCH_DONE: ReasonEventKind
REASON_EVENT_KIND_FINAL_ANSWER: ReasonEventKind
ANALYZE_METHOD_UNSPECIFIED: AnalyzeMethod
ANALYZE_METHOD_FUSED_DECODER: AnalyzeMethod
ANALYZE_METHOD_CHART_READING: AnalyzeMethod
ANALYZE_METHOD_CHART_READING_REASON: AnalyzeMethod
ANALYZE_METHOD_TABLE_READING: AnalyzeMethod
ANALYZE_METHOD_TABLE_READING_REASON: AnalyzeMethod
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_BASE: ModelKind
MODEL_KIND_ADAPTER: ModelKind
MODEL_KIND_STUDENT: ModelKind
MODEL_KIND_REFRESH: ModelKind

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: Role
    content: str
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ...) -> None: ...

class SamplingOptions(_message.Message):
    __slots__ = ("preset", "temperature", "top_p", "max_tokens", "seed", "stop", "logprobs", "min_tokens")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    MIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    preset: SamplingPreset
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    logprobs: int
    min_tokens: int
    def __init__(self, preset: _Optional[_Union[SamplingPreset, str]] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., max_tokens: _Optional[int] = ..., seed: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., logprobs: _Optional[int] = ..., min_tokens: _Optional[int] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("messages", "prompt", "sampling", "adapter", "model")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    prompt: str
    sampling: SamplingOptions
    adapter: str
    model: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., prompt: _Optional[str] = ..., sampling: _Optional[_Union[SamplingOptions, _Mapping]] = ..., adapter: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class TopLogprob(_message.Message):
    __slots__ = ("token", "logprob")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    token: str
    logprob: float
    def __init__(self, token: _Optional[str] = ..., logprob: _Optional[float] = ...) -> None: ...

class TokenLogprob(_message.Message):
    __slots__ = ("token", "logprob", "top_logprobs")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    TOP_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    token: str
    logprob: float
    top_logprobs: _containers.RepeatedCompositeFieldContainer[TopLogprob]
    def __init__(self, token: _Optional[str] = ..., logprob: _Optional[float] = ..., top_logprobs: _Optional[_Iterable[_Union[TopLogprob, _Mapping]]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "finish_reason", "usage", "logprobs", "request_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    finish_reason: FinishReason
    usage: Usage
    logprobs: _containers.RepeatedCompositeFieldContainer[TokenLogprob]
    request_id: str
    def __init__(self, text: _Optional[str] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., logprobs: _Optional[_Iterable[_Union[TokenLogprob, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReasonBudget(_message.Message):
    __slots__ = ("max_branches", "max_tokens")
    MAX_BRANCHES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    max_branches: int
    max_tokens: int
    def __init__(self, max_branches: _Optional[int] = ..., max_tokens: _Optional[int] = ...) -> None: ...

class ReasonRequest(_message.Message):
    __slots__ = ("problem", "budget", "strategies", "adapter", "model")
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    problem: str
    budget: ReasonBudget
    strategies: _containers.RepeatedScalarFieldContainer[str]
    adapter: str
    model: str
    def __init__(self, problem: _Optional[str] = ..., budget: _Optional[_Union[ReasonBudget, _Mapping]] = ..., strategies: _Optional[_Iterable[str]] = ..., adapter: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class PlanNode(_message.Message):
    __slots__ = ("id", "kind", "depends_on", "branch_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    BRANCH_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: NodeKind
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    branch_id: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., depends_on: _Optional[_Iterable[str]] = ..., branch_id: _Optional[str] = ...) -> None: ...

class PathStep(_message.Message):
    __slots__ = ("node_id", "kind", "output", "tokens", "mean_logprob")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MEAN_LOGPROB_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    kind: NodeKind
    output: str
    tokens: int
    mean_logprob: float
    def __init__(self, node_id: _Optional[str] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., output: _Optional[str] = ..., tokens: _Optional[int] = ..., mean_logprob: _Optional[float] = ...) -> None: ...

class CandidatePath(_message.Message):
    __slots__ = ("id", "strategy", "steps", "answer", "score", "status", "tokens", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: str
    strategy: str
    steps: _containers.RepeatedCompositeFieldContainer[PathStep]
    answer: str
    score: float
    status: PathStatus
    tokens: int
    note: str
    def __init__(self, id: _Optional[str] = ..., strategy: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[PathStep, _Mapping]]] = ..., answer: _Optional[str] = ..., score: _Optional[float] = ..., status: _Optional[_Union[PathStatus, str]] = ..., tokens: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class ReasonUsage(_message.Message):
    __slots__ = ("decoder_calls", "prompt_tokens", "completion_tokens", "kept_tokens")
    DECODER_CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    KEPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    decoder_calls: int
    prompt_tokens: int
    completion_tokens: int
    kept_tokens: int
    def __init__(self, decoder_calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., kept_tokens: _Optional[int] = ...) -> None: ...

class ReasonResponse(_message.Message):
    __slots__ = ("reasoning_id", "answer", "numeric_answer", "plan", "paths", "chosen_path_id", "usage", "scorer_version", "cache_hits", "cache_misses", "outcome_reportable", "adapter", "model", "cache_bypassed", "ranker_version")
    REASONING_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_ANSWER_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_PATH_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_REPORTABLE_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYPASSED_FIELD_NUMBER: _ClassVar[int]
    RANKER_VERSION_FIELD_NUMBER: _ClassVar[int]
    reasoning_id: str
    answer: str
    numeric_answer: float
    plan: _containers.RepeatedCompositeFieldContainer[PlanNode]
    paths: _containers.RepeatedCompositeFieldContainer[CandidatePath]
    chosen_path_id: str
    usage: ReasonUsage
    scorer_version: str
    cache_hits: int
    cache_misses: int
    outcome_reportable: bool
    adapter: str
    model: str
    cache_bypassed: int
    ranker_version: str
    def __init__(self, reasoning_id: _Optional[str] = ..., answer: _Optional[str] = ..., numeric_answer: _Optional[float] = ..., plan: _Optional[_Iterable[_Union[PlanNode, _Mapping]]] = ..., paths: _Optional[_Iterable[_Union[CandidatePath, _Mapping]]] = ..., chosen_path_id: _Optional[str] = ..., usage: _Optional[_Union[ReasonUsage, _Mapping]] = ..., scorer_version: _Optional[str] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., outcome_reportable: _Optional[bool] = ..., adapter: _Optional[str] = ..., model: _Optional[str] = ..., cache_bypassed: _Optional[int] = ..., ranker_version: _Optional[str] = ...) -> None: ...

class ReasonEvent(_message.Message):
    __slots__ = ("kind", "branch_id", "strategy", "step", "score", "status", "answer", "note", "plan", "response")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BRANCH_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    kind: ReasonEventKind
    branch_id: str
    strategy: str
    step: PathStep
    score: float
    status: PathStatus
    answer: str
    note: str
    plan: _containers.RepeatedCompositeFieldContainer[PlanNode]
    response: ReasonResponse
    def __init__(self, kind: _Optional[_Union[ReasonEventKind, str]] = ..., branch_id: _Optional[str] = ..., strategy: _Optional[str] = ..., step: _Optional[_Union[PathStep, _Mapping]] = ..., score: _Optional[float] = ..., status: _Optional[_Union[PathStatus, str]] = ..., answer: _Optional[str] = ..., note: _Optional[str] = ..., plan: _Optional[_Iterable[_Union[PlanNode, _Mapping]]] = ..., response: _Optional[_Union[ReasonResponse, _Mapping]] = ...) -> None: ...

class ReportOutcomeRequest(_message.Message):
    __slots__ = ("reasoning_id", "correct", "reward", "correct_answer", "problem_group")
    REASONING_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    CORRECT_ANSWER_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_GROUP_FIELD_NUMBER: _ClassVar[int]
    reasoning_id: str
    correct: bool
    reward: float
    correct_answer: str
    problem_group: str
    def __init__(self, reasoning_id: _Optional[str] = ..., correct: _Optional[bool] = ..., reward: _Optional[float] = ..., correct_answer: _Optional[str] = ..., problem_group: _Optional[str] = ...) -> None: ...

class ReportOutcomeResponse(_message.Message):
    __slots__ = ("duplicate", "scorer_version", "scope")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    scorer_version: str
    scope: str
    def __init__(self, duplicate: _Optional[bool] = ..., scorer_version: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class GetScorerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScorerMetrics(_message.Message):
    __slots__ = ("examples", "log_loss", "accuracy", "calibration_error")
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    examples: int
    log_loss: float
    accuracy: float
    calibration_error: float
    def __init__(self, examples: _Optional[int] = ..., log_loss: _Optional[float] = ..., accuracy: _Optional[float] = ..., calibration_error: _Optional[float] = ...) -> None: ...

class ScorerVersion(_message.Message):
    __slots__ = ("version", "parent", "status", "created_unix_ms", "promoted_unix_ms", "heldout", "gate_reason", "outcomes_applied")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    HELDOUT_FIELD_NUMBER: _ClassVar[int]
    GATE_REASON_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_APPLIED_FIELD_NUMBER: _ClassVar[int]
    version: str
    parent: str
    status: str
    created_unix_ms: int
    promoted_unix_ms: int
    heldout: ScorerMetrics
    gate_reason: str
    outcomes_applied: int
    def __init__(self, version: _Optional[str] = ..., parent: _Optional[str] = ..., status: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., promoted_unix_ms: _Optional[int] = ..., heldout: _Optional[_Union[ScorerMetrics, _Mapping]] = ..., gate_reason: _Optional[str] = ..., outcomes_applied: _Optional[int] = ...) -> None: ...

class ScorerInfo(_message.Message):
    __slots__ = ("scope", "active", "candidate", "active_heldout", "outcomes_reported", "outcomes_applied", "outcomes_pending", "progressive_log_loss")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_HELDOUT_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_REPORTED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_APPLIED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_PENDING_FIELD_NUMBER: _ClassVar[int]
    PROGRESSIVE_LOG_LOSS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    active: ScorerVersion
    candidate: ScorerVersion
    active_heldout: ScorerMetrics
    outcomes_reported: int
    outcomes_applied: int
    outcomes_pending: int
    progressive_log_loss: float
    def __init__(self, scope: _Optional[str] = ..., active: _Optional[_Union[ScorerVersion, _Mapping]] = ..., candidate: _Optional[_Union[ScorerVersion, _Mapping]] = ..., active_heldout: _Optional[_Union[ScorerMetrics, _Mapping]] = ..., outcomes_reported: _Optional[int] = ..., outcomes_applied: _Optional[int] = ..., outcomes_pending: _Optional[int] = ..., progressive_log_loss: _Optional[float] = ...) -> None: ...

class RankerVersion(_message.Message):
    __slots__ = ("version", "parent", "status", "created_unix_ms", "promoted_unix_ms", "train_examples", "gate_reason", "gate_problems", "gate_wins", "gate_losses")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    GATE_REASON_FIELD_NUMBER: _ClassVar[int]
    GATE_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    GATE_WINS_FIELD_NUMBER: _ClassVar[int]
    GATE_LOSSES_FIELD_NUMBER: _ClassVar[int]
    version: str
    parent: str
    status: str
    created_unix_ms: int
    promoted_unix_ms: int
    train_examples: int
    gate_reason: str
    gate_problems: int
    gate_wins: int
    gate_losses: int
    def __init__(self, version: _Optional[str] = ..., parent: _Optional[str] = ..., status: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., promoted_unix_ms: _Optional[int] = ..., train_examples: _Optional[int] = ..., gate_reason: _Optional[str] = ..., gate_problems: _Optional[int] = ..., gate_wins: _Optional[int] = ..., gate_losses: _Optional[int] = ...) -> None: ...

class RankerInfo(_message.Message):
    __slots__ = ("scope", "active", "latest", "train_examples", "heldout_examples", "fitted_on")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    TRAIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    HELDOUT_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    FITTED_ON_FIELD_NUMBER: _ClassVar[int]
    scope: str
    active: RankerVersion
    latest: RankerVersion
    train_examples: int
    heldout_examples: int
    fitted_on: int
    def __init__(self, scope: _Optional[str] = ..., active: _Optional[_Union[RankerVersion, _Mapping]] = ..., latest: _Optional[_Union[RankerVersion, _Mapping]] = ..., train_examples: _Optional[int] = ..., heldout_examples: _Optional[int] = ..., fitted_on: _Optional[int] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("version", "base_model", "parent", "status", "created_unix_ms", "promoted_unix_ms", "train_examples", "gate_reason", "gate_problems", "gate_wins", "gate_losses")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    GATE_REASON_FIELD_NUMBER: _ClassVar[int]
    GATE_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    GATE_WINS_FIELD_NUMBER: _ClassVar[int]
    GATE_LOSSES_FIELD_NUMBER: _ClassVar[int]
    version: str
    base_model: str
    parent: str
    status: str
    created_unix_ms: int
    promoted_unix_ms: int
    train_examples: int
    gate_reason: str
    gate_problems: int
    gate_wins: int
    gate_losses: int
    def __init__(self, version: _Optional[str] = ..., base_model: _Optional[str] = ..., parent: _Optional[str] = ..., status: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., promoted_unix_ms: _Optional[int] = ..., train_examples: _Optional[int] = ..., gate_reason: _Optional[str] = ..., gate_problems: _Optional[int] = ..., gate_wins: _Optional[int] = ..., gate_losses: _Optional[int] = ...) -> None: ...

class ModelRefreshInfo(_message.Message):
    __slots__ = ("scope", "active", "kept_versions")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    KEPT_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    active: ModelVersion
    kept_versions: int
    def __init__(self, scope: _Optional[str] = ..., active: _Optional[_Union[ModelVersion, _Mapping]] = ..., kept_versions: _Optional[int] = ...) -> None: ...

class GetScorerResponse(_message.Message):
    __slots__ = ("scorer", "ranker", "model")
    SCORER_FIELD_NUMBER: _ClassVar[int]
    RANKER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    scorer: ScorerInfo
    ranker: RankerInfo
    model: ModelRefreshInfo
    def __init__(self, scorer: _Optional[_Union[ScorerInfo, _Mapping]] = ..., ranker: _Optional[_Union[RankerInfo, _Mapping]] = ..., model: _Optional[_Union[ModelRefreshInfo, _Mapping]] = ...) -> None: ...

class EncodeRequest(_message.Message):
    __slots__ = ("image", "table_json")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TABLE_JSON_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    table_json: str
    def __init__(self, image: _Optional[bytes] = ..., table_json: _Optional[str] = ...) -> None: ...

class EncodeResponse(_message.Message):
    __slots__ = ("modality", "vectors", "width", "pooled", "batch_size", "weights_version", "random_init")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    POOLED_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_VERSION_FIELD_NUMBER: _ClassVar[int]
    RANDOM_INIT_FIELD_NUMBER: _ClassVar[int]
    modality: str
    vectors: int
    width: int
    pooled: _containers.RepeatedScalarFieldContainer[float]
    batch_size: int
    weights_version: str
    random_init: bool
    def __init__(self, modality: _Optional[str] = ..., vectors: _Optional[int] = ..., width: _Optional[int] = ..., pooled: _Optional[_Iterable[float]] = ..., batch_size: _Optional[int] = ..., weights_version: _Optional[str] = ..., random_init: _Optional[bool] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("text", "image", "table_json", "sampling", "model")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TABLE_JSON_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    table_json: str
    sampling: SamplingOptions
    model: str
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., table_json: _Optional[str] = ..., sampling: _Optional[_Union[SamplingOptions, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("text", "finish_reason", "usage", "request_id", "image_vectors", "table_vectors", "weights_version", "method", "chart", "values_used", "expression", "table")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    TABLE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CHART_FIELD_NUMBER: _ClassVar[int]
    VALUES_USED_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    text: str
    finish_reason: FinishReason
    usage: Usage
    request_id: str
    image_vectors: int
    table_vectors: int
    weights_version: str
    method: AnalyzeMethod
    chart: ChartReading
    values_used: _containers.RepeatedCompositeFieldContainer[ReadValue]
    expression: str
    table: TableReading
    def __init__(self, text: _Optional[str] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., request_id: _Optional[str] = ..., image_vectors: _Optional[int] = ..., table_vectors: _Optional[int] = ..., weights_version: _Optional[str] = ..., method: _Optional[_Union[AnalyzeMethod, str]] = ..., chart: _Optional[_Union[ChartReading, _Mapping]] = ..., values_used: _Optional[_Iterable[_Union[ReadValue, _Mapping]]] = ..., expression: _Optional[str] = ..., table: _Optional[_Union[TableReading, _Mapping]] = ...) -> None: ...

class ReadValue(_message.Message):
    __slots__ = ("label", "value")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: float
    def __init__(self, label: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ChartReading(_message.Message):
    __slots__ = ("kind", "values", "reader_version")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    READER_VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    values: _containers.RepeatedCompositeFieldContainer[ReadValue]
    reader_version: str
    def __init__(self, kind: _Optional[str] = ..., values: _Optional[_Iterable[_Union[ReadValue, _Mapping]]] = ..., reader_version: _Optional[str] = ...) -> None: ...

class TableReading(_message.Message):
    __slots__ = ("operation", "column", "reader_version", "confidence")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    READER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    operation: str
    column: str
    reader_version: str
    confidence: float
    def __init__(self, operation: _Optional[str] = ..., column: _Optional[str] = ..., reader_version: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "kind", "version", "description", "planner_default", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PLANNER_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ModelKind
    version: str
    description: str
    planner_default: bool
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., planner_default: _Optional[bool] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
