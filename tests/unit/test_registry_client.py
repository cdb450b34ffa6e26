"""The registry client gives up on a registry that accepts connections but never answers."""

from __future__ import annotations

import socket
import threading

from auditflow import config, registry


def test_a_silent_registry_fails_with_a_timeout_instead_of_hanging(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    cfg = config.load(overrides=[f"registry.url={url}", "registry.timeout_s=1",
                                 f"credentials.dir={tmp_path}"], environ={})
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(registry.client(cfg, "analyst").get_subjects())
        except Exception as exc:  # noqa: BLE001 - the error itself is what is checked
            outcome.append(exc)

    # in a thread, so that without a timeout (httpx's when given None) the test fails, not hangs
    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(60)
    server.close()
    for conn in held:
        conn.close()
    assert not caller.is_alive(), "the registry client is still waiting after 60 s"
    assert len(outcome) == 1 and isinstance(outcome[0], Exception), outcome
    assert "timed out" in str(outcome[0]).lower() or "timeout" in type(outcome[0]).__name__.lower()
