"""``python -m ae_zoo`` runs the ``ae-zoo`` command."""

import sys

from ae_zoo.cli import main

sys.exit(main())
