"""Data: dataset specs, generation, stores (zarr, HDF5; The Well and PDEBench files read
in place, and exported to), trajectory stores of ``simulate``, integrity checks, windows
and pairs as torch datasets.

Imported by module (``pdesurr.data.trajectory_writer``) so that ``import pdesurr`` stays light.
"""
