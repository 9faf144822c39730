"""The layer base class: parameters with gradients, train/eval mode, state dicts.

A :class:`Module` computes ``forward(x)``, keeps what its backward pass
needs, and ``backward(grad_output)`` returns the gradient with respect to its
input while adding its parameters' gradients into ``Parameter.grad`` (so
gradients accumulate over calls until :meth:`Module.zero_grad`, as torch).
``backward(grad_output, input_gradient=False)`` adds the parameters'
gradients and returns None, sparing the work that only the input gradient
needs (:attr:`Module.input_gradient_needed`): a training loop's call on the
model, whose input has no gradient to take.

Every ``backward`` answers one ``forward``: called before it, or a second
time for the same one (which would add the parameters' gradients twice), it
raises a RuntimeError; a ``grad_output`` whose shape is not that of the
forward's output is a ValueError.  Subclasses get these checks by defining
``forward`` and ``backward``; nothing else is needed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class Parameter:
    """A trainable array and its gradient (same shape and dtype).

    ``requires_grad=False`` freezes it: layers add no gradient to it and
    optimisers leave it alone (:meth:`Module.requires_grad_`).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> p = nn.Parameter(np.zeros((2, 3)))
    >>> p.shape, p.requires_grad, p.grad is None
    ((2, 3), True, False)
    """

    def __init__(self, data, requires_grad=True):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return self.data.shape

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = bool(requires_grad)
        return self

    def __repr__(self):
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` did not match, as torch's namedtuple."""

    missing_keys: list
    unexpected_keys: list


