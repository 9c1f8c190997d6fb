"""Position transforms: every encryption of this project moves pixels (blockwise may also invert values).

- :mod:`~rvt.transforms.base`: the common machinery (one gather map per image size, cached per device),
  :class:`PositionTransform` and :class:`Identity`;
- :mod:`~rvt.transforms.keys`: vortex keys (JSON schema, the authors' released keys, key generation);
- :mod:`~rvt.transforms.vortex`: :class:`RVT`, the authors' mode and our bijective mode;
- :mod:`~rvt.transforms.baselines`: :class:`Permutation`, :class:`BlockScramble`, :class:`RandomPermutation`;
- :mod:`~rvt.transforms.blockwise`: :class:`Blockwise`, block-wise encryption aligned with the ViT patch
  (block scrambling, in-block shuffle, negative-positive; one gather and one value op);
- :mod:`~rvt.transforms.reference`: the per-pixel transcription of the authors' loop (the test oracle).

Importing this package registers every built-in transform (:mod:`rvt.registry`); the algorithm is
described in docs/algorithm.md.
"""

from rvt.transforms.base import Identity, PositionTransform, gather_positions
from rvt.transforms.vortex import RVT
from rvt.transforms.baselines import BlockScramble, Permutation, RandomPermutation
from rvt.transforms.blockwise import Blockwise, BlockwiseKey, generate_blockwise
from rvt.transforms.keys import VortexKey, generate, load_key

__all__ = ["PositionTransform", "Identity", "RVT", "Permutation", "BlockScramble", "RandomPermutation",
           "VortexKey", "generate", "load_key", "gather_positions", "Blockwise", "BlockwiseKey", "generate_blockwise"]
