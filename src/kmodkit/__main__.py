"""``python -m kmodkit``: the same as the ``kmodkit`` console script."""

from kmodkit.cli.program import main

main()
