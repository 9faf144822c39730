"""Layers, losses and optimisers: against the functional ops, finite differences and torch.nn/torch.optim."""

import numpy as np
import pytest

import npconv
from npconv import nn
from npconv.testing import directional_error
from helpers import assert_close, check_module_against_torch

RNG = np.random.default_rng


def _layer_error(layer, x, seed=0):
    """Finite-difference error of ``layer.backward`` at ``x`` (an array, or a shape to draw)."""
    rng = RNG(seed)
    x = rng.standard_normal(x) if isinstance(x, tuple) else x

    def backward(u, x):
        layer.forward(x)
        return [layer.backward(u)]
    return directional_error(layer.forward, backward, [x], rng)


def _loss_error(criterion, input, target, rng):
    def backward(u, x):
        criterion(x, target)
        return [criterion.backward(u)]
    return directional_error(lambda x: criterion(x, target), backward, [input], rng)


LAYERS = [
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, dtype=np.float64), (2, 2, 7)),
    (lambda: nn.Conv2d(4, 6, (3, 2), padding=1, groups=2, dtype=np.float64), (2, 4, 5, 5)),
    (lambda: nn.Conv3d(2, 2, 2, dtype=np.float64), (1, 2, 3, 4, 3)),
    (lambda: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="reflect", dtype=np.float64),
     (2, 2, 4, 5)),
    (lambda: nn.Conv1d(2, 3, 2, padding="same", padding_mode="circular", dtype=np.float64),
     (2, 2, 5)),
    (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64),
     (2, 3, 4, 4)),
    (lambda: nn.Linear(5, 4, dtype=np.float64), (3, 2, 5)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 6, 7)),
    (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 5, 7)),
    (nn.Tanh, (3, 4)),
    (nn.Sigmoid, (3, 4)),
    (lambda: nn.LeakyReLU(0.2), (3, 4)),
    (nn.Flatten, (2, 3, 4)),
    (lambda: nn.BatchNorm2d(3, dtype=np.float64), (4, 3, 3, 2)),
    (lambda: nn.BatchNorm2d(3, dtype=np.float64).eval(), (4, 3, 3, 2)),
]


@pytest.mark.parametrize("make,shape", LAYERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_layer_backward_matches_finite_differences(make, shape):
    assert _layer_error(make(), shape) < 1e-7


def test_max_pool_and_relu_layers_on_tie_free_inputs():
    x = RNG(1).permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 7.0 - 10.05  # no ties, no zero
    for layer in (nn.MaxPool2d(3, stride=2, padding=1), nn.ReLU()):
        assert _layer_error(layer, x) < 1e-7


def test_parameters_gradients_accumulate_and_zero_grad():
    layer = nn.Conv2d(2, 3, 3, rng=RNG(0))
    x = RNG(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
    gy = np.ones((2, 3, 3, 3), np.float32)
    layer.forward(x)
    layer.backward(gy)
    _, gw, gb = npconv.conv2d_backward(gy, x, layer.weight.data, layer.bias.data)
    np.testing.assert_array_equal(layer.weight.grad, gw)
    layer.forward(x)
    layer.backward(gy)
    np.testing.assert_allclose(layer.bias.grad, 2 * gb, rtol=1e-6)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_initialisation_follows_torch_bounds_and_seed():
    a = nn.Conv2d(4, 8, 3, rng=RNG(5))
    b = nn.Conv2d(4, 8, 3, rng=RNG(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(4 * 9)
    assert a.weight.data.dtype == np.float32
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.weight.data).max() > 0.8 * bound
    assert np.abs(a.bias.data).max() <= bound
    linear = nn.Linear(100, 3, rng=RNG(0))
    assert np.abs(linear.weight.data).max() <= 0.1 and np.abs(linear.weight.data).max() > 0.08


def test_dropout_train_and_eval():
    layer = nn.Dropout(0.25, rng=RNG(0))
    x = np.ones((200, 50), np.float32)
    y = layer.forward(x)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(layer.backward(x), y)
    layer.eval()
    assert layer.forward(x) is x


def test_state_dict_save_and_load_round_trip(tmp_path):
    def make(seed):
        return nn.Sequential(nn.Conv2d(1, 2, 3, rng=RNG(seed)), nn.BatchNorm2d(2), nn.ReLU(),
                             nn.Flatten(), nn.Linear(2 * 4 * 4, 3, rng=RNG(seed)))
    model = make(0)
    model.forward(RNG(0).standard_normal((4, 1, 6, 6)).astype(np.float32))  # moves running stats
    model.save(tmp_path / "model.npz", note="hello")
    other = make(1)
    assert other.load(tmp_path / "model.npz") == {"note": "hello"}
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert "1.running_mean" in model.state_dict() and "4.weight" in model.state_dict()
    with pytest.raises(ValueError, match=r"missing \['4.bias'\]"):
        other.load_state_dict({k: v for k, v in model.state_dict().items() if k != "4.bias"})
    state = model.state_dict()
    state["0.weight"] = np.zeros((3, 1, 3, 3))
    with pytest.raises(ValueError, match=r"`0.weight` must have shape \(2, 1, 3, 3\), got \(3, 1, 3, 3\)"):
        other.load_state_dict(state)


def test_cross_entropy_is_stable_and_matches_its_definition():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.5, 0.25, 0.0]])
    target = np.array([0, 2])
    criterion = nn.CrossEntropyLoss(reduction="none")
    losses = criterion(logits, target)
    expected_second = -np.log(np.exp(0.0) / np.exp([0.5, 0.25, 0.0]).sum())
    np.testing.assert_allclose(losses, [0.0, expected_second])
    grad = criterion.backward(np.ones(2))
    np.testing.assert_allclose(grad[0], [0, 0, 0], atol=1e-300)
    np.testing.assert_allclose(grad[1], np.exp([0.5, 0.25, 0.0]) / np.exp([0.5, 0.25, 0.0]).sum()
                               - [0, 0, 1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_backward_matches_finite_differences(reduction):
    rng = RNG(3)
    logits = rng.standard_normal((5, 4, 2))
    target = rng.integers(0, 4, (5, 2))
    target[0, 0] = -100  # ignored
    ce = nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5, 1.5], reduction=reduction)
    assert _loss_error(ce, logits, target, rng) < 1e-7
    mse = nn.MSELoss(reduction=reduction)
    assert _loss_error(mse, rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng) < 1e-7


