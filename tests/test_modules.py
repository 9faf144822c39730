"""The module system as torch's: registration, tree walking, state dicts, freezing, and the
branching containers (Residual, Parallel) against the same torch models."""

import numpy as np
import pytest

import npconv
from npconv import nn
from helpers import check_directional_derivatives, check_module_against_torch, to_torch

RNG = np.random.default_rng


class Block(nn.Module):
    """Sub-modules in a ModuleList and a ModuleDict, a buffer, a shared layer."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 3, 3, padding=1, rng=RNG(0))
        self.layers = nn.ModuleList([nn.BatchNorm2d(3), nn.ReLU()])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2, rng=RNG(1)), "b": nn.Identity()})
        self.register_buffer("scale", np.ones(3))
        self.register_buffer("cache", np.zeros(3), persistent=False)


def torch_block(torch):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(2, 3, 3, padding=1)
            self.layers = torch.nn.ModuleList([torch.nn.BatchNorm2d(3), torch.nn.ReLU()])
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 2),
                                              "b": torch.nn.Identity()})
            self.register_buffer("scale", torch.ones(3))
            self.register_buffer("cache", torch.zeros(3), persistent=False)
    return TorchBlock()


def test_registration_and_walking_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    ours, theirs = Block(), torch_block(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.children())) == 3 and len(list(ours.modules())) == 8


def test_plain_lists_of_modules_are_refused():
    class Careless(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2), nn.ReLU()]
    with pytest.raises(TypeError, match=r"`layers` holds modules in a plain list.*use nn.ModuleList"):
        Careless()

    class CarelessDict(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = {"a": nn.Linear(2, 2)}
    with pytest.raises(TypeError, match=r"use nn.ModuleDict"):
        CarelessDict()


def test_module_list_and_dict_behave_as_lists_and_dicts():
    layers = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    layers.append(nn.Sigmoid())
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "ReLU", "Tanh", "Sigmoid"]
    del layers[1]
    assert [name for name, _ in layers.named_children()] == ["0", "1", "2"]
    assert isinstance(layers[-1], nn.Sigmoid) and len(layers[1:]) == 2
    with pytest.raises(TypeError, match=r"ModuleList.append\(\): `module` must be a Module"):
        layers.append(3)
    heads = nn.ModuleDict()
    heads["x"] = nn.Linear(2, 3)
    heads.update({"y": nn.Linear(3, 1)})
    assert list(heads) == ["x", "y"] and "y" in heads
    assert len(list(heads.parameters())) == 4


def test_state_dict_round_trip_strict_and_not():
    model = Block()
    state = model.state_dict()
    # torch's order: a module's own parameters and buffers, then each sub-module's
    assert "cache" not in state and list(state)[:3] == ["scale", "stem.weight", "stem.bias"]
    other = Block()
    other.stem.weight.data[...] = 0
    assert other.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(other.stem.weight.data, model.stem.weight.data)
    partial = {k: v for k, v in state.items() if not k.startswith("heads")}
    partial["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['heads.a.weight', 'heads.a.bias'\], "
                                         r"unexpected \['extra'\]"):
        other.load_state_dict(partial)
    result = other.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["heads.a.weight", "heads.a.bias"]
    assert result.unexpected_keys == ["extra"]


def test_frozen_parameters_get_no_gradient_and_no_update():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=RNG(0)), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3, rng=RNG(1)))
    model[0].requires_grad_(False)
    frozen = model[0].weight.data.copy()
    optimizer = nn.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    criterion = nn.CrossEntropyLoss()
    for _ in range(2):
        criterion(model(RNG(2).standard_normal((4, 1, 6, 6)).astype(np.float32)),
                  np.array([0, 1, 2, 0]))
        model.backward(criterion.backward())
        optimizer.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert not model[0].weight.grad.any() and model[3].weight.grad.any()
    assert all(p.requires_grad for p in model[3].parameters())


def test_backward_without_the_input_gradient_adds_the_same_parameter_gradients():
    """``backward(g, input_gradient=False)``: None back, the same parameter gradients, and the
    layers that read the model's input (a Parallel of a convolution and a residual one) never
    compute an input gradient."""
    def build():
        rng = RNG(0)
        first = nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64, rng=rng)
        other = nn.Conv2d(3, 2, 1, dtype=np.float64, rng=rng)
        residual = nn.Residual(nn.Conv2d(3, 3, 3, padding=1, dtype=np.float64, rng=rng))
        return nn.Sequential(
            nn.Parallel(first, other, residual), nn.BatchNorm2d(9, dtype=np.float64), nn.ReLU(),
            nn.Conv2d(9, 5, 3, stride=2, padding=1, dtype=np.float64, rng=rng), nn.Flatten(),
            nn.Linear(5 * 4 * 4, 3, dtype=np.float64, rng=rng))
    x = RNG(1).standard_normal((2, 3, 8, 8))
    full, lean = build(), build()
    gy = RNG(2).standard_normal(full(x).shape)
    assert full.backward(gy).shape == x.shape
    reads_input = list(lean[0].children())[:2] + [list(lean[0].children())[2].body]
    for layer in reads_input:
        layer._input_gradient = layer._backward = None  # computing an input gradient would fail
    lean(x)
    assert lean.backward(gy, input_gradient=False) is None
    for (name, expected), (_, got) in zip(full.named_parameters(), lean.named_parameters()):
        np.testing.assert_allclose(got.grad, expected.grad, rtol=1e-12, atol=1e-12, err_msg=name)
    with pytest.raises(TypeError, match=r"`input_gradient` must be a bool, got 0"):
        lean(x)
        lean.backward(gy, input_gradient=0)


def test_a_frozen_convolution_still_gives_the_input_gradient():
    x = RNG(0).standard_normal((2, 3, 7, 7))
    layers = [nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="reflect", dtype=np.float64,
                        rng=RNG(1)) for _ in range(2)]
    layers[1].requires_grad_(False)
    gy = RNG(2).standard_normal(layers[0](x).shape)
    layers[1](x)
    np.testing.assert_allclose(layers[1].backward(gy), layers[0].backward(gy), rtol=1e-12)
    assert not layers[1].weight.grad.any() and not layers[1].bias.grad.any()


def test_apply_visits_every_module_children_first():
    visited = []
    Block().apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Conv2d", "BatchNorm2d", "ReLU", "ModuleList", "Linear", "Identity",
                       "ModuleDict", "Block"]


# --- branching without hand-written backward ---------------------------------------------

def basic_block(channels, out_channels, stride, rng):
    body = nn.Sequential(
        nn.Conv2d(channels, out_channels, 3, stride, 1, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(out_channels, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(out_channels, dtype=np.float64))
    shortcut = None if stride == 1 and channels == out_channels else nn.Sequential(
        nn.Conv2d(channels, out_channels, 1, stride, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(out_channels, dtype=np.float64))
    return nn.Sequential(nn.Residual(body, shortcut), nn.ReLU())


def inverted_residual(channels, expansion, rng):
    hidden = channels * expansion
    return nn.Residual(nn.Sequential(
        nn.Conv2d(channels, hidden, 1, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(hidden, dtype=np.float64), nn.ReLU6(),
        nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(hidden, dtype=np.float64), nn.ReLU6(),
        nn.Conv2d(hidden, channels, 1, bias=False, dtype=np.float64, rng=rng),
        nn.BatchNorm2d(channels, dtype=np.float64)))


def inception(channels, rng):
    return nn.Parallel(
        nn.Conv2d(channels, 2, 1, dtype=np.float64, rng=rng),
        nn.Sequential(nn.Conv2d(channels, 2, 1, dtype=np.float64, rng=rng), nn.ReLU(),
                      nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=rng)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1), nn.Conv2d(channels, 1, 1, dtype=np.float64, rng=rng)))


@pytest.mark.parametrize("build,shape", [
    (lambda rng: basic_block(4, 4, 1, rng), (2, 4, 6, 6)),
    (lambda rng: basic_block(3, 6, 2, rng), (2, 3, 7, 7)),
    (lambda rng: inverted_residual(3, 4, rng), (2, 3, 5, 5)),
    (lambda rng: inception(3, rng), (2, 3, 5, 5)),
    (lambda rng: nn.Parallel(nn.Conv2d(3, 3, 3, padding=1, dtype=np.float64, rng=rng),
                             nn.Identity(), combine="add"), (2, 3, 4, 4)),
])
def test_blocks_match_torch_without_custom_backward(build, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    model = build(RNG(0))
    reference = to_torch(model, torch)
    check_module_against_torch(torch, model, reference, RNG(1).standard_normal(shape), RNG(2))
    for (name, got), want in zip(model.named_buffers(), reference.buffers()):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


def test_residual_and_parallel_finite_differences():
    rng = RNG(3)
    model = nn.Sequential(inception(2, rng), nn.Residual(nn.Sequential(nn.Tanh(), nn.Conv2d(
        6, 6, 1, dtype=np.float64, rng=rng))))
    check_directional_derivatives(model.forward, lambda u, x: (model.backward(u),),
                                  [rng.standard_normal((2, 2, 4, 4))], rng)


def test_branch_errors():
    with pytest.raises(ValueError, match=r"Parallel\(\): `combine` must be 'cat' or 'add'"):
        nn.Parallel(nn.Identity(), combine="mul")
    with pytest.raises(TypeError, match=r"Residual\(\): `body` must be a Module, got int"):
        nn.Residual(3)
    block = nn.Residual(nn.Conv2d(2, 3, 1))
    with pytest.raises(ValueError, match=r"Residual: the body's output \(1, 3, 2, 2\) and the "
                                         r"shortcut's \(1, 2, 2, 2\) must have one shape"):
        block(np.zeros((1, 2, 2, 2), np.float32))


@pytest.mark.parametrize("layer,function,arguments", [
    (nn.ReLU6(), "relu6", {}), (nn.GELU("tanh"), "gelu", {"approximate": "tanh"}),
    (nn.ELU(0.5), "elu", {"alpha": 0.5}), (nn.Hardtanh(-2.0, 0.5), "hardtanh",
                                           {"min_val": -2.0, "max_val": 0.5}),
    (nn.Softmax(1), "softmax", {"dim": 1}), (nn.SiLU(), "silu", {}),
])
def test_activation_layers_are_the_functional_operators(layer, function, arguments):
    x = RNG(4).standard_normal((3, 4))
    np.testing.assert_array_equal(layer(x), getattr(npconv, function)(x, **arguments))
    gy = RNG(5).standard_normal((3, 4))
    np.testing.assert_array_equal(layer.backward(gy),
                                  getattr(npconv, f"{function}_backward")(gy, x, **arguments))


def test_activation_layers_check_their_arguments_when_built():
    with pytest.raises(ValueError, match=r"gelu\(\): `approximate` must be 'none' or 'tanh'"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match=r"relu\(\): `inplace=True` is not supported"):
        nn.ReLU(inplace=True)
