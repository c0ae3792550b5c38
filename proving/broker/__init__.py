"""Durable prover broker: sans-IO job state machine (:mod:`.state`), `JobStore` Protocol, sqlite
store and group-commit journal (:mod:`.store`), trio driver (:mod:`.core`), JSON-RPC service
(:mod:`.service`) and client (:mod:`.client`). The broker process an operator runs is
``python -m node --prover-broker`` (its variables are declared in node/config.py)."""

from proving.broker.client import BrokerClient, BrokerUnavailableError
from proving.broker.core import ProvingBroker
from proving.broker.service import BrokerService
from proving.broker.state import JobStateMachine

__all__ = ["BrokerClient", "BrokerService", "BrokerUnavailableError", "JobStateMachine", "ProvingBroker"]
