"""Exceptions raised by enec. All derive from ValueError so callers can catch broadly."""


class EnecError(ValueError):
    """Base class of every error enec raises on bad input."""


class UnsupportedDTypeError(EnecError, TypeError):
    """The tensor's dtype has no codec."""


class CorruptStreamError(EnecError):
    """A compressed blob is truncated, malformed or inconsistent with its header."""


class ChecksumMismatchError(CorruptStreamError):
    """The decoded data does not match the checksum stored in the blob."""


class HeaderMismatchError(EnecError):
    """The caller's expected shape or dtype disagrees with the blob's header."""


class InvalidCheckpointError(EnecError):
    """A file is not a valid safetensors file (the message names it), or not an enec checkpoint
    where one is required."""
