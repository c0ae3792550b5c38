"""The bottom layer: what node/, p2p/ and proving/ all use and that imports none of them.

`core.http`: the one HTTP/1.1 server + JSON-RPC 2.0 stack (and its small client).
`core.aztec`: the Aztec v0.63.1 data model and its pure functions (fields, serialization, constants,
header, tx effects and their hashes, Poseidon2), one codec per structure.
"""
