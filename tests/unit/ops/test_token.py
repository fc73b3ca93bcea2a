"""`ragplane token`: the token alone on stdout, a refusal as a message and exit 2."""

import jwt
import pytest

from ragplane.ops.token import command
from ragplane.settings import GatewaySettings, Settings

SECRET = "s" * 40


def test_the_token_is_all_that_reaches_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    said: list[str] = []
    settings = Settings(gateway=GatewaySettings(jwt_secret=SECRET))
    assert command(settings, sub="alice", plan="pro", ttl="1h", say=said.append) == 0
    token = capsys.readouterr().out.strip()
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["plan"] == "pro" and not said
    assert command(settings, sub="alice", plan="pro", ttl="soon", say=said.append) == 2
    assert command(Settings(), sub="alice", plan="pro", ttl="1h", say=said.append) == 2
    assert said[-1] == "ragplane: JWT_SECRET is not set: there is no key to sign tokens with"
    assert capsys.readouterr().out == ""
