"""Training jobs' core (no Ray): domain data in the planner's formats, LoRA fine-tuning."""
