"""gRPC API glue: proto <-> core conversion, status mapping, stub generation, client."""