def _holds_modules(value):
    """Whether ``value`` is a plain list, tuple or dict holding a Module (never registered)."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(item, Module) for item in value)


class Module:
    """Base of every layer and container, with torch's registration rules.

    Assigning a :class:`Parameter` or a Module to an attribute registers it,
    in assignment order; :meth:`register_buffer` registers an array that
    belongs in the state dict without being trained (running statistics).
    A plain list, tuple or dict of modules is refused, with a pointer to
    :class:`ModuleList` and :class:`ModuleDict`: its modules would otherwise
    be skipped by :meth:`parameters` and :meth:`state_dict`.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = nn.Parameter(np.full(3, 2.0))
    ...     def forward(self, x):
    ...         return x * self.weight.data
    ...
    >>> module = Scale()
    >>> list(module.state_dict()), module(np.ones(3))
    (['weight'], array([2., 2., 2.]))
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in vars(cls):
            cls.forward = _recording_forward(vars(cls)["forward"])
        if "backward" in vars(cls):
            cls.backward = _checked_backward(vars(cls)["backward"])

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        self.training = True

    # --- registration ----------------------------------------------------------------

    def __setattr__(self, name, value):
        state = self.__dict__
        if (not isinstance(value, (Parameter, Module, list, tuple, dict))
                and name not in state.get("_parameters", ()) and name not in state.get("_modules", ())
                and name not in state.get("_buffers", ())):
            state[name] = value  # the common case: a plain attribute
            return
        stores = self.__dict__.get("_parameters"), self.__dict__.get("_modules")
        if isinstance(value, (Parameter, Module)) and None in stores:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before "
                                 f"assigning `{name}`")
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif stores[0] is not None and name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: `{name}` is a parameter; assign a "
                                f"Parameter or None, got {type(value).__name__}")
            self._parameters[name] = None
        elif stores[1] is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: `{name}` is a sub-module; assign a "
                                f"Module or None, got {type(value).__name__}")
            self._modules[name] = None
        elif self.__dict__.get("_buffers") is not None and name in self._buffers:
            self._buffers[name] = None if value is None else np.asarray(value)
        elif _holds_modules(value):
            kind = "ModuleDict" if isinstance(value, dict) else "ModuleList"
            raise TypeError(f"{type(self).__name__}: `{name}` holds modules in a plain "
                            f"{type(value).__name__}, whose parameters no optimiser or state "
                            f"dict would see; use nn.{kind}")
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(store)
            if items is not None and name in items:
                return items[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if not self._forget(name):
            object.__delattr__(self, name)

    def _forget(self, name):
        """Drop ``name`` from every registry (and the instance); whether it was registered."""
        found = False
        for store in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__[store]
            if name in registry:
                del registry[name]
                found = True
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)
        return found

    def register_parameter(self, name, parameter):
        """Register ``parameter`` (a :class:`Parameter`, or None for an absent one) as ``name``."""
        if parameter is not None and not isinstance(parameter, Parameter):
            raise TypeError(f"register_parameter(): `parameter` must be a Parameter or None, "
                            f"got {type(parameter).__name__}")
        self._forget(name)
        self._parameters[name] = parameter

    def register_buffer(self, name, tensor, persistent=True):
        """Register an array that is state but not trained; ``persistent=False`` keeps it out
        of the state dict."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"register_buffer(): `name` must be an identifier, got {name!r}")
        self._forget(name)
        self._buffers[name] = None if tensor is None else np.asarray(tensor)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register ``module`` (or None) as the sub-module ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module(): `module` must be a Module or None, got "
                            f"{type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"add_module(): `name` must be a non-empty string without dots, "
                             f"got {name!r}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def __call__(self, *inputs, **options):
        return self.forward(*inputs, **options)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    @property
    def input_gradient_needed(self):
        """Inside :meth:`backward`: whether its caller wants the gradient with respect to the input.

        ``module.backward(grad_output, input_gradient=False)`` says it does
        not (the model's input, like a torch input without ``requires_grad``):
        the parameters' gradients are still added, the call returns None, and
        a layer that can skip the input gradient's work does (the
        convolutions and ``Linear``; containers pass it on to the modules that
        read the input).
        """
        return self.__dict__.get("_input_gradient_wanted", True)

    # --- tree walking, as torch ----------------------------------------------------------

    def named_children(self):
        """``(name, module)`` for every direct sub-module, in registration order."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        """Every direct sub-module, in registration order."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """``(dotted name, module)`` for this module and every module below it, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate and id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                            remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def apply(self, fn):
        """``fn(module)`` for every sub-module, then this one (as torch); returns ``self``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """``(dotted name, Parameter)``, as torch names them; a shared one once."""
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, parameter in module._parameters.items():
                if parameter is None or (remove_duplicate and id(parameter) in seen):
                    continue
                seen.add(id(parameter))
                yield (f"{module_prefix}.{name}" if module_prefix else name), parameter

    def parameters(self, recurse=True):
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix="", recurse=True):
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{module_prefix}.{name}" if module_prefix else name), buffer

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; returns ``self``."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad[...] = 0

    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns ``self``."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off, running statistics); returns ``self``."""
        return self.train(False)

    # --- state -------------------------------------------------------------------------

    def _state_entries(self, prefix=""):
        """``(dotted name, owner, registry, key)`` in torch's order: a module's parameters,
        then its persistent buffers, then each sub-module's entries."""
        for name, parameter in self._parameters.items():
            if parameter is not None:
                yield prefix + name, self, "_parameters", name
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent:
                yield prefix + name, self, "_buffers", name
        for name, module in self.named_children():
            yield from module._state_entries(f"{prefix}{name}.")

    def state_dict(self):
        """``{dotted name: array copy}`` of every parameter and persistent buffer, in torch's order."""
        state = {}
        for name, owner, registry, key in self._state_entries():
            value = getattr(owner, registry)[key]
            state[name] = (value.data if registry == "_parameters" else value).copy()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers.

        With ``strict`` (the default) its names must be exactly this module's;
        otherwise the matching ones are loaded.  Shapes must match.  Returns
        ``(missing_keys, unexpected_keys)``, as torch.
        """
        targets = {name: (owner, registry, key)
                   for name, owner, registry, key in self._state_entries()}
        missing = [name for name in targets if name not in state_dict]
        unexpected = [name for name in state_dict if name not in targets]
        if strict and (missing or unexpected):
            raise ValueError(f"load_state_dict(): the state does not match {type(self).__name__}: "
                             f"missing {missing}, unexpected {unexpected}")
        loads = []
        for name, (owner, registry, key) in targets.items():
            if name not in state_dict:
                continue
            current = getattr(owner, registry)[key]
            current = current.data if registry == "_parameters" else current
            value = np.asarray(state_dict[name])
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict(): `{name}` must have shape {current.shape}, "
                                 f"got {value.shape}")
            allowed = "iu" if current.dtype.kind in "iu" else "biuf"  # counters stay integers
            if value.dtype.kind not in allowed:
                raise ValueError(f"load_state_dict(): `{name}` must hold real numbers for a "
                                 f"{current.dtype} array, got dtype {value.dtype}")
            loads.append((owner, registry, key, value.astype(current.dtype, copy=True)))
        for owner, registry, key, value in loads:  # all checked before anything changes
            if registry == "_parameters":
                getattr(owner, registry)[key].data = value
            else:
                getattr(owner, registry)[key] = value
        return IncompatibleKeys(missing, unexpected)

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
                        for name, child in self.named_children())
        return f"{type(self).__name__}({self.extra_repr()}{inner}{chr(10) if inner else ''})"

    def extra_repr(self):
        return ""


def _recording_forward(forward):
    """``forward``, noting the shape of its output for the one backward that may follow."""
    @functools.wraps(forward)
    def recorded(self, *inputs, **options):
        state = self.__dict__  # bookkeeping, not registered: written directly
        if state.get("_in_forward"):  # a subclass's forward calling its parent's
            return forward(self, *inputs, **options)
        state["_in_forward"] = True
        try:
            output = forward(self, *inputs, **options)
        finally:
            state["_in_forward"] = False
        # (values, indices) of a pooling layer: the gradient is the values'
        state["_pending_output_shape"] = np.shape(output[0] if isinstance(output, tuple)
                                                  else output)
        return output
    return recorded


def _checked_backward(backward):
    """``backward``, refused without a forward to answer or for a gradient of the wrong shape.

    It takes ``input_gradient`` (keyword): with False, the module's own
    ``backward`` sees :attr:`Module.input_gradient_needed` False, and the
    call returns None.
    """
    @functools.wraps(backward)
    def checked(self, grad_output, *, input_gradient=True):
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
        if not isinstance(input_gradient, (bool, np.bool_)):
            raise TypeError(f"{name}.backward(): `input_gradient` must be a bool, got "
                            f"{input_gradient!r}")
        state = self.__dict__
        state["_in_backward"] = True
        state["_input_gradient_wanted"] = bool(input_gradient)
        try:
            grad_input = backward(self, grad_output)
        finally:
            state["_in_backward"] = False
            state["_input_gradient_wanted"] = True
        state["_pending_output_shape"] = None
        return grad_input if input_gradient else None
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
