"""A safe evaluator for arithmetic the decoder writes (program-of-thought).

Only numbers, + - * / // % **, unary +/-, and parentheses are allowed, parsed with `ast`;
never `eval`. Sizes are bounded so a hostile expression fails fast instead of hanging.
"""

from __future__ import annotations

import ast
import math
import re

from ponder.errors import InvalidArgument

MAX_EXPRESSION_CHARS = 300
MAX_NODES = 100
MAX_ABS_VALUE = 1e15
MAX_EXPONENT = 64


class UnsafeExpression(InvalidArgument):
    """The expression is not plain bounded arithmetic."""

    def __init__(self, reason: str) -> None:
        super().__init__("expression", reason)


_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def normalise_expression(text: str) -> str:
    """Accept the usual ways people write arithmetic: x and × for *, ÷ for /, 1,000 and $."""
    cleaned = text.strip().rstrip("=.").strip()
    cleaned = cleaned.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", cleaned)
    cleaned = cleaned.replace("$", "").replace("%", "/100")
    return re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", cleaned)


def evaluate(expression: str) -> float:
    """The value of a plain arithmetic expression; raises UnsafeExpression otherwise."""
    text = normalise_expression(expression)
    if not text:
        raise UnsafeExpression("empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise UnsafeExpression(f"longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise UnsafeExpression(f"not arithmetic ({error.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise UnsafeExpression(f"more than {MAX_NODES} syntax nodes")
    value = _eval(tree.body)
    if not math.isfinite(value):
        raise UnsafeExpression("result is not a finite number")
    return value


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise UnsafeExpression("booleans not allowed")
        return _bounded(float(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        operand = _eval(node.operand)
        return operand if isinstance(node.op, ast.UAdd) else -operand
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise UnsafeExpression(f"exponent {right:g} above {MAX_EXPONENT}")
            if left < 0 and right != int(right):
                raise UnsafeExpression("a fractional power of a negative number is not real")
            try:
                return _bounded(float(left**right))
            except (OverflowError, ZeroDivisionError) as error:
                raise UnsafeExpression(str(error)) from None
        operation = _BINARY.get(type(node.op))
        if operation is None:
            raise UnsafeExpression(f"operator {type(node.op).__name__} not allowed")
        try:
            return _bounded(float(operation(left, right)))
        except ZeroDivisionError:
            raise UnsafeExpression("division by zero") from None
    raise UnsafeExpression(f"{type(node).__name__} not allowed")


def _bounded(value: float) -> float:
    if isinstance(value, complex) or not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
        raise UnsafeExpression(f"value out of range (|x| > {MAX_ABS_VALUE:g})")
    return value
