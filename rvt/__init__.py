"""Random Vortex Transformation: encrypt images by a keyed swirl of pixel positions (Cao et al. 2024)."""

from rvt.baselines import BlockScramble, Permutation, RandomPermutation
from rvt.errors import InputError, KeyFormatError, RVTError
from rvt.keys import VortexKey, generate, load_key
from rvt.maps import Identity, PositionTransform
from rvt.vortex import RVT

__version__ = "0.1.0"

__all__ = [
    "RVT", "VortexKey", "load_key", "generate", "RandomPermutation", "Permutation", "BlockScramble",
    "Identity", "PositionTransform", "RVTError", "KeyFormatError", "InputError",
]
