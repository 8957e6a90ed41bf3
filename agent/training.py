"""Train, fine-tune and evaluate a classifier: plain SGD, seeded, no surprises."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float | None  # only where there are more than 5 classes


def seeded_loader(data: Dataset, batch_size: int, seed: int, shuffle: bool) -> DataLoader:
    """Batches of ``data`` in an order fixed by ``seed`` (the same on every machine)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)


def train(model: nn.Module, data: Dataset, *, epochs: int, lr: float, batch_size: int,
          seed: int, device: torch.device) -> None:
    """SGD with momentum and a cosine learning rate, in place. Pruning masks (forward
    pre-hooks of torch.nn.utils.prune) stay applied, so pruned weights stay zero."""
    if epochs <= 0:
        return
    loader = seeded_loader(data, batch_size, seed, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = max(1, epochs * len(loader))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_fn = nn.CrossEntropyLoss()
    model.to(device).train()
    for _ in range(epochs):
        for inputs, labels in loader:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(inputs.to(device)), labels.to(device)).backward()
            optimizer.step()
            schedule.step()
    model.eval()


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, num_classes: int, device: torch.device,
             batch_size: int = 128) -> Accuracy:
    """Top-1 (and top-5) accuracy; no_grad, so evaluation does not inflate memory."""
    model.to(device).eval()
    hits1 = hits5 = total = 0
    k = min(5, num_classes)
    for inputs, labels in seeded_loader(data, batch_size, 0, shuffle=False):
        logits = model(inputs.to(device))
        labels = labels.to(device)
        top = logits.topk(k, dim=1).indices
        hits1 += (top[:, 0] == labels).sum().item()
        hits5 += (top == labels[:, None]).any(dim=1).sum().item()
        total += labels.numel()
    if total == 0:
        raise ValueError("the evaluation split is empty")
    return Accuracy(hits1 / total, hits5 / total if num_classes > 5 else None)
