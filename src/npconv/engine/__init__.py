"""The convolution engine: one N-d grouped convolution, forward and backward, four algorithms.

:func:`forward` and :func:`backward` (:mod:`.planning`) pick an algorithm
per call (:mod:`.im2col`, :mod:`.direct`, :mod:`.depthwise`, :mod:`.fft`)
and keep infinities and NaNs where torch puts them.  Every convolution
operator in :mod:`npconv.ops` is expressed with these two functions;
:class:`KeptColumns` carries im2col's columns from one pass to the next.
"""

from .im2col import KeptColumns
from .planning import backward, forward

__all__ = ["forward", "backward", "KeptColumns"]
