"""python-dotenv 1.x, `dotenv_values(path)` with its defaults (interpolation on).

Rules (dotenv/parser.py, dotenv/variables.py): `[export ]KEY=` then `'...'` (backslash
before `\\` or `'` unescaped), `"..."` (backslash escapes of `\\ ' " a b f n r t v`
decoded), or a bare value up to ` #` or the end of the line, trailing space dropped; quoted
values may span lines. The file is read with universal newlines (a CR becomes a newline).
Then `${NAME}` and `${NAME:-default}` are replaced, whatever the quotes. The grammar itself
is the one automations.envfile parses dotenv files with.
"""
from __future__ import annotations

import re

from automations.envreaders import UnreadableFile

SOURCE = "theskumar/python-dotenv: src/dotenv/parser.py, src/dotenv/variables.py"


def read(text: str) -> dict[str, str | None]:
    from automations.envfile import PYTHON_DOTENV_VARIABLE, DotenvFormat, EnvFileSyntaxError

    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines
    try:
        values = DotenvFormat(readers=()).values(text)
    except EnvFileSyntaxError as error:
        number = re.match(r"line (\d+)", str(error))
        raise UnreadableFile(int(number.group(1)) if number else 0, "cannot read it") from None
    return {key: None if PYTHON_DOTENV_VARIABLE.search(value) else value for key, value in values.items()}
