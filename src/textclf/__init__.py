"""textclf: from a data file to a fine-tuned, evaluated transformer text classifier."""
from __future__ import annotations

__version__ = "0.1.0"


def train(config, **kwargs):
    """Train, evaluate and save a run; returns a `Run`. See `textclf.config.TrainConfig`."""
    from textclf.api import train as _train
    return _train(config, **kwargs)


def load(path, backend: str = "auto"):
    """A `Predictor` for a saved model dir or run dir; backend auto|torch|onnx|onnx-fp32."""
    from textclf.inference.predictor import Predictor
    return Predictor.load(path, backend=backend)


__all__ = ["train", "load", "__version__"]
