"""Decoder engines: the protocol deployments depend on, and the vLLM implementation."""
