"""Every loss against torch's (value and input gradient, each reduction), and finite differences."""

import numpy as np
import pytest

from npconv import nn
from npconv.testing import directional_error

RNG = np.random.default_rng
REDUCTIONS = ["mean", "sum", "none"]


def data(kind, rng, shape=(4, 5, 3)):
    """An input and a target of the kind a loss takes."""
    logits = rng.standard_normal(shape) * 2
    classes = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    if kind == "indices":
        return logits, classes
    if kind == "probabilities":
        target = rng.random(shape)
        return logits, target / target.sum(axis=1, keepdims=True)
    if kind == "log_probabilities":
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), classes
    if kind == "binary":
        return 1 / (1 + np.exp(-logits)), rng.random(shape).round()
    if kind == "kl":
        target = rng.random(shape)
        target[0, 0] = 0  # 0 log 0
        log_input = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return log_input, target / target.sum(axis=1, keepdims=True)
    return logits, rng.standard_normal(shape)


CASES = [
    # (name, args, kwargs, data kind)
    ("CrossEntropyLoss", (), {}, "indices"),
    ("CrossEntropyLoss", (np.array([1.0, 2.0, 0.5, 1.5, 1.0]), None, 2), {}, "indices"),  # ignore 2
    ("CrossEntropyLoss", (), {"label_smoothing": 0.2}, "indices"),
    ("CrossEntropyLoss", (np.array([1.0, 2.0, 0.5, 1.5, 1.0]),), {"label_smoothing": 0.1,
                                                                   "ignore_index": 1}, "indices"),
    ("CrossEntropyLoss", (), {"label_smoothing": 0.3}, "probabilities"),
    ("CrossEntropyLoss", (np.array([1.0, 2.0, 0.5, 1.5, 1.0]),), {}, "probabilities"),
    ("NLLLoss", (np.array([1.0, 2.0, 0.5, 1.5, 1.0]),), {}, "log_probabilities"),
    ("NLLLoss", (None, None, 0), {}, "log_probabilities"),
    ("BCELoss", (), {}, "binary"),
    ("BCELoss", (np.linspace(0.5, 2.0, 3),), {}, "binary"),
    ("BCEWithLogitsLoss", (), {}, "real_binary"),
    ("BCEWithLogitsLoss", (), {"pos_weight": np.linspace(0.5, 3.0, 3)}, "real_binary"),
    ("MSELoss", (), {}, "regression"),
    ("L1Loss", (), {}, "regression"),
    ("SmoothL1Loss", (), {"beta": 0.5}, "regression"),
    ("SmoothL1Loss", (), {"beta": 0.0}, "regression"),
    ("HuberLoss", (), {"delta": 0.7}, "regression"),
    ("KLDivLoss", (), {}, "kl"),
    ("KLDivLoss", (), {"log_target": True}, "kl"),
]


def arrays(kind, rng):
    if kind == "real_binary":
        logits, _ = data("regression", rng)
        return logits, rng.random(logits.shape).round()
    return data(kind, rng)


def torch_arguments(torch, args, kwargs):
    convert = (lambda v: torch.tensor(v) if isinstance(v, np.ndarray) else v)
    return [convert(a) for a in args], {k: convert(v) for k, v in kwargs.items()}


@pytest.mark.filterwarnings("ignore:.*reduction.*mean.*:UserWarning")
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("name,args,kwargs,kind", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_losses_match_torch(name, args, kwargs, kind, reduction):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    if reduction == "batchmean" and name != "KLDivLoss":
        return
    rng = RNG(0)
    x, target = arrays(kind, rng)
    if kind == "kl" and kwargs.get("log_target"):
        target = np.log(np.where(target == 0, 1e-3, target))
    full = dict(kwargs, reduction=reduction)
    ours = getattr(nn, name)(*args, **full)
    targs, tkwargs = torch_arguments(torch, args, full)
    theirs = getattr(torch.nn, name)(*targs, **tkwargs)
    tx = torch.tensor(x, requires_grad=True)
    tloss = theirs(tx, torch.tensor(target))
    loss = ours(x, target)
    np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(np.shape(loss)) if reduction == "none" else 0.7
    tloss.backward(torch.tensor(gy, dtype=torch.float64))
    np.testing.assert_allclose(ours.backward(gy), tx.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.filterwarnings("ignore:.*reduction.*mean.*:UserWarning")
@pytest.mark.parametrize("name,args,kwargs,kind", CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_finite_differences(name, args, kwargs, kind):
    rng = RNG(1)
    x, target = arrays(kind, rng)
    if kind == "binary":
        x = np.clip(x, 0.05, 0.95)
    loss = getattr(nn, name)(*args, **kwargs)

    def backward(u, x):
        loss(x, target)
        return [loss.backward(u)]
    assert directional_error(lambda x: loss(x, target), backward, [x], rng) < 1e-6


def test_every_target_ignored_gives_nan_and_zero_gradients_as_torch():
    loss = nn.CrossEntropyLoss(ignore_index=1, label_smoothing=0.1)
    value = loss(np.zeros((2, 3)), np.array([1, 1]))
    assert np.isnan(value)
    np.testing.assert_array_equal(loss.backward(), np.zeros((2, 3)))


def test_kl_divergence_warns_about_mean_as_torch():
    with pytest.warns(UserWarning, match=r"'batchmean' divides by the batch size alone"):
        nn.KLDivLoss()(np.zeros((2, 3)), np.full((2, 3), 1 / 3))


def test_the_deprecated_arguments_map_onto_reduction_as_torch():
    assert nn.MSELoss(False).reduction == "sum"
    assert nn.MSELoss(None, False).reduction == "none"
    assert nn.CrossEntropyLoss(None, None, 7).ignore_index == 7


ERRORS = [
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError, r"`label_smoothing` must be in \[0, 1\]"),
    (lambda: nn.L1Loss(reduction="avg"), ValueError, r"L1Loss\(\): `reduction` must be one of"),
    (lambda: nn.KLDivLoss(reduction="batchmean"), None, None),
    (lambda: nn.HuberLoss(delta=0), ValueError, r"`delta` must be positive"),
    (lambda: nn.BCELoss()(np.array([1.5]), np.array([1.0])), ValueError, r"probabilities in \[0, 1\]"),
    (lambda: nn.NLLLoss()(np.zeros((2, 3)), np.array([0.5, 1.0])), TypeError,
     r"NLLLoss\(\): `target` must hold integer class indices"),
    (lambda: nn.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3])), ValueError,
     r"CrossEntropyLoss\(\): `target` must lie in \[0, 3\)"),
    (lambda: nn.MSELoss()(np.zeros(3), np.zeros(4)), ValueError,
     r"MSELoss\(\): `target` must have the shape of `input` \(3,\), got \(4,\)"),
    (lambda: nn.MSELoss().backward(), RuntimeError, r"MSELoss.backward\(\) needs a forward call"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=range(len(ERRORS)))
def test_errors(call, exception, message):
    if exception is None:
        call()
        return
    with pytest.raises(exception, match=message):
        call()
