"""`invoke ...` inside the checkout: the same tasks as the installed ``kmodkit`` command.

The task definitions live in the package (``kmodkit.cli.tasks``) so that ``pip install`` users
get them as the ``kmodkit`` console script; this file only re-exports the collection.
"""

from kmodkit.cli.tasks import ns

__all__ = ["ns"]
