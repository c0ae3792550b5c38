"""Bounded in-memory pools: epoch proof quotes, txs, attestations (sans-IO)."""
