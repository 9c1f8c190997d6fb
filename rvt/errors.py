"""Every user-facing error class: the CLI and train.py turn these into one clear line and a non-zero exit."""


class RVTError(ValueError):
    """A mistake in what the user asked for or gave us (not a bug): reported without a traceback."""


class KeyFormatError(RVTError):
    """A key spec or key file that cannot be used: unknown name, corrupt JSON, invalid schema."""


class InputError(RVTError):
    """An input array or image that does not fit: missing file, wrong dtype, shape or size."""


class InformationError(RVTError):
    """A bad argument to the information measure (kernel name, scale, channel mode)."""


class JobFailed(RuntimeError):
    """A sweep job that ended without a result (the launchers in hydra_plugins/; raised by Hydra after all
    jobs have ended). Not a user mistake in one value, so not an RVTError."""
