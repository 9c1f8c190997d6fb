"""RVT_CONFIG_DIR: a folder of the user's own config files (e.g. ``dataset/<name>.yaml``) searched after
conf/ (Hydra's SearchPathPlugin; a name in conf/ wins). rvt.training.datasets reads the same folder, so a
new dataset is one yaml for training, the library and the report (docs/training.md)."""

from __future__ import annotations

import os

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class RVTConfigDir(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        folder = os.environ.get("RVT_CONFIG_DIR")
        if folder:
            search_path.append(provider="rvt-config-dir", path=f"file://{os.path.abspath(folder)}")
