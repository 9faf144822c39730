"""Learning-rate schedules against torch.optim.lr_scheduler: the same rates, to the last bit."""

import numpy as np
import pytest

from npconv import nn

SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5), "SGD"),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3), "SGD"),
    ("ExponentialLR", dict(gamma=0.9), "Adam"),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001), "SGD"),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=6), "Adam"),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=14), "SGD"),
    ("OneCycleLR", dict(max_lr=0.3, epochs=3, steps_per_epoch=5, anneal_strategy="linear",
                        three_phase=True), "Adam"),
]


def optimisers(torch, name):
    ours = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    options = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    return (getattr(nn, name)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.05}], **options),
            getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.05}],
                                       **options))


@pytest.mark.parametrize("name,kwargs,optimiser", SCHEDULES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedules_match_torch(name, kwargs, optimiser):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    ours, theirs = optimisers(torch, optimiser)
    schedule = getattr(nn.lr_scheduler, name)(ours, **kwargs)
    reference = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    steps = 14 if name == "OneCycleLR" else 12
    for _ in range(steps):
        assert schedule.get_last_lr() == reference.get_last_lr()
        for group, tgroup in zip(ours.param_groups, theirs.param_groups):
            for key in ("momentum", "betas"):
                if key in tgroup:
                    assert group[key] == tgroup[key], key
        ours.step(), theirs.step()
        schedule.step(), reference.step()


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    ours, theirs = optimisers(torch, "SGD")
    kwargs = dict(mode="max", factor=0.5, patience=1, threshold=0.01, cooldown=1,
                  min_lr=[0.01, 0.02])
    schedule = nn.lr_scheduler.ReduceLROnPlateau(ours, **kwargs)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs)
    for metric in [1.0, 1.005, 0.9, 0.8, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5]:
        schedule.step(metric)
        reference.step(metric)
        assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in theirs.param_groups]


def test_a_schedule_resumes_from_its_state_dict():
    make = (lambda optimizer: nn.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10))
    whole_optimizer = nn.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    whole = make(whole_optimizer)
    for _ in range(7):
        whole.step()
    first_optimizer = nn.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    first = make(first_optimizer)
    for _ in range(3):
        first.step()
    saved_optimizer, saved = first_optimizer.state_dict(), first.state_dict()
    resumed_optimizer = nn.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed = make(resumed_optimizer)
    resumed.load_state_dict(saved)
    for _ in range(4):
        resumed.step()
    assert resumed.get_last_lr() == whole.get_last_lr()


def test_schedule_errors():
    optimizer = nn.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match=r"OneCycleLR\(\): give `total_steps`"):
        nn.lr_scheduler.OneCycleLR(optimizer, 0.1)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau\(\): `factor` must be below 1.0"):
        nn.lr_scheduler.ReduceLROnPlateau(optimizer, factor=2)
    with pytest.raises(TypeError, match=r"`optimizer` must be an npconv optimiser"):
        nn.lr_scheduler.StepLR(object(), 2)
    with pytest.raises(ValueError, match=r"OneCycleLR\(\): the optimiser has no momentum"):
        nn.lr_scheduler.OneCycleLR(nn.Adagrad([nn.Parameter(np.zeros(2))]), 0.1, 5)
