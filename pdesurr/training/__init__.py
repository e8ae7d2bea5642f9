"""Training: recipes, objectives, the fit loop, checkpoints, distributed setup."""
