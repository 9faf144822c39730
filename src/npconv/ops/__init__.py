"""The operators, with torch's names and arguments: convolution, pooling, unpooling, unfold/fold.

Each module turns user arguments into canonical values and a window
(:mod:`.arguments`), checks arrays (:mod:`.common`) and calls the engine
(:mod:`npconv.engine`) or the window primitives (:mod:`npconv.window`).  No
operator module imports another.  :mod:`npconv` re-exports the public functions.
"""
