"""The thesis's training protocols as named constants (../shared/REFERENCE.md §4).

Each is a frozen :class:`~ann.train.TrainConfig`; derive variants with
``MNIST_LENET.replace(epochs=3)``.
"""

from __future__ import annotations

from ann.train import TrainConfig

__all__ = ["MNIST_LENET", "CIFAR_LENET5", "CIFAR_LR_SCHEDULE"]

#: ReLU-LeNet on MNIST (MatConvNet ``cnn_mnist``; REFERENCE §4): SGD, batch 100,
#: learning rate 0.001, momentum 0.9, weight decay 0.0005, 20 epochs.
MNIST_LENET = TrainConfig(lr=1e-3, momentum=0.9, weight_decay=5e-4, batch_size=100, epochs=20)

#: The CIFAR-10 schedule (REFERENCE §4): 0.05 for 15 epochs, 0.005 for 10, 0.0005 for 5.
CIFAR_LR_SCHEDULE = (0.05,) * 15 + (0.005,) * 10 + (0.0005,) * 5

#: ReLU-LeNet5 on CIFAR-10 (MatConvNet ``cnn_cifar`` 'lenet'; REFERENCE §4): the
#: schedule above over 30 epochs, batch 100, momentum 0.9, weight decay 0.0001,
#: learning-rate multipliers 0.1 (weights) and 2 (biases), last conv 0.01 and 0.2, a
#: random horizontal flip of each batch with probability 0.5.
CIFAR_LENET5 = TrainConfig(
    lr=CIFAR_LR_SCHEDULE[0],
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=100,
    epochs=len(CIFAR_LR_SCHEDULE),
    lr_schedule=CIFAR_LR_SCHEDULE,
    flip=True,
    weight_lr_mult=0.1,
    bias_lr_mult=2.0,
    last_weight_lr_mult=0.01,
    last_bias_lr_mult=0.2,
)
