"""The model zoo against the same torch models with the same weights: losses, every parameter
gradient, running statistics and parameters over several optimiser and scheduler steps."""

import numpy as np
import pytest

from npconv import nn
from npconv.nn import models
from helpers import to_torch

RNG = np.random.default_rng

MODELS = [
    ("lenet", lambda rng: models.lenet5(dtype=np.float64, rng=rng), (4, 1, 28, 28), 10),
    ("resnet8", lambda rng: models.resnet8(dtype=np.float64, rng=rng), (4, 3, 16, 16), 10),
    ("mobilenet", lambda rng: models.mobilenet_v2_small(width=8, dtype=np.float64, rng=rng),
     (4, 3, 16, 16), 10),
    ("unet", lambda rng: models.unet_small(1, 3, width=4, depth=2, dtype=np.float64, rng=rng),
     (2, 1, 16, 16), 3),
    ("bottlenecks", lambda rng: nn.Sequential(
        models.bottleneck_block(3, 2, 1, dtype=np.float64, rng=rng),
        models.bottleneck_block(8, 2, 2, dtype=np.float64, rng=rng),
        models.bottleneck_block(8, 2, 1, dtype=np.float64, rng=rng),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5, dtype=np.float64, rng=rng)),
     (4, 3, 8, 8), 5),
]


def no_dropout(model):
    """Dropout draws different masks in numpy and torch: switch it off in both."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


@pytest.mark.parametrize("name,build,shape,classes", MODELS, ids=[m[0] for m in MODELS])
def test_models_train_as_their_torch_twins(name, build, shape, classes):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    model = build(RNG(0))
    no_dropout(model)
    twin = to_torch(model, torch)
    assert list(model.state_dict()) == list(twin.state_dict())
    optimizer = nn.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    torch_optimizer = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9,
                                      weight_decay=1e-4)
    schedule = nn.lr_scheduler.StepLR(optimizer, 2, 0.5)
    torch_schedule = torch.optim.lr_scheduler.StepLR(torch_optimizer, 2, 0.5)
    criterion, torch_criterion = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    rng = RNG(1)
    for _ in range(3):
        x = rng.standard_normal(shape)
        labels = rng.integers(0, classes, (shape[0],) + (shape[2:] if name == "unet" else ()))
        loss = criterion(model(x), labels)
        torch_loss = torch_criterion(twin(torch.tensor(x)), torch.tensor(labels))
        np.testing.assert_allclose(loss, torch_loss.item(), rtol=1e-10)
        optimizer.zero_grad()
        torch_optimizer.zero_grad()
        model.backward(criterion.backward())
        torch_loss.backward()
        for (key, p), t in zip(model.named_parameters(), twin.parameters()):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=key)
        optimizer.step(), torch_optimizer.step()
        schedule.step(), torch_schedule.step()
    theirs = twin.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value, theirs[key].numpy(), rtol=1e-8, atol=1e-10, err_msg=key)
    model.eval(), twin.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(model(x), twin(torch.tensor(x)).detach().numpy(), rtol=1e-8,
                               atol=1e-10)


def test_model_shapes_and_errors():
    assert models.resnet20()(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
    assert len([m for m in models.resnet20().modules() if isinstance(m, nn.Residual)]) == 9
    assert models.unet_small(3, 5, depth=3)(np.zeros((1, 3, 16, 24), np.float32)).shape == \
        (1, 5, 16, 24)
    with pytest.raises(ValueError, match=r"`depth` must be 6n \+ 2"):
        models.cifar_resnet(10)
