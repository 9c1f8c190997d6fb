"""Scripts that produce experiments/results/: information, security, report, robustness, examples.

Each is run as ``python experiments/<name>.py`` (or ``python -m experiments.<name>``); they are a package
so that tests import them normally. :mod:`experiments.common` holds what they share.
"""
