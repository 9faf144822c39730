"""Layers built with the same positional arguments as torch's give torch's outputs and gradients."""

import numpy as np
import pytest

from npconv import nn
from helpers import check_module_against_torch

RNG = np.random.default_rng

# (layer name, positional arguments, keyword arguments, input shape)
CASES = [
    ("MaxPool1d", (3, 2, 1), {}, (2, 3, 9)),
    ("MaxPool2d", (2, 2, 0, 1, True), {}, (2, 3, 6, 7)),         # return_indices, torch's place
    ("MaxPool2d", (3, 2, 1, 1, False, True), {}, (2, 3, 8, 7)),   # ceil_mode
    ("MaxPool3d", (2,), {"stride": 1, "dilation": 2}, (1, 2, 5, 5, 5)),
    ("AvgPool1d", (3, 2, 1, True, False), {}, (2, 3, 8)),
    ("AvgPool2d", (3, 2, 1, False, True, 5), {}, (2, 3, 7, 6)),
    ("AvgPool3d", (2, 1), {}, (1, 2, 4, 3, 5)),
    ("LPPool1d", (2, 3, 2), {}, (2, 3, 9)),
    ("LPPool2d", (3, 2, 1, True), {}, (2, 3, 7, 6)),
    ("LPPool3d", (1.5, 2), {}, (1, 2, 4, 4, 5)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool1d", (4, True), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool3d", (2,), {}, (1, 2, 5, 4, 3)),
]


