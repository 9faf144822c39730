"""The ``npconv`` command (``train``, ``predict``, ``check``, ``bench``), apart from the library.

The library (:mod:`npconv`, :mod:`npconv.nn`) never imports this package.
"""

from .command import main

__all__ = ["main"]
