"""Ray Serve deployments of Ponder and the application builder (thin glue over `ponder`)."""
