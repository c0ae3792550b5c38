"""L1 (Ethereum) side of the node: Aztec v0.63.1 contract artifacts, anvil, deploy, client, rules."""
