"""Train a small ANN (CNN with ReLU and average pooling) on sklearn's 8x8 digits and export it to
ONNX, the input of the classic ANN-to-SNN conversion (snncompile.frontends.onnx).

    python examples/ann_conversion/train.py [OUT.onnx]

OUT.onnx defaults to examples/ann_conversion/digits_cnn.onnx.

Pixels are scaled to [0, 1] (intensity / 16), the range the converted SNN's rate-coded spike input
represents. Same split as examples/digits (20 % test, stratified, seed 0). Takes a few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
EPOCHS, BATCH, LR, SEED = 40, 64, 3e-3, 0


def load_images(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); x is (n, 1, 8, 8) float32 in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 10),
    )


def train(out: Path) -> None:
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = load_images()
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train)
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), BATCH):
            idx = order[start:start + BATCH]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.as_tensor(x_test)).argmax(1).numpy() == y_test).mean() * 100)
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(out), dynamo=False,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    print(f"saved {out}: test accuracy {acc:.2f}% (torch, float)")


if __name__ == "__main__":
    train(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "digits_cnn.onnx")
