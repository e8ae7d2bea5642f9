"""Training: recipes, objectives (a registry), the offline fit loop, online training from
solver producers, the physics-informed trainer, distributed setup. Checkpoints are written
and read through :mod:`pdesurr.checkpoints`, which sits below this package."""