def positive_when_lp(name, x):
    return np.abs(x) + 0.1 if name.startswith("LP") else x


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_pooling_layers_match_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = getattr(nn, name)(*args, **kwargs)
    reference = getattr(torch.nn, name)(*args, **kwargs)
    x = positive_when_lp(name, RNG(0).standard_normal(shape))
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx)
    got = layer(x)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple)
        np.testing.assert_array_equal(got[1], expected[1].numpy())
        got, expected = got[0], expected[0]
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = RNG(1).standard_normal(got.shape)
    expected.backward(torch.tensor(gy))
    np.testing.assert_allclose(layer.backward(gy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_unpooling_and_fractional_layers_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    x = RNG(2).standard_normal((2, 3, 6, 8))
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    values, indices = pool(x)
    y = unpool(values, indices, output_size=(7, 8))
    expected = torch.nn.MaxUnpool2d(2)(torch.tensor(values), torch.tensor(indices),
                                      output_size=(7, 8))
    np.testing.assert_array_equal(y, expected.numpy())
    gy = RNG(3).standard_normal(y.shape)
    np.testing.assert_array_equal(unpool.backward(gy),
                                  np.take_along_axis(gy.reshape(2, 3, -1),
                                                     indices.reshape(2, 3, -1), 2).reshape(values.shape))
    samples = RNG(4).random((2, 3, 2))
    fractional = nn.FractionalMaxPool2d(2, (4, 5), return_indices=True, _random_samples=samples)
    reference = torch.nn.FractionalMaxPool2d(2, (4, 5), return_indices=True,
                                             _random_samples=torch.tensor(samples))
    tx = torch.tensor(x, requires_grad=True)
    (tv, ti), (v, i) = reference(tx), fractional(x)
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_array_equal(v, tv.detach().numpy())
    tv.backward(torch.tensor(np.ones(v.shape)))
    np.testing.assert_array_equal(fractional.backward(np.ones(v.shape)), tx.grad.numpy())


def test_pooling_layers_refuse_bad_arguments_when_built():
    with pytest.raises(ValueError, match=r"MaxPool3d\(\): `kernel_size` must be an int or a tuple of 3"):
        nn.MaxPool3d((2, 2))
    with pytest.raises(ValueError, match=r"AvgPool1d\(\): `stride` must be positive"):
        nn.AvgPool1d(2, 0)
    with pytest.raises(ValueError, match=r"FractionalMaxPool2d\(\): give exactly one of"):
        nn.FractionalMaxPool2d(2)


# (layer name, positional arguments, keyword arguments, input shape, training steps)
STATEFUL = [
    ("BatchNorm1d", (3,), {}, (4, 3), 2),
    ("BatchNorm1d", (3, 1e-3, None), {}, (4, 3, 5), 3),            # cumulative average
    ("BatchNorm2d", (3, 1e-5, 0.3, False), {}, (2, 3, 4, 5), 2),    # no affine parameters
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (2, 3, 4, 5), 1),
    ("BatchNorm3d", (2,), {}, (2, 2, 3, 3, 2), 2),
    ("InstanceNorm1d", (3, 1e-5, 0.2, True, True), {}, (2, 3, 6), 2),
    ("InstanceNorm2d", (3,), {"affine": True}, (2, 3, 4, 5), 1),
    ("InstanceNorm2d", (3,), {}, (3, 4, 5), 1),                     # unbatched
    ("InstanceNorm3d", (2,), {"track_running_stats": True}, (2, 2, 3, 3, 2), 2),
    ("GroupNorm", (2, 4), {}, (2, 4, 3, 3), 1),
    ("LayerNorm", ((3, 5),), {}, (2, 4, 3, 5), 1),
    ("LayerNorm", (5,), {"bias": False}, (2, 4, 5), 1),
    ("LayerNorm", (5, 1e-3, False), {}, (2, 5), 1),
    ("LocalResponseNorm", (3, 1e-2, 0.75, 2.0), {}, (2, 5, 3, 3), 1),
]


def copy_parameters(layer, reference, torch, rng):
    """Random parameters, the same in both."""
    with torch.no_grad():
        for parameter, tensor in zip(layer.parameters(), reference.parameters()):
            parameter.data = rng.standard_normal(parameter.shape)
            tensor.copy_(torch.tensor(parameter.data))


@pytest.mark.parametrize("name,args,kwargs,shape,steps", STATEFUL,
                         ids=[f"{c[0]}{c[1]}{c[2]}" for c in STATEFUL])
def test_normalisation_layers_match_torch_in_training_and_evaluation(name, args, kwargs, shape,
                                                                     steps):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = getattr(nn, name)(*args, **kwargs, **({} if name == "LocalResponseNorm"
                                                 else {"dtype": np.float64}))
    reference = getattr(torch.nn, name)(*args, **kwargs).double()
    rng = RNG(5)
    copy_parameters(layer, reference, torch, rng)
    for mode in ["train"] * steps + ["eval"]:
        getattr(layer, mode)(), getattr(reference, mode)()
        x = rng.standard_normal(shape) * 2 + 1
        tx = torch.tensor(x, requires_grad=True)
        ty = reference(tx)
        y = layer(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-11, atol=1e-11)
        gy = rng.standard_normal(y.shape)
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(layer.backward(gy), tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    for parameter, tensor in zip(layer.parameters(), reference.parameters()):
        np.testing.assert_allclose(parameter.grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-10)
    theirs = reference.state_dict()
    assert list(layer.state_dict()) == list(theirs)
    for key, value in layer.state_dict().items():
        np.testing.assert_allclose(value, theirs[key].numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=key)


SHAPE_LAYERS = [
    ("Fold", ((5, 6), (2, 3)), {"stride": 1}, (2, 12, 16)),
    ("Unfold", ((2, 3),), {"padding": 1, "stride": 2}, (2, 2, 5, 6)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 2)),
    ("PixelUnshuffle", (2,), {}, (2, 2, 4, 6)),
    ("ChannelShuffle", (3,), {}, (2, 6, 2, 2)),
    ("Upsample", (None, 2, "bilinear"), {}, (2, 3, 4, 5)),
    ("Upsample", ((5, 7),), {"mode": "bicubic", "align_corners": True}, (2, 3, 4, 5)),
    ("UpsamplingNearest2d", (None, 3), {}, (1, 2, 3, 2)),
    ("UpsamplingBilinear2d", ((5, 4),), {}, (1, 2, 3, 2)),
    ("ZeroPad1d", (2,), {}, (2, 3, 4)),
    ("ZeroPad2d", ((1, 0, 2, 1),), {}, (2, 3, 4, 4)),
    ("ConstantPad3d", (1, 2.5), {}, (1, 2, 2, 3, 2)),
    ("ReflectionPad1d", ((2, 1),), {}, (2, 3, 4)),
    ("ReflectionPad2d", (1,), {}, (3, 4, 4)),
    ("ReflectionPad3d", ((1, 0, 1, 1, 0, 1),), {}, (1, 2, 3, 3, 3)),
    ("ReplicationPad2d", ((3, 0, 1, 2),), {}, (2, 3, 4, 4)),
    ("CircularPad1d", (2,), {}, (2, 3, 4)),
    ("CircularPad2d", ((1, 2, 0, 1),), {}, (2, 3, 4, 4)),
    ("Flatten", (0, 2), {}, (2, 3, 4, 5)),
    ("Unflatten", (1, (2, 3)), {}, (2, 6, 4)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", SHAPE_LAYERS,
                         ids=[f"{c[0]}{c[1]}" for c in SHAPE_LAYERS])
def test_shape_layers_match_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = getattr(nn, name)(*args, **kwargs)
    reference = getattr(torch.nn, name)(*args, **kwargs)
    x = RNG(6).standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = reference(tx)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = RNG(7).standard_normal(y.shape)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(layer.backward(gy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,shape", [("Dropout1d", (4, 6, 5)), ("Dropout2d", (4, 6, 3, 3)),
                                        ("Dropout3d", (6, 2, 2, 2))])
def test_channel_dropout_zeroes_whole_channels(name, shape):
    layer = getattr(nn, name)(0.5, rng=RNG(8))
    y = layer(np.ones(shape))
    per_channel = y.reshape(shape[:len(shape) - layer.channel_dims] + (-1,))
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1))  # one value a channel
    assert set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(np.ones(shape)), y)
    layer.eval()
    np.testing.assert_array_equal(layer(np.ones(shape)), np.ones(shape))
    with pytest.raises(ValueError, match=rf"{name}: `input` must have"):
        layer(np.ones((2,) * (layer.channel_dims + 3)))


