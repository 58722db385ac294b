"""Fixtures shared by all tests; the servers start once per session and only when a test asks for them."""

from tests.fixtures.configs import *  # noqa: F403
from tests.fixtures.fakes import *  # noqa: F403
from tests.fixtures.mlflow_server import *  # noqa: F403
from tests.fixtures.servers import *  # noqa: F403
