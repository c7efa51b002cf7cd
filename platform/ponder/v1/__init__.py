"""Generated gRPC stubs of protos/ponder/v1 (regenerate: python -m ponder.api.protogen)."""
