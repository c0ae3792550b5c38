"""The one HTTP/1.1 + JSON-RPC 2.0 stack: every server of the project (the node, the broker, the
boot node) is an `HttpServer` serving a `JsonRpcApp` around a `Dispatcher`."""

from core.http.app import AccessPolicy, ExposureError, JsonRpcApp, check_exposure, is_loopback
from core.http.client import HttpConnection, TransportError
from core.http.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVER_ERROR,
    UNAUTHORIZED,
    Dispatcher,
    InvalidParams,
    JsonRpcError,
)
from core.http.server import (
    HttpLimits,
    HttpServer,
    HttpStatistics,
    Request,
    Response,
    cancelled_on_disconnect,
    current_request,
)

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "UNAUTHORIZED",
    "AccessPolicy",
    "Dispatcher",
    "ExposureError",
    "HttpConnection",
    "HttpLimits",
    "HttpServer",
    "HttpStatistics",
    "InvalidParams",
    "JsonRpcApp",
    "JsonRpcError",
    "Request",
    "Response",
    "TransportError",
    "cancelled_on_disconnect",
    "check_exposure",
    "current_request",
    "is_loopback",
]