CONVOLUTIONS = [
    ("Conv1d", (2, 4, 3, 2, 1, 1, 2, True, "circular"), (2, 2, 9)),
    ("Conv2d", (3, 4, (3, 2), 1, "same", (2, 1), 1, False, "reflect"), (2, 3, 7, 6)),
    ("Conv3d", (2, 2, 2, 1, 1), (1, 2, 4, 3, 4)),
    ("ConvTranspose1d", (2, 4, 3, 2, 1, 1, 2, True, 2), (2, 2, 5)),
    ("ConvTranspose2d", (3, 2, (3, 2), 2, (1, 0), 1), (2, 3, 4, 3)),
    ("ConvTranspose3d", (2, 3, 2, 2), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("name,args,shape", CONVOLUTIONS, ids=[c[0] for c in CONVOLUTIONS])
def test_convolution_layers_match_torch(name, args, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = getattr(nn, name)(*args, dtype=np.float64, rng=RNG(9))
    reference = getattr(torch.nn, name)(*args).double()
    assert [p.shape for p in layer.parameters()] == [tuple(p.shape) for p in reference.parameters()]
    copy_parameters(layer, reference, torch, RNG(10))
    check_module_against_torch(torch, layer, reference, RNG(11).standard_normal(shape), RNG(12))


def test_prelu_layer_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer, reference = nn.PReLU(3, 0.1, dtype=np.float64), torch.nn.PReLU(3, 0.1).double()
    copy_parameters(layer, reference, torch, RNG(15))  # torch's 0.1 is a float32 one
    check_module_against_torch(torch, layer, reference, RNG(13).standard_normal((2, 3, 4, 4)),
                               RNG(14))


@pytest.mark.parametrize("backward", ["both gradients", "weight only"])
def test_a_convolution_layer_reads_its_forward_columns_in_backward(monkeypatch, backward):
    """A layer whose backward pass reads input columns (more output than input channels) keeps
    the forward's: the backward pass copies no windows of the input again, and its gradients
    are bitwise the operator's. Under a workspace too small for them it copies them again; in
    eval mode it keeps none."""
    import npconv
    from npconv.engine import im2col

    gathered = []
    gather = im2col._InputColumns.gather
    monkeypatch.setattr(im2col._InputColumns, "gather",
                        lambda self, x, cols: gathered.append(len(x)) or gather(self, x, cols))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 20, 20)).astype(np.float32)
    gy = rng.standard_normal((8, 16, 20, 20)).astype(np.float32)
    needed = dict(input_gradient=backward == "both gradients")
    for workspace, copies in ((npconv.get_workspace(), 0), (1 << 20, 8)):
        layer = nn.Conv2d(3, 16, 5, padding=2, rng=np.random.default_rng(1))
        with npconv.workspace(workspace):
            layer(x)
            gathered.clear()
            grad_input = layer.backward(gy, **needed)
            assert sum(gathered) == copies  # samples whose windows were copied again
            expected = npconv.conv2d_backward(gy, x, layer.weight.data, layer.bias.data,
                                              padding=2)
        if needed["input_gradient"]:
            np.testing.assert_array_equal(grad_input, expected[0])
        np.testing.assert_array_equal(layer.weight.grad, expected[1])
    layer.eval()
    layer(x)
    assert layer._kept["columns"].columns_of(x, None, None) is None
    assert layer._kept["columns"]._buffer is None


def test_a_convolution_layer_called_from_two_threads_at_once_gives_each_its_own_output():
    """The kept columns serve one pass at a time: a forward pass that finds them in use works in
    scratch memory, so two threads running the same layer get the operator's outputs."""
    import threading

    import npconv

    rng = np.random.default_rng(0)
    layer = nn.Conv2d(3, 16, 5, padding=2, rng=rng)
    inputs = [rng.standard_normal((8, 3, 24, 24)).astype(np.float32) for _ in range(2)]
    expected = [npconv.conv2d(x, layer.weight.data, layer.bias.data, padding=2) for x in inputs]
    wrong = []

    def run(index):
        for _ in range(30):
            if not np.array_equal(layer.forward(inputs[index]), expected[index]):
                wrong.append(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def test_a_max_pool_layer_in_eval_mode_finds_no_indices_unless_asked(monkeypatch):
    """In eval mode a max-pool layer computes the values alone (no backward pass expected); its
    backward pass, if called all the same, finds the winners again: both outputs are bitwise
    those of training mode. Asked for them (return_indices), it still returns the indices."""
    from npconv.ops import pool

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    x[0, 0, :3, :3] = 1.0  # ties: the first cell wins
    indexed = []
    forward = pool.max_pool_forward
    monkeypatch.setattr(pool, "max_pool_forward",
                        lambda *a, **k: indexed.append(1) or forward(*a, **k))
    layer = nn.MaxPool2d(3, 2, 1)
    values = layer(x)
    gy = rng.standard_normal(values.shape).astype(np.float32)
    grad = layer.backward(gy)
    assert indexed
    layer.eval()
    indexed.clear()
    np.testing.assert_array_equal(layer(x), values)
    assert not indexed
    np.testing.assert_array_equal(layer.backward(gy), grad)
    asked = nn.MaxPool2d(3, 2, 1, return_indices=True).eval()
    eval_values, indices = asked(x)
    np.testing.assert_array_equal(eval_values, values)
    assert indices.shape == values.shape
