"""Optimisers with parameter groups and state dicts, against torch.optim; resuming is exact."""

import numpy as np
import pytest

from npconv import nn

RNG = np.random.default_rng

OPTIMISERS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.5)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
]


def two_groups(parameters, second):
    """torch-style groups: the second with its own learning rate (and weight decay if any)."""
    return [{"params": parameters[:1]}, {"params": parameters[1:], **second}]


@pytest.mark.parametrize("name,kwargs", OPTIMISERS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMISERS)])
def test_steps_with_parameter_groups_match_torch(name, kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    rng = RNG(0)
    starts = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [nn.Parameter(s.copy()) for s in starts]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    second = {"lr": kwargs["lr"] / 3}
    optimizer = getattr(nn, name)(two_groups(ours, second), **kwargs)
    reference = getattr(torch.optim, name)(two_groups(theirs, second), **kwargs)
    for _ in range(6):
        for p, t in zip(ours, theirs):
            grad = rng.standard_normal(p.shape)
            p.grad[...] = grad
            t.grad = torch.tensor(grad)
        optimizer.step()
        reference.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    ours_state, theirs_state = optimizer.state_dict(), reference.state_dict()
    assert [sorted(g) for g in ours_state["param_groups"]] == \
        [sorted(k for k in g if k in ours_state["param_groups"][0]) for g in theirs_state["param_groups"]]
    assert sorted(ours_state["state"]) == sorted(theirs_state["state"])
    for index, values in ours_state["state"].items():
        assert set(values) == set(theirs_state["state"][index])
        for key, value in values.items():
            np.testing.assert_allclose(value, np.asarray(theirs_state["state"][index][key]),
                                       rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("name,kwargs", OPTIMISERS, ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMISERS)])
def test_training_resumes_exactly_from_a_state_dict(name, kwargs):
    rng = RNG(1)
    start = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(6)]

    def run(parameter, optimizer, steps):
        for grad in steps:
            parameter.grad[...] = grad
            optimizer.step()

    whole = nn.Parameter(start.copy())
    run(whole, getattr(nn, name)([whole], **kwargs), grads)
    first = nn.Parameter(start.copy())
    optimizer = getattr(nn, name)([first], **kwargs)
    run(first, optimizer, grads[:3])
    saved = optimizer.state_dict()
    resumed = nn.Parameter(first.data.copy())
    fresh = getattr(nn, name)([resumed], **dict(kwargs, lr=123.0))  # the saved lr wins
    fresh.load_state_dict(saved)
    run(resumed, fresh, grads[3:])
    np.testing.assert_array_equal(resumed.data, whole.data)


def test_state_dicts_refuse_other_groups_and_optimisers_validate_groups():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))
    saved = nn.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"the saved parameter groups do not match"):
        nn.SGD([a], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"some parameters appear in more than one parameter group"):
        nn.SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD\(\): `momentum` must be a finite number >= 0.0"):
        nn.SGD([{"params": [a], "momentum": -1}], lr=0.1)
    optimizer = nn.Adam([a], lr=0.1)
    optimizer.add_param_group({"params": b, "lr": 0.5})
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert optimizer.param_groups[1]["betas"] == (0.9, 0.999)