def test_errors():
    with pytest.raises(ValueError, match=r"Conv2d\(\): `in_channels` \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"Linear\(\): `input` must have 4 features in its last axis"):
        nn.Linear(4, 2).forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss\(\): `target` must lie in \[0, 3\)"):
        nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"`reduction` must be one of"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"Nesterov momentum needs momentum > 0"):
        nn.SGD([nn.Parameter(np.zeros(2))], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match=r"Sequential\(\): argument 1 must be a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)


# --- parity with torch.nn and torch.optim ------------------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed; parity tests need it")


def _copy_into_torch(torch, model, torch_model):
    state = {name: torch.tensor(value) for name, value in model.state_dict().items()}
    torch_model.load_state_dict(state)


def test_network_parity_with_torch_nn():
    torch = _torch()
    tnn = torch.nn
    rng = RNG(0)

    def ours():
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64, rng=rng),
                             nn.BatchNorm2d(4, dtype=np.float64), nn.LeakyReLU(0.1),
                             nn.MaxPool2d(2), nn.ConvTranspose2d(4, 3, 2, stride=2, dtype=np.float64, rng=rng),
                             nn.Tanh(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2), nn.Sigmoid(),
                             nn.Flatten(), nn.Linear(12, 5, dtype=np.float64, rng=rng))
    model = ours()
    torch_model = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.BatchNorm2d(4),
                                 tnn.LeakyReLU(0.1), tnn.MaxPool2d(2),
                                 tnn.ConvTranspose2d(4, 3, 2, stride=2), tnn.Tanh(), tnn.AvgPool2d(2),
                                 tnn.AdaptiveAvgPool2d(2), tnn.Sigmoid(), tnn.Flatten(),
                                 tnn.Linear(12, 5)).double()
    _copy_into_torch(torch, model, torch_model)
    x = rng.standard_normal((3, 2, 8, 8))
    target = np.array([0, 4, 2])
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), target)
    model.backward(criterion.backward())
    tx = torch.tensor(x, requires_grad=True)
    tloss = tnn.CrossEntropyLoss()(torch_model(tx), torch.tensor(target))
    tloss.backward()
    assert_close(np.asarray(loss), tloss.detach().numpy(), np.float64, "loss")
    for (name, p), tp in zip(model.named_parameters(), torch_model.parameters()):
        assert_close(p.grad, tp.grad.numpy(), np.float64, name)
    for name in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        np.testing.assert_allclose(model.state_dict()[name], torch_model.state_dict()[name].numpy())
    model.eval()
    torch_model.eval()
    assert_close(model(x), torch_model(tx).detach().numpy(), np.float64, "eval forward")


