"""Typed errors of the discv5 package."""

from __future__ import annotations


class Discv5Error(Exception):
    """Base class of discv5 errors."""


class Discv5DecodeError(Discv5Error, ValueError):
    """A packet, header or message could not be decoded (bad size, protocol id, RLP, field)."""


class Discv5CryptoError(Discv5Error):
    """Authentication failed (AES-GCM tag, id-signature) or a key was invalid."""


class Discv5RequestError(Discv5Error):
    """A request to a peer failed (timeout, handshake failure, bad response)."""
