"""discv5 v5.1 (devp2p discv5-wire.md) for Aztec v0.63 peer discovery.

Sans-IO parts: `packet` (codec), `messages` (codec), `crypto`, `routing` (Kademlia table), `lookup`,
`protocol` (sessions/handshake/requests core). Trio parts: `service.Discv5Service` and
`bootnode.BootNode`.
"""

from p2p.discv5.bootnode import BootNode, BootNodeConfig, EnrHttpServer, parse_address
from p2p.discv5.errors import Discv5CryptoError, Discv5DecodeError, Discv5Error, Discv5RequestError
from p2p.discv5.protocol import Discv5Config, Discv5Protocol
from p2p.discv5.service import Discv5Service

__all__ = [
    "BootNode",
    "BootNodeConfig",
    "Discv5Config",
    "Discv5CryptoError",
    "Discv5DecodeError",
    "Discv5Error",
    "Discv5Protocol",
    "Discv5RequestError",
    "Discv5Service",
    "EnrHttpServer",
    "parse_address",
]
