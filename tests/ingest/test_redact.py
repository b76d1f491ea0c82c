from __future__ import annotations

import pytest

from ingest.redact import redact_text, redact_url, url_secrets


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", ""),
        ("rtsp://user:pass@10.0.0.7:554/live", "rtsp://***@10.0.0.7:554/live"),
        ("rtsp://admin@10.0.0.7/live", "rtsp://***@10.0.0.7/live"),
        ("rtsp://10.0.0.7:554/live", "rtsp://10.0.0.7:554/live"),
        ("rtsp://admin:p@ss@cam.local/ch1", "rtsp://***@cam.local/ch1"),  # raw '@' in the password
        ("rtsp://admin:p%40ss%2Fx@cam.local/ch1", "rtsp://***@cam.local/ch1"),
        ("RTSPS://u:p@h/x?token=1", "RTSPS://***@h/x?token=1"),
        ("http://h/path?next=user@example.org", "http://h/path?next=user@example.org"),  # no userinfo
        ("/var/clips/gate.mp4", "/var/clips/gate.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("", (), ""),
        ("", ("pw",), ""),
        (
            "[Errno 111] Connection refused: 'rtsp://admin:hunter2@10.0.0.7:554/live'",
            (),
            "[Errno 111] Connection refused: 'rtsp://***@10.0.0.7:554/live'",
        ),
        (
            "a rtsp://a:b@h1/x and http://c:d@h2/y",
            (),
            "a rtsp://***@h1/x and http://***@h2/y",
        ),
        ("login failed for hunter2", ("hunter2",), "login failed for ***"),
        ("sent p%40ss%2Fx and p@ss/x", ("p@ss/x",), "sent *** and ***"),  # raw and percent-encoded
        ("sent p+ss and p%2Bss", ("p ss", "p+ss"), "sent *** and ***"),
        ("nothing to hide", ("",), "nothing to hide"),  # an empty secret is ignored, not matched everywhere
    ],
)
def test_redact_text(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert redact_text(text, secrets) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", []),
        ("rtsp://10.0.0.7/live", []),
        ("rtsp://admin@10.0.0.7/live", ["admin"]),
        ("rtsp://admin:p%40ss@10.0.0.7/live", ["admin:p%40ss", "p%40ss", "p@ss"]),
    ],
)
def test_url_secrets(url: str, expected: list[str]) -> None:
    assert sorted(url_secrets(url)) == sorted(expected)
