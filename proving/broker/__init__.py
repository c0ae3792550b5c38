"""Durable prover broker: sans-IO job state machine (:mod:`.state`), sqlite journal
(:mod:`.store`), trio driver (:mod:`.core`), JSON-RPC service (:mod:`.service`) and client
(:mod:`.client`). ``python -m proving.broker`` runs a standalone broker."""

from proving.broker.client import BrokerClient, BrokerUnavailableError
from proving.broker.core import ProvingBroker
from proving.broker.service import BrokerService
from proving.broker.state import JobStateMachine

__all__ = ["BrokerClient", "BrokerService", "BrokerUnavailableError", "JobStateMachine", "ProvingBroker"]
