r"""Image information and how much of it a position transform keeps.

**This is the project's reconstruction, not the paper's formula**; the definitions, the swap theorem
and the known limits are written out in docs/information.md. In short, per channel, with pixel values
x_p in [0, 1], a distance kernel m(d) and a gather map g (output o takes source g(o), O(s) = outputs
that hold source s)::

    Info(x)   = alpha * sum_p x_p + sum_{p != q} x_p x_q m(d(p, q))
    Info_g(x) = alpha * sum_{s : O(s) != {}} x_s + sum_{s != t} x_s x_t min(m(d(s, t)), M_g[s, t])
    L_g(x)    = 1 - Info_g(x) / Info(x)  in [0, 1]

Modules: :mod:`~rvt.information.kernels` (m(d) and the kernel matrix), :mod:`~rvt.information.operators`
(the pair operators of a map and their cache), :mod:`~rvt.information.measure` (the public measure).
"""

from rvt.errors import InformationError
from rvt.information.kernels import KERNELS, kernel_function, kernel_matrix
from rvt.information.measure import (CHANNEL_MODES, information_content, information_loss,
                                     information_stats, retained_information)
from rvt.information.operators import clear_cache, loss_matrix, retained_pair_matrix

__all__ = [
    "KERNELS", "CHANNEL_MODES", "InformationError", "kernel_function", "kernel_matrix", "loss_matrix",
    "retained_pair_matrix", "clear_cache", "information_content", "retained_information",
    "information_loss", "information_stats",
]