@pytest.mark.parametrize("make,torch_name,kwargs", [
    (nn.SGD, "SGD", dict(lr=0.1)),
    (nn.SGD, "SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (nn.SGD, "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    (nn.Adam, "Adam", dict(lr=0.01)),
    (nn.Adam, "Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    (nn.AdamW, "AdamW", dict(lr=0.01)),
    (nn.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.5, amsgrad=True)),
])
def test_optimizer_steps_match_torch(make, torch_name, kwargs):
    torch = _torch()
    rng = RNG(4)
    start = rng.standard_normal((3, 4))
    ours = nn.Parameter(start.copy())
    theirs = torch.tensor(start.copy(), requires_grad=True)
    optimizer = make([ours], **kwargs)
    torch_optimizer = getattr(torch.optim, torch_name)([theirs], **kwargs)
    for _ in range(5):
        grad = rng.standard_normal((3, 4))
        ours.grad[...] = grad
        theirs.grad = torch.tensor(grad)
        optimizer.step()
        torch_optimizer.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_float32_training_step_keeps_float32():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=RNG(0)), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 3 * 3, 3, rng=RNG(0)))
    optimizer = nn.Adam(model.parameters())
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(np.ones((2, 1, 5, 5), np.float32)), np.array([0, 1]))
    grad_x = model.backward(criterion.backward())
    optimizer.step()
    assert loss.dtype == grad_x.dtype == np.float32
    assert all(p.data.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(reduction):
    torch = _torch()
    rng = RNG(6)
    logits = rng.standard_normal((6, 4, 3))
    target = rng.integers(0, 4, (6, 3))
    target[1, 2] = -100
    weight = np.array([0.5, 2.0, 1.0, 1.5])
    gy = rng.standard_normal((6, 3)) if reduction == "none" else 1.0
    for ours, theirs, y in [
        (nn.CrossEntropyLoss(weight=weight, reduction=reduction),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(weight), reduction=reduction), target),
        (nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction),
         rng.standard_normal((6, 4, 3))),
    ]:
        if isinstance(ours, nn.MSELoss) and reduction == "none":
            gy = rng.standard_normal((6, 4, 3))
        tx = torch.tensor(logits, requires_grad=True)
        tloss = theirs(tx, torch.tensor(y))
        tloss.backward(torch.tensor(gy) if reduction == "none" else None)
        assert_close(np.asarray(ours(logits, y)), tloss.detach().numpy(), np.float64, "loss")
        assert_close(ours.backward(gy), tx.grad.numpy(), np.float64, "gradient")


# --- reliability --------------------------------------------------------------------------

def test_cross_entropy_with_every_target_ignored_has_zero_gradients_as_torch():
    torch = _torch()
    logits = RNG(7).standard_normal((3, 4))
    target = np.full(3, -100)
    loss = nn.CrossEntropyLoss()
    value = loss(logits, target)
    tx = torch.tensor(logits, requires_grad=True)
    tvalue = torch.nn.CrossEntropyLoss()(tx, torch.tensor(target))
    tvalue.backward()
    assert np.isnan(value) and torch.isnan(tvalue)
    np.testing.assert_array_equal(loss.backward(), tx.grad.numpy())
    assert not loss.backward().any()


def test_relu_keeps_nan_as_torch():
    torch = _torch()
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    relu = nn.ReLU()
    y = relu(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tx)
    ty.backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(relu.backward(np.ones(4)), tx.grad.numpy())


def test_batch_norm_refuses_to_train_on_one_value_per_channel():
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got input shape \(1, 3, 1, 1\)"):
        nn.BatchNorm2d(3)(np.zeros((1, 3, 1, 1), np.float32))
    layer = nn.BatchNorm2d(3)
    layer.eval()
    assert layer(np.zeros((1, 3, 1, 1), np.float32)).shape == (1, 3, 1, 1)


@pytest.mark.parametrize("make,message", [
    (lambda p: nn.Adam(p, betas=(0.9, 1.0)), r"`betas\[1\]` must be a finite number in \[0.0, 1.0\), got 1.0"),
    (lambda p: nn.Adam(p, betas=(-0.1, 0.9)), r"`betas\[0\]`"),
    (lambda p: nn.AdamW(p, eps=-1e-8), r"AdamW\(\): `eps` must be a finite number >= 0.0"),
    (lambda p: nn.Adam(p, weight_decay=-1), r"`weight_decay`"),
    (lambda p: nn.SGD(p, lr=0.1, momentum=-0.5), r"SGD\(\): `momentum`"),
    (lambda p: nn.SGD(p, lr=0.1, weight_decay=-0.5), r"SGD\(\): `weight_decay`"),
    (lambda p: nn.SGD(p, lr=float("inf")), r"`lr` must be a finite number >= 0.0, got inf"),
    (lambda p: nn.Adam(p, lr=float("nan")), r"`lr` must be a finite number >= 0.0, got nan"),
    (lambda p: nn.Adam(p, betas=0.9), r"`betas` must be a pair of numbers"),
])
def test_invalid_optimiser_hyper_parameters_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(np.zeros(2))])


