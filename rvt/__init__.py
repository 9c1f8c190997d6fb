"""Random Vortex Transformation: encrypt images by a keyed swirl of pixel positions (Cao et al. 2024).

Subpackages: :mod:`rvt.transforms` (RVT, keys, baselines), :mod:`rvt.information` (the information
measure), :mod:`rvt.security` (attacks), :mod:`rvt.training` (data, models, Lightning), :mod:`rvt.cli`
(the ``rvt`` command), :mod:`rvt.bench` (benchmarks); :mod:`rvt.registry` lists the transforms.
"""

from rvt.errors import InputError, KeyFormatError, RVTError
from rvt.registry import create_transform, list_transforms, register_transform, transform_spec
from rvt.transforms import (RVT, BlockScramble, Identity, Permutation, PositionTransform, RandomPermutation,
                            VortexKey, generate, load_key)

__version__ = "0.1.0"

__all__ = [
    "RVT", "VortexKey", "load_key", "generate", "RandomPermutation", "Permutation", "BlockScramble",
    "Identity", "PositionTransform", "RVTError", "KeyFormatError", "InputError",
    "register_transform", "create_transform", "list_transforms", "transform_spec",
]
