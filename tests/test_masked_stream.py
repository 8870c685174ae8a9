"""MaskedStream: what `automations exec` does to COMMAND's output. Bytes arrive in reads that
end anywhere (inside a line, a secret, a character); each complete line is handed on at once,
a pause hands on the start of a line (a prompt), and nothing it hands on holds a secret, or
half of one, that the whole output read at once would have masked."""
from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from support.jwts import make_token

from automations.redaction import MaskedStream, Redactor

SECRET = "Wh0le-s3cret-v@lue"
EURO_SECRET = "caf\u00e9-\u20ac-s3cret-value"


def stream_of(*secrets: str) -> tuple[MaskedStream, list[bytes]]:
    redactor = Redactor()
    for secret in secrets:
        redactor.add(secret)
    written: list[bytes] = []
    return MaskedStream(written.append, redactor), written


def test_a_complete_line_is_handed_on_at_once_masked():
    stream, written = stream_of(SECRET)
    stream.feed(f"the value is {SECRET}\nand a start".encode())

    assert written == [b"the value is ***\n"]


def test_a_pause_hands_on_a_prompt_without_its_newline():
    stream, written = stream_of(SECRET)
    stream.feed(b"Password: ")
    stream.flush_partial()

    assert b"".join(written) == b"Password: "


def test_a_secret_split_between_reads_is_never_shown_in_part_at_any_split():
    text = f"say {SECRET} and more\n".encode()
    for cut in range(1, len(text)):
        stream, written = stream_of(SECRET)
        stream.feed(text[:cut])
        stream.flush_partial()   # the writer paused just there
        shown_early = b"".join(written)
        stream.feed(text[cut:])
        stream.close()

        assert b"".join(written) == b"say *** and more\n", cut
        assert not any(shown_early.endswith(SECRET[:n].encode()) for n in range(1, len(SECRET) + 1)), cut


def test_a_character_split_between_reads_is_held_back_whole():
    text = f"{EURO_SECRET}\n".encode()
    cut = text.index("\u20ac".encode()) + 1  # inside the euro sign's three bytes
    stream, written = stream_of(EURO_SECRET)
    stream.feed(text[:cut])
    stream.flush_partial()
    stream.feed(text[cut:])

    assert b"".join(written) == b"***\n"


def test_a_jwt_split_between_reads_is_masked_though_nobody_registered_it():
    token = make_token()
    stream, written = stream_of()
    half = len(token) // 2
    stream.feed(f"token: {token[:half]}".encode())
    stream.flush_partial()
    stream.feed(f"{token[half:]}\n".encode())

    assert b"".join(written) == b"token: ***\n"


def test_bytes_that_are_not_utf8_pass_through_unchanged():
    blob = bytes(range(256)) + b"\xff\xfe" + SECRET.encode() + b"\x00\xe2\x82"
    stream, written = stream_of(SECRET)
    for piece in (blob[:100], blob[100:257], blob[257:]):
        stream.feed(piece)
        stream.flush_partial()
    stream.close()

    assert b"".join(written) == blob.replace(SECRET.encode(), b"***")


def test_a_long_line_without_a_newline_is_handed_on_before_it_ends():
    stream, written = stream_of(SECRET)
    stream.feed(b"x" * (MaskedStream.MAX_PENDING + 10))

    assert len(b"".join(written)) >= MaskedStream.MAX_PENDING


def test_an_encoded_form_split_between_reads_is_masked():
    encoded = base64.b64encode(SECRET.encode()).decode()
    stream, written = stream_of(SECRET)
    stream.feed(f"blob {encoded[:5]}".encode())
    stream.flush_partial()
    stream.feed(f"{encoded[5:]}\n".encode())

    assert b"".join(written) == b"blob ***\n"


@settings(max_examples=60, deadline=None)
@given(filler=st.lists(st.text(alphabet="ab -\u20ac\n", max_size=12), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_whatever_the_reads_the_output_is_what_masking_the_whole_would_give(filler, cuts):
    text = SECRET.join(filler) + SECRET + "\n"
    data = text.encode()
    stream, written = stream_of(SECRET)
    previous = 0
    for cut in sorted({c % len(data) for c in cuts}):
        stream.feed(data[previous:cut])
        stream.flush_partial()
        previous = cut
    stream.feed(data[previous:])
    stream.close()

    redactor = Redactor()
    redactor.add(SECRET)
    assert b"".join(written).decode() == "".join(redactor.redact(line) for line in text.splitlines(keepends=True))
