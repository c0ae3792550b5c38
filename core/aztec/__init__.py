"""Aztec v0.63.1 data model and its pure functions: fields, serialization, constants, header, tx effects, hashes."""
