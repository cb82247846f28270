"""Test helpers shipped in the package: a local OpenAI-compatible server with fault injection,
and a switch that shortens the Router's retry backoff."""

from value_spectrum.agents.testing.retries import fast_retries
from value_spectrum.agents.testing.server import (
    Fault,
    ServerReply,
    TestServer,
    count_images,
    default_reply,
)

__all__ = ["Fault", "ServerReply", "TestServer", "count_images", "default_reply", "fast_retries"]
