"""Reasoning planner core: plan DAG, strategies, safe arithmetic, path scorer, score cache.

Plain Python (no Ray): the planner runs against any object with the PlannerDecoder
protocol, so it is testable with a scripted decoder and served with Ray handles.
"""
