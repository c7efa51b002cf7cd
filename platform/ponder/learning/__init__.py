"""Online learning of the path scorer from reported outcomes (plain Python + Redis)."""
