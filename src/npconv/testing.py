"""Checking a backward pass against its forward pass by finite differences.

``npconv check`` and the tests use the same check.

For a function ``y = f(x_1, ..., x_m)`` and the backward pass ``g = B(u, x)``
that should give ``g_i = J_i^T u``, the directional derivative along a
random ``v_i`` must agree both ways::

    <u, (f(.., x_i + h v_i, ..) - f(.., x_i - h v_i, ..)) / 2h>  ==  <g_i, v_i>

Central differences in float64 are exact to ``O(h^2)`` for smooth
functions; pick inputs away from kinks (ties of a maximum, zeros of ReLU).
"""

from __future__ import annotations

import numpy as np


def directional_derivatives(forward, backward, inputs, rng, h=1e-6):
    """``[(numeric, analytic), ...]``: both sides of the check above, one pair per input.

    ``forward(*inputs)`` gives ``y``; ``backward(u, *inputs)`` gives one
    gradient per input (in order).  ``u`` and the ``v_i`` are standard
    normal draws from ``rng``.
    """
    u = rng.standard_normal(np.shape(forward(*inputs)))
    gradients = backward(u, *inputs)
    pairs = []
    for index, (array, gradient) in enumerate(zip(inputs, gradients)):
        direction = rng.standard_normal(np.shape(array))
        plus, minus = list(inputs), list(inputs)
        plus[index] = array + h * direction
        minus[index] = array - h * direction
        numeric = float(np.vdot(u, forward(*plus) - forward(*minus)) / (2 * h))
        pairs.append((numeric, float(np.vdot(gradient, direction))))
    return pairs


def directional_error(forward, backward, inputs, rng, h=1e-6):
    """The largest ``|numeric - analytic| / max(1, |numeric|)`` of
    :func:`directional_derivatives`."""
    return max(abs(numeric - analytic) / max(1.0, abs(numeric))
               for numeric, analytic in directional_derivatives(forward, backward, inputs, rng, h))
