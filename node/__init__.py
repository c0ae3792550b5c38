"""The node: CLI, config, supervisor, L1, archiver, prover node, sequencer (composes p2p/ and proving/)."""

__version__ = "0.1.0"
