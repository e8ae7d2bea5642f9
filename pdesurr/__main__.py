"""``python -m pdesurr`` is the ``pdesurr`` command."""

from pdesurr.cli import main

raise SystemExit(main())
