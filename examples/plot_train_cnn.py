"""
Training a CNN with ``npconv.nn``
=================================

A small CNN on the 8x8 handwritten digits that ship with npconv, written as in torch:
modules, a loss, an optimiser; ``backward`` is called on the model with the loss's
gradient.  The curves are the loss and the held-out accuracy after each epoch.
"""

import matplotlib.pyplot as plt
import numpy as np

from npconv import nn
from npconv.data import load_digits

data = load_digits()
x_train = data.x_train.astype(np.float32) / data.max_value  # (1438, 1, 8, 8), in [0, 1]
x_test = data.x_test.astype(np.float32) / data.max_value
rng = np.random.default_rng(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 2 * 2, 10, rng=rng))
criterion = nn.CrossEntropyLoss()
optimizer = nn.Adam(model.parameters(), lr=3e-3)

losses, accuracies = [], []
for epoch in range(8):
    model.train()
    order = rng.permutation(len(x_train))
    total = 0.0
    for start in range(0, len(order), 64):
        batch = order[start:start + 64]
        loss = criterion(model(x_train[batch]), data.y_train[batch])
        optimizer.zero_grad()
        model.backward(criterion.backward(), input_gradient=False)
        optimizer.step()
        total += float(loss) * len(batch)
    model.eval()
    losses.append(total / len(order))
    accuracies.append(float((model(x_test).argmax(axis=1) == data.y_test).mean()))
print(f"held-out accuracy after {len(accuracies)} epochs: {accuracies[-1]:.3f}")

figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
left.plot(range(1, len(losses) + 1), losses, "o-")
left.set(xlabel="epoch", ylabel="training loss")
right.plot(range(1, len(accuracies) + 1), accuracies, "o-", color="tab:green")
right.set(xlabel="epoch", ylabel="held-out accuracy")
figure.tight_layout()
