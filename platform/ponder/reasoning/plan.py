"""The reasoning plan: a DAG of sub-tasks shared by alternative strategies (branches).

extract (shared, once per problem)
  -> per branch, the nodes of its strategy, in order:
     direct:     answer
     cot:        compute (step-by-step text) -> answer (parse)
     pot:        method (arithmetic expression) -> compute (safe evaluator) -> verify -> answer
     decompose:  method (steps "a op b = c") -> compute (evaluate each step) -> verify -> answer
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from ponder.errors import InvalidArgument


class NodeKind(enum.Enum):
    """What a sub-task does."""

    EXTRACT = "extract"
    METHOD = "method"
    COMPUTE = "compute"
    VERIFY = "verify"
    ANSWER = "answer"


class Strategy(enum.Enum):
    """An alternative way through the DAG."""

    DIRECT = "direct"
    COT = "cot"
    POT = "pot"
    DECOMPOSE = "decompose"


STRATEGY_NODES: dict[Strategy, tuple[NodeKind, ...]] = {
    Strategy.DIRECT: (NodeKind.ANSWER,),
    Strategy.COT: (NodeKind.COMPUTE, NodeKind.ANSWER),
    Strategy.POT: (NodeKind.METHOD, NodeKind.COMPUTE, NodeKind.VERIFY, NodeKind.ANSWER),
    Strategy.DECOMPOSE: (NodeKind.METHOD, NodeKind.COMPUTE, NodeKind.VERIFY, NodeKind.ANSWER),
}
DEFAULT_STRATEGY_ORDER = (Strategy.POT, Strategy.COT, Strategy.DECOMPOSE, Strategy.DIRECT)
EXTRACT_NODE_ID = "extract"


@dataclass(frozen=True)
class PlanNode:
    """One sub-task; deps are node ids that must finish first."""

    id: str
    kind: NodeKind
    deps: tuple[str, ...]
    branch: str | None = None


@dataclass(frozen=True)
class BranchSpec:
    """One candidate path: a strategy and how to sample it."""

    id: str
    strategy: Strategy
    temperature: float
    seed: int


@dataclass(frozen=True)
class Plan:
    """The DAG of one request."""

    nodes: tuple[PlanNode, ...]
    branches: tuple[BranchSpec, ...]

    def topological_order(self) -> list[PlanNode]:
        """Nodes so that every node comes after its dependencies."""
        done: set[str] = set()
        order: list[PlanNode] = []
        pending = list(self.nodes)
        while pending:
            ready = [n for n in pending if all(d in done for d in n.deps)]
            if not ready:
                raise ValueError("plan has a cycle or a missing dependency")
            for node in ready:
                order.append(node)
                done.add(node.id)
                pending.remove(node)
        return order

    def branch_nodes(self, branch_id: str) -> list[PlanNode]:
        return [n for n in self.nodes if n.branch == branch_id]


def parse_strategies(names: list[str] | tuple[str, ...]) -> tuple[Strategy, ...]:
    """Strategies named by a caller, in the default order; empty means all."""
    if not names:
        return DEFAULT_STRATEGY_ORDER
    known = {s.value: s for s in Strategy}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidArgument(
            "strategies", f"unknown strategy {unknown[0]!r}; known: {', '.join(known)}"
        )
    wanted = {known[n] for n in names}
    return tuple(s for s in DEFAULT_STRATEGY_ORDER if s in wanted)


def build_plan(
    strategies: tuple[Strategy, ...],
    max_branches: int,
    sample_temperatures: tuple[float, ...] = (0.7,),
) -> Plan:
    """One greedy branch per strategy, then sampled variants until max_branches, each with
    its own seed and the next of `sample_temperatures` in turn (diverse samples)."""
    if not strategies:
        raise InvalidArgument("strategies", "at least one strategy is needed")
    branches = []
    for index in range(max_branches):
        strategy = strategies[index % len(strategies)]
        greedy = index < len(strategies)
        branches.append(
            BranchSpec(
                id=f"b{index}-{strategy.value}",
                strategy=strategy,
                temperature=(
                    0.0
                    if greedy
                    else sample_temperatures[(index - len(strategies)) % len(sample_temperatures)]
                ),
                seed=index,
            )
        )
    nodes = [PlanNode(EXTRACT_NODE_ID, NodeKind.EXTRACT, ())]
    for branch in branches:
        previous = EXTRACT_NODE_ID
        for kind in STRATEGY_NODES[branch.strategy]:
            node_id = f"{branch.id}.{kind.value}"
            nodes.append(PlanNode(node_id, kind, (previous,), branch.id))
            previous = node_id
    return Plan(nodes=tuple(nodes), branches=tuple(branches))


# -- extract conditions -----------------------------------------------------------------

NUMBER_PATTERN = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Conditions:
    """What the problem gives (its quantities, in order) and what it asks."""

    quantities: tuple[float, ...]
    question: str


def parse_number(text: str) -> float | None:
    """A number written like 1,234.5 or -3, or None."""
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_conditions(problem: str) -> Conditions:
    """Quantities in order of appearance and the sentence that asks (deterministic)."""
    quantities = []
    for match in NUMBER_PATTERN.finditer(problem):
        value = parse_number(match.group().rstrip(","))
        if value is not None:
            quantities.append(value)
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s+", problem.strip()) if s.strip()]
    asked = [s for s in sentences if s.endswith("?")]
    question = asked[-1] if asked else (sentences[-1] if sentences else problem.strip())
    return Conditions(quantities=tuple(quantities), question=question)


def format_number(value: float) -> str:
    """Integers without a decimal point, others to at most 4 decimals."""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")
