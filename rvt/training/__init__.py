"""Training on encrypted images: Hydra instantiates these from conf/ (train.py only composes).

- :mod:`~rvt.training.datasets`: the one dataset reader (:func:`read_split`);
- :mod:`~rvt.training.augment`: batched crop / flip / colour jitter on the device;
- :mod:`~rvt.training.pipeline`: :class:`BatchPipeline`, uint8 batch -> encrypted, augmented input;
- :mod:`~rvt.training.sampler`: whole-batch index sampling, sharded for DDP;
- :mod:`~rvt.training.datamodule`: :class:`ImageDataModule`;
- :mod:`~rvt.training.models`: ResNet-18 and ViTs from torchvision / timm;
- :mod:`~rvt.training.lightning_module`: :class:`ImageClassifier`, the LightningModule;
- :mod:`~rvt.training.schedules`: learning-rate schedules (per epoch or per step, with warm-up);
- :mod:`~rvt.training.ricap`: RICAP;
- :mod:`~rvt.training.config`: the validated settings (structured configs);
- :mod:`~rvt.training.results`: results.json;
- :mod:`~rvt.training.run`: one run (``train(cfg)``; ``task(cfg)`` for the command line), what train.py calls;
- :mod:`~rvt.training.callbacks`: the run's side effects as Lightning callbacks.
"""
