"""Labelling neurons and classifying images by spike counts (Diehl & Cook 2015).

As in the original evaluation code (``Diehl&Cook_MNIST_evaluation.py``): each neuron
takes the class to which it responded most on average over the labelling images (a
neuron that never fired keeps no class, ``-1``); an image's class is the one whose
neurons fired most on average.  An image to which no labelled neuron responded gets
``-1``, which counts as wrong (the original would pick the last class).
:func:`split_half_accuracies` scores images only with labels fitted on other images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign_labels", "predict", "accuracy", "split_half_accuracies"]


def assign_labels(counts: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Class of each neuron, ``(n_neurons,)`` int, ``-1`` for a neuron that never fired.

    ``counts`` is ``(n_images, n_neurons)``, ``labels`` ``(n_images,)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    labels = np.asarray(labels)
    if counts.ndim != 2 or len(labels) != len(counts):
        raise ValueError(f"counts must be (n_images, n_neurons) with one label per image, "
                         f"got {counts.shape} and {labels.shape}")
    means = np.zeros((n_classes, counts.shape[1]))
    for c in range(n_classes):
        rows = labels == c
        if rows.any():
            means[c] = counts[rows].mean(axis=0)
    assigned = means.argmax(axis=0)
    assigned[means.max(axis=0) <= 0] = -1
    return assigned


def predict(counts: np.ndarray, assignments: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Predicted class of each image, ``-1`` where no labelled neuron fired."""
    counts = np.asarray(counts, dtype=np.float64)
    scores = np.zeros((len(counts), n_classes))
    for c in range(n_classes):
        members = assignments == c
        if members.any():
            scores[:, c] = counts[:, members].mean(axis=1)
    predicted = scores.argmax(axis=1)
    predicted[scores.max(axis=1) <= 0] = -1
    return predicted


def accuracy(counts: np.ndarray, labels: np.ndarray, assignments: np.ndarray) -> float:
    """Fraction of images whose predicted class is their label."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(predict(counts, assignments) == labels))


def split_half_accuracies(train_counts: np.ndarray, train_labels: np.ndarray,
                          test_counts: np.ndarray, test_labels: np.ndarray,
                          n_classes: int = 10) -> tuple[float, float]:
    """Training and test accuracy with labels never fitted on the image scored.

    The training images are split in two halves (even and odd positions); each half's
    neuron labels score the other half's images, and the test images are scored with
    each half's labels, the two accuracies averaged.  Both accuracies then rest on
    labels from half the images, none of them the image scored — unlike scoring the
    labelling images themselves, whose optimism grows with the share of unselective
    neurons and would make the train − test gap grow for that reason alone.
    """
    labels = np.asarray(train_labels)
    counts = np.asarray(train_counts)
    halves = [np.arange(len(labels)) % 2 == k for k in (0, 1)]
    fitted = [assign_labels(counts[h], labels[h], n_classes) for h in halves]
    correct = 0
    for h, other in ((halves[0], fitted[1]), (halves[1], fitted[0])):
        correct += int(np.sum(predict(counts[h], other, n_classes) == labels[h]))
    train = correct / len(labels) if len(labels) else float("nan")
    test = float(np.mean([accuracy(test_counts, test_labels, a) for a in fitted]))
    return train, test
