"""Data stores: solver runs written as self-describing zarr stores that xarray opens.

Imported by module (``pdesurr.data.trajectory_writer``) so that ``import pdesurr`` stays light.
"""
