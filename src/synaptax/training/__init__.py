"""Analog layers and networks, training algorithms and loops, datasets, checkpoints, reports;
STDP (``stdp``) and device neurons (``neurons``).

The names a user needs to train in a script or notebook are importable from here::

    from synaptax.training import TrainConfig, train, AnalogMLP, AnalogLinear
"""
from .algorithms import ALGORITHMS, AbstractAlgorithm, StepMetrics, TrainState, build_optimizer, make_algorithm
from .datasets import Dataset, DatasetError, load_mnist
from .io import CheckpointError, load_checkpoint, save_checkpoint
from .layers import ACTIVATIONS, AbstractAnalogLayer, AnalogLinear
from .loop import (DivergenceError, RunKeys, TrainConfig, TrainingError, build, checkpoints, evaluate,
                   load_latest_checkpoint, run_steps, train)
from .network import AnalogMLP, FloatMLP

__all__ = [
    "ACTIVATIONS", "ALGORITHMS", "AbstractAlgorithm", "AbstractAnalogLayer", "AnalogLinear", "AnalogMLP",
    "CheckpointError", "Dataset", "DatasetError", "DivergenceError", "FloatMLP", "RunKeys", "StepMetrics",
    "TrainConfig", "TrainState", "TrainingError", "build", "build_optimizer", "checkpoints", "evaluate",
    "load_checkpoint", "load_latest_checkpoint", "load_mnist", "make_algorithm", "run_steps", "save_checkpoint",
    "train",
]
