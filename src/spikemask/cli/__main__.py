"""``python -m spikemask.cli``: the same as the ``spikemask`` command (used with ``torchrun -m``)."""
import sys

from spikemask.cli import main

sys.exit(main())