@pytest.mark.parametrize("make", [
    lambda: nn.Conv2d(2, 3, 3, rng=RNG(0)), lambda: nn.Linear(4, 3, rng=RNG(0)), nn.ReLU,
    lambda: nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, rng=RNG(0)), nn.ReLU(), nn.Flatten()),
])
def test_backward_answers_exactly_one_forward(make):
    layer = make()
    x = RNG(1).standard_normal((2, 2, 4, 4) if not isinstance(layer, nn.Linear) else (2, 4))
    x = x.astype(np.float32)
    with pytest.raises(RuntimeError, match=r"backward\(\) answers one forward\(\) call"):
        layer.backward(np.ones((2, 3), np.float32))
    y = layer(x)
    with pytest.raises(ValueError, match=r"`grad_output` must have the shape of the forward output"):
        layer.backward(np.ones(y.shape[:-1] + (y.shape[-1] + 1,), np.float32))
    layer.backward(np.ones_like(y))
    grads = [p.grad.copy() for p in layer.parameters()]
    with pytest.raises(RuntimeError, match=r"call forward\(\) first"):
        layer.backward(np.ones_like(y))
    for p, g in zip(layer.parameters(), grads):  # not added twice
        np.testing.assert_array_equal(p.grad, g)


def test_a_loss_backward_before_forward_is_a_clear_error():
    for loss in (nn.CrossEntropyLoss(), nn.MSELoss()):
        with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward call first"):
            loss.backward()


def test_layers_validate_the_kernel_size():
    with pytest.raises(ValueError, match=r"Conv2d\(\): `kernel_size` must be positive, got 0"):
        nn.Conv2d(1, 2, 0)
    with pytest.raises(ValueError, match=r"`kernel_size` must be an int or a tuple of 2 ints"):
        nn.Conv2d(1, 2, (3, 3, 3))


@pytest.mark.parametrize("make,error,message", [
    (lambda: nn.Conv2d(1, 2, 3, stride=0), ValueError, r"Conv2d\(\): `stride` must be positive, got 0"),
    (lambda: nn.Conv2d(1, 2, 3, stride=2, padding="same"), ValueError, r"padding='same' needs stride 1"),
    (lambda: nn.Conv1d(1, 2, 3, dilation=(1, 1)), ValueError, r"`dilation` must be an int or a tuple of 1 ints"),
    (lambda: nn.ConvTranspose2d(1, 2, 3, padding="same"), TypeError, r"`padding` must be an int or a tuple of ints"),
    (lambda: nn.ConvTranspose2d(1, 2, 3, output_padding=-1), ValueError, r"`output_padding` must be >= 0"),
    (lambda: nn.Conv2d(1, 2, 3, padding_mode="same"), ValueError,
     r"Conv2d\(\): `padding_mode` must be one of 'zeros', 'reflect', 'replicate', 'circular'"),
    (lambda: nn.ConvTranspose2d(1, 2, 3, padding_mode="reflect"), ValueError,
     r"ConvTranspose2d\(\): only padding_mode='zeros' is supported, got 'reflect'"),
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d\(\): `kernel_size` must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, stride=-1), ValueError, r"AvgPool2d\(\): `stride` must be positive, got -1"),
])
def test_layers_refuse_bad_window_arguments_when_built(make, error, message):
    """The layers use the operators' argument normaliser, so a bad argument fails at construction."""
    with pytest.raises(error, match=message):
        make()


def test_layers_take_float64_data_with_float32_weights_as_numpy_promotes():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=RNG(0)), nn.Flatten(), nn.Linear(2 * 4 * 4, 3, rng=RNG(1)))
    x = RNG(2).standard_normal((2, 1, 6, 6))                      # float64 data, float32 weights
    y = model(x)
    assert y.dtype == np.float64
    grad_x = model.backward(np.ones_like(y))
    assert grad_x.dtype == np.float64
    assert all(p.grad.dtype == np.float32 and p.grad.any() for p in model.parameters())
    with pytest.raises(TypeError, match=r"Linear\(\): `input` must be a float array, got dtype int64"):
        nn.Linear(3, 2)(np.zeros((1, 3), np.int64))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_mode_matches_torch_layers(mode):
    """Same positional signature as torch (``padding_mode`` after ``bias``), same values."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = nn.Conv2d(3, 4, 3, 2, 1, 1, 1, True, mode, dtype=np.float64, rng=RNG(0))
    reference = torch.nn.Conv2d(3, 4, 3, 2, 1, 1, 1, True, mode).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.data))
        reference.bias.copy_(torch.tensor(layer.bias.data))
    check_module_against_torch(torch, layer, reference, RNG(1).standard_normal((2, 3, 7, 6)),
                               RNG(2))
