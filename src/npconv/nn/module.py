"""The layer base class: parameters with gradients, train/eval mode, state dicts.

A :class:`Module` computes ``forward(x)``, keeps what its backward pass
needs, and ``backward(grad_output)`` returns the gradient with respect to its
input while adding its parameters' gradients into ``Parameter.grad`` (so
gradients accumulate over calls until :meth:`Module.zero_grad`, as torch).

Every ``backward`` answers one ``forward``: called before it, or a second
time for the same one (which would add the parameters' gradients twice), it
raises a RuntimeError; a ``grad_output`` whose shape is not that of the
forward's output is a ValueError.  Subclasses get these checks by defining
``forward`` and ``backward``; nothing else is needed.
"""

from __future__ import annotations

import functools

import numpy as np


class Parameter:
    """A trainable array and its gradient (same shape and dtype)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base of every layer and container.

    Sub-modules and :class:`Parameter` attributes are found in the order they
    were assigned; ``buffers`` names array attributes that belong in the
    state dict without being trained (BatchNorm's running statistics).
    """

    buffers = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in vars(cls):
            cls.forward = _recording_forward(vars(cls)["forward"])
        if "backward" in vars(cls):
            cls.backward = _checked_backward(vars(cls)["backward"])

    def __init__(self):
        self.training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    # --- tree walking --------------------------------------------------------------

    def children(self):
        """``(name, module)`` for every direct sub-module, in assignment order."""
        return [(name, value) for name, value in vars(self).items() if isinstance(value, Module)]

    def named_parameters(self, prefix=""):
        """``(dotted name, Parameter)`` for this module and its sub-modules, as torch names them."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(f"{prefix}{name}.")

    def parameters(self):
        return [parameter for _, parameter in self.named_parameters()]

    def _named_buffers(self, prefix=""):
        for name in self.buffers:
            yield prefix + name, self, name
        for name, child in self.children():
            yield from child._named_buffers(f"{prefix}{name}.")

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad[...] = 0

    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns ``self``."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off, running statistics); returns ``self``."""
        return self.train(False)

    # --- state -------------------------------------------------------------------------

    def state_dict(self):
        """``{dotted name: array copy}`` of every parameter and buffer."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        for name, owner, attribute in self._named_buffers():
            state[name] = np.array(getattr(owner, attribute), copy=True)
        return state

    def load_state_dict(self, state):
        """Copy arrays from ``state`` into the parameters and buffers; names and shapes must match."""
        targets = {name: (p, "data") for name, p in self.named_parameters()}
        targets.update({name: (owner, attribute) for name, owner, attribute in self._named_buffers()})
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if missing or unexpected:
            raise ValueError(f"load_state_dict(): the state does not match {type(self).__name__}: "
                             f"missing {missing}, unexpected {unexpected}")
        for name, (owner, attribute) in targets.items():
            current = np.asarray(getattr(owner, attribute))
            value = np.asarray(state[name])
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict(): `{name}` must have shape {current.shape}, "
                                 f"got {value.shape}")
            allowed = "iu" if current.dtype.kind in "iu" else "biuf"  # counters stay integers
            if value.dtype.kind not in allowed:
                raise ValueError(f"load_state_dict(): `{name}` must hold real numbers for a "
                                 f"{current.dtype} array, got dtype {value.dtype}")
            setattr(owner, attribute, value.astype(current.dtype, copy=True))

    def save(self, path, **metadata):
        """Write the state dict (and string ``metadata``) to an ``.npz`` file."""
        extra = {f"meta:{key}": np.asarray(str(value)) for key, value in metadata.items()}
        with open(path, "wb") as file:
            np.savez(file, **self.state_dict(), **extra)

    def load(self, path):
        """Read a state dict written by :meth:`save`; returns the metadata as strings."""
        state, metadata = read_npz(path)
        self.load_state_dict(state)
        return metadata

    def __repr__(self):
        inner = "".join(f"\n  ({name}): " + repr(child).replace("\n", "\n  ")
                        for name, child in self.children())
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"

    def extra_repr(self):
        return ""


def _recording_forward(forward):
    """``forward``, noting the shape of its output for the one backward that may follow."""
    @functools.wraps(forward)
    def recorded(self, x):
        if self.__dict__.get("_in_forward"):  # a subclass's forward calling its parent's
            return forward(self, x)
        self._in_forward = True
        try:
            output = forward(self, x)
        finally:
            self._in_forward = False
        self._pending_output_shape = np.shape(output)
        return output
    return recorded


def _checked_backward(backward):
    """``backward``, refused without a forward to answer or for a gradient of the wrong shape."""
    @functools.wraps(backward)
    def checked(self, grad_output):
        if self.__dict__.get("_in_backward"):  # a subclass's backward calling its parent's
            return backward(self, grad_output)
        name = type(self).__name__
        shape = self.__dict__.get("_pending_output_shape")
        if shape is None:
            raise RuntimeError(
                f"{name}.backward() answers one forward() call: call forward() first (each "
                f"backward() adds the parameters' gradients once)")
        if np.shape(grad_output) != shape:
            raise ValueError(f"{name}.backward(): `grad_output` must have the shape of the "
                             f"forward output {shape}, got {np.shape(grad_output)}")
        self._in_backward = True
        try:
            grad_input = backward(self, grad_output)
        finally:
            self._in_backward = False
        self._pending_output_shape = None
        return grad_input
    return checked


def read_npz(path):
    """``(state, metadata)`` from an ``.npz`` written by :meth:`Module.save`."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # any failure to parse (truncated, corrupt, crafted) is a bad file
        raise ValueError(f"{path}: not a model file written by npconv "
                         f"({type(exc).__name__}: {exc})") from None
    state = {k: v for k, v in arrays.items() if not k.startswith("meta:")}
    metadata = {k[5:]: str(v) for k, v in arrays.items() if k.startswith("meta:")}
    return state, metadata


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse."""

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential(): argument {index} must be a Module, "
                                f"got {type(module).__name__}")
            setattr(self, str(index), module)

    def __iter__(self):
        return (module for _, module in self.children())

    def __len__(self):
        return len(self.children())

    def __getitem__(self, index):
        return self.children()[index][1]

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def backward(self, grad_output):
        for module in reversed(list(self)):
            grad_output = module.backward(grad_output)
        return grad_output
