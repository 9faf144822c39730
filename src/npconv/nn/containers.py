"""Containers: Sequential, ModuleList, ModuleDict, and the branching blocks Residual and Parallel.

``Sequential`` chains modules; ``Residual`` adds a body to a shortcut and
``Parallel`` runs branches side by side, concatenating or adding their
outputs.  Their backward passes route and sum the gradients, so ResNet,
Inception, MobileNet and U-Net blocks need no hand-written backward.
``ModuleList`` and ``ModuleDict`` only hold and register modules.
"""

from __future__ import annotations

import numpy as np

from .module import Module


def _checked_module(owner, module, where):
    if not isinstance(module, Module):
        raise TypeError(f"{owner}(): {where} must be a Module, got {type(module).__name__}")
    return module


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
    >>> y = model(np.ones((2, 1, 5, 5), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 100), (2, 1, 5, 5))
    """

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), _checked_module("Sequential", module,
                                                        f"argument {index}"))

    def __iter__(self):
        return iter(list(self.children()))

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, index):
        return list(self.children())[index]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_output):
        modules = list(self)
        for index in range(len(modules) - 1, -1, -1):
            grad_output = modules[index].backward(
                grad_output, input_gradient=index > 0 or self.input_gradient_needed)
        return grad_output


class ModuleList(Module):
    """A list of modules, registered under their indices (``'0'``, ``'1'``, ...), as torch's.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> blocks = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    >>> len(blocks), [type(b).__name__ for b in blocks]
    (2, ['ReLU', 'Tanh'])
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _items(self):
        return list(self._modules.values())

    def _renumber(self, modules):
        self._modules.clear()
        for index, module in enumerate(modules):
            self._modules[str(index)] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._items())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._items()[index])
        return self._items()[self._index(index)]

    def __setitem__(self, index, module):
        modules = self._items()
        modules[self._index(index)] = _checked_module("ModuleList", module, "an item")
        self._renumber(modules)

    def __delitem__(self, index):
        modules = self._items()
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)

    def _index(self, index):
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"ModuleList indices must be ints or slices, got "
                            f"{type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"ModuleList index {index} out of range for {len(self)} modules")
        return index % len(self)

    def append(self, module):
        self._modules[str(len(self))] = _checked_module("ModuleList.append", module, "`module`")
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = self._items()
        modules.insert(index, _checked_module("ModuleList.insert", module, "`module`"))
        self._renumber(modules)

    def pop(self, index=-1):
        modules = self._items()
        module = modules.pop(self._index(index))
        self._renumber(modules)
        return module

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(self._items() + list(other))


class ModuleDict(Module):
    """A dict of modules, registered under their keys in insertion order, as torch's.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> heads = nn.ModuleDict({'a': nn.Linear(4, 2), 'b': nn.Linear(4, 3)})
    >>> sorted(heads.keys()), heads['b'](np.ones((1, 4), np.float32)).shape
    (['a', 'b'], (1, 3))
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _checked_module("ModuleDict", module, f"item {key!r}"))

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()


class Identity(Module):
    """Returns its input; its backward pass returns the output gradient (torch's arguments are ignored).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Identity()
    >>> layer(np.arange(3.0)), layer.backward(np.ones(3))
    (array([0., 1., 2.]), array([1., 1., 1.]))
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


class Residual(Module):
    """``body(x) + shortcut(x)`` (``shortcut`` None: ``x`` itself), a ResNet block's skip connection.

    The backward pass sends the output gradient through both and adds the two
    input gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> block = nn.Residual(nn.Conv2d(4, 4, 3, padding=1))
    >>> y = block(np.ones((2, 4, 5, 5), np.float32))
    >>> y.shape, block.backward(np.ones_like(y)).shape
    ((2, 4, 5, 5), (2, 4, 5, 5))
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = _checked_module("Residual", body, "`body`")
        self.shortcut = None if shortcut is None else _checked_module("Residual", shortcut,
                                                                      "`shortcut`")

    def forward(self, x):
        main = self.body(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if np.shape(main) != np.shape(skip):
            raise ValueError(f"Residual: the body's output {np.shape(main)} and the shortcut's "
                             f"{np.shape(skip)} must have one shape")
        return main + skip

    def backward(self, grad_output):
        needed = self.input_gradient_needed
        grad_input = self.body.backward(grad_output, input_gradient=needed)
        if self.shortcut is None:
            return grad_input + grad_output if needed else None
        grad_skip = self.shortcut.backward(grad_output, input_gradient=needed)
        return grad_input + grad_skip if needed else None


class Parallel(Module):
    """Branches applied to one input, their outputs concatenated along ``dim`` or added.

    ``combine='cat'`` (Inception, DenseNet, a U-Net's skip concatenation) or
    ``'add'``.  The backward pass gives each branch its part of the output
    gradient (its slice along ``dim``, or all of it) and adds the branches'
    input gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> branches = nn.Parallel(nn.Conv2d(3, 2, 1), nn.Conv2d(3, 5, 3, padding=1))
    >>> y = branches(np.ones((2, 3, 6, 6), np.float32))
    >>> y.shape, branches.backward(np.ones_like(y)).shape
    ((2, 7, 6, 6), (2, 3, 6, 6))
    """

    def __init__(self, *branches, combine="cat", dim=1):
        super().__init__()
        if combine not in ("cat", "add"):
            raise ValueError(f"Parallel(): `combine` must be 'cat' or 'add', got {combine!r}")
        if not branches:
            raise ValueError("Parallel(): give at least one branch")
        for index, branch in enumerate(branches):
            self.add_module(str(index), _checked_module("Parallel", branch,
                                                        f"branch {index}"))
        self.combine, self.dim = combine, int(dim)

    def forward(self, x):
        outputs = [branch(x) for branch in self.children()]
        if self.combine == "add":
            shapes = {np.shape(out) for out in outputs}
            if len(shapes) != 1:
                raise ValueError(f"Parallel(combine='add'): the branches' outputs must have "
                                 f"one shape, got {[np.shape(out) for out in outputs]}")
            return sum(outputs[1:], outputs[0])
        self._sizes = [np.shape(out)[self.dim] for out in outputs]
        return np.concatenate(outputs, axis=self.dim)

    def backward(self, grad_output):
        branches = list(self.children())
        if self.combine == "add":
            parts = [grad_output] * len(branches)
        else:
            parts = np.split(grad_output, np.cumsum(self._sizes)[:-1], axis=self.dim)
        needed = self.input_gradient_needed
        grads = [branch.backward(part, input_gradient=needed)
                 for branch, part in zip(branches, parts)]
        return sum(grads[1:], grads[0]) if needed else None

    def extra_repr(self):
        return f"combine={self.combine!r}, dim={self.dim}"
