"""Where a sliding window reads: geometry, phase layouts, blocks of planes, scratch memory.

:mod:`.geometry` (:class:`~.geometry.Window`: which input cells each kernel
offset reads), :mod:`.phases` (the flat-phase layout in which each offset
reads one contiguous range), :mod:`.blocks` (batch chunks, plane blocks and
the thread pool) and :mod:`.scratch` (buffers kept between calls).  Nothing
here knows about convolution or pooling.
"""
