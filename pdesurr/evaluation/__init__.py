"""Evaluation: plots of simulations (later: rollouts, metrics, spectra, reports).

Imported by module (``pdesurr.evaluation.plots``) so that matplotlib loads only when used.
"""
