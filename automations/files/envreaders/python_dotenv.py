"""python-dotenv 1.x, `dotenv_values(path)` with its defaults (interpolation on).

Rules (dotenv/parser.py, dotenv/variables.py): `[export ]KEY=` then `'...'` (backslash
before `\\` or `'` unescaped), `"..."` (backslash escapes of `\\ ' " a b f n r t v`
decoded), or a bare value up to ` #` or the end of the line, trailing space dropped; quoted
values may span lines. The file is read with universal newlines (a CR becomes a newline).
Then `${NAME}` and `${NAME:-default}` are replaced, whatever the quotes. The grammar itself
is the one automations.files.envfile parses dotenv files with.
"""
from __future__ import annotations

import re

from automations.files.envreaders import UnreadableFile

SOURCE = "theskumar/python-dotenv: src/dotenv/parser.py, src/dotenv/variables.py"


def read(text: str) -> dict[str, str | None]:
    from automations.files.envfile import PYTHON_DOTENV_VARIABLE, DotenvFormat, EnvFileSyntaxError

    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines
    try:
        entries = DotenvFormat(readers=()).parse(text)
    except EnvFileSyntaxError as error:
        number = re.match(r"line (\d+)", str(error))
        raise UnreadableFile(int(number.group(1)) if number else 0, "cannot read it") from None
    # A name without `=` reads as None (load_dotenv sets nothing); a variable, as unknown.
    return {e.key: None if e.value is None or PYTHON_DOTENV_VARIABLE.search(e.value) else e.value
            for e in entries if e.key is not None}
