"""User-facing errors: the CLI and train.py turn these into one clear line and a non-zero exit."""


class RVTError(ValueError):
    """A mistake in what the user asked for or gave us (not a bug): reported without a traceback."""


class KeyFormatError(RVTError):
    """A key spec or key file that cannot be used: unknown name, corrupt JSON, invalid schema."""


class InputError(RVTError):
    """An input array or image that does not fit: missing file, wrong dtype, shape or size."""
