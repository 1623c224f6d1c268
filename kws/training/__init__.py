"""Training: configuration, schedules, checkpoints with resume, distribution, evaluation."""
