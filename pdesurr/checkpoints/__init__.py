"""Checkpoints and the inference stepper, below ``training/`` and ``evaluation/``.

Imported by module, like ``models/``' neighbours:

* :mod:`.files`: the safe directory layout (``model.safetensors``, ``config.json`` with
  content hashes, ``training_state.pt`` read with ``weights_only=True``), crash-safe saving
  and recovery, :class:`~.files.CheckpointError`.
* :mod:`.surrogate`: :class:`~.surrogate.Surrogate`, a trained model as a time stepper in
  physical units (what training objectives and evaluation roll out).
* :mod:`.readers`: one :class:`~.readers.Reader` per format (pdesurr's own, Poseidon's
  published layout, physics-informed runs), chosen by the directory's ``config.json``, so
  ``info``, ``evaluate`` and ``train`` treat every format alike.

``training/`` writes checkpoints; ``evaluation/`` and the CLI read them, without importing
``training/``.
"""
