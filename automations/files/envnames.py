"""Variable names that a secret's content must not choose (issue 10).

With `keys: "*"` (secrets-manager) and `path:`/`names:` (ssm-parameters) the variable names
come from the secret: whoever may put a secret value also picks the names. Some names make
every program that reads the env file load or run code the value names (`LD_PRELOAD`,
`BASH_ENV`, `NODE_OPTIONS`...), or change which program a command name runs (`PATH`). Such
a name is refused when it comes from secret content; a name the user wrote in
automations.yaml (`env:`, the names in `keys: {NAME: key}`) is their choice and is allowed.

The list is about code execution and program lookup, not every setting that changes
behaviour. It is checked on the final name, prefix included: `prefix: APP_` makes every
name safe, while a prefix such as `LD_` or `PYTHON` leaves the secret to choose which
loader or interpreter setting it writes, so those names stay refused. README.md lists the
same names ("Names a secret may not choose").
"""
from __future__ import annotations

# Name -> who reads it. A name ending in `*` is a prefix: every variable starting with it.
DANGEROUS_NAMES: dict[str, str] = {
    # The dynamic loader: load a library into every program started (glibc, macOS).
    "LD_*": "the dynamic loader",
    "DYLD_*": "the dynamic loader",
    "GCONV_PATH": "the C library (iconv modules)",
    # Shells: start-up files, prompts and parsing that run code, and command lookup.
    "BASH_*": "bash",           # BASH_ENV, BASH_XTRACEFD, BASH_LOADABLES_PATH, ...
    "ENV": "sh",
    "PROMPT_COMMAND": "bash",
    "PS1": "the shell",
    "PS2": "the shell",
    "PS3": "the shell",
    "PS4": "the shell",
    "IFS": "the shell",
    "SHELLOPTS": "bash",
    "BASHOPTS": "bash",
    "GLOBIGNORE": "bash",
    "CDPATH": "the shell",
    "FPATH": "zsh and ksh",
    "ZDOTDIR": "zsh",
    "INPUTRC": "readline",
    "HISTFILE": "the shell",
    "SHELL": "programs starting a shell",
    "PATH": "every program starting another",
    "HOME": "every program reading start-up files",
    # Commands other programs run for you.
    "EDITOR": "git, crontab and other programs that start an editor",
    "VISUAL": "programs that start an editor",
    "PAGER": "programs that start a pager",
    "MANPAGER": "man",
    "BROWSER": "programs that open a browser",
    "LESSOPEN": "less",
    "LESSCLOSE": "less",
    "SSH_ASKPASS": "ssh",
    "SUDO_ASKPASS": "sudo",
    "GIT_*": "git",             # GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*, GIT_ASKPASS, ...
    # Language runtimes' option and library-path variables.
    "NODE_OPTIONS": "Node.js",
    "NODE_PATH": "Node.js",
    "NODE_REPL_EXTERNAL_MODULE": "Node.js",
    "NPM_CONFIG_*": "npm",
    "PYTHON*": "Python",        # PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONWARNINGS, ...
    "PERL5OPT": "Perl",
    "PERL5LIB": "Perl",
    "PERLLIB": "Perl",
    "PERL5DB": "Perl",
    "RUBYOPT": "Ruby",
    "RUBYLIB": "Ruby",
    "JAVA_TOOL_OPTIONS": "the JVM",
    "_JAVA_OPTIONS": "the JVM",
    "JDK_JAVA_OPTIONS": "the JVM",
    "JAVA_OPTS": "Java start scripts",
    "CLASSPATH": "the JVM",
    "MAVEN_OPTS": "Maven",
    "GRADLE_OPTS": "Gradle",
    "DOTNET_STARTUP_HOOKS": ".NET",
    "CORECLR_*": ".NET",
}

_EXACT = frozenset(name for name in DANGEROUS_NAMES if not name.endswith("*"))
_PREFIXES = tuple(name[:-1] for name in DANGEROUS_NAMES if name.endswith("*"))


def dangerous_name_reader(name: str) -> str | None:
    """Who reads `name` to load or run code (or to find programs), if it is on the list."""
    if name in _EXACT:
        return DANGEROUS_NAMES[name]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return DANGEROUS_NAMES[prefix + "*"]
    return None


def derived_name_problem(name: str, source: str, fix: str) -> str | None:
    """Why `name`, which `source` (a secret's key, a parameter) chose, cannot be written, or
    None when it can. `fix` says what the user can do about a dangerous name."""
    from automations.files.envfile import KEY_PATTERN

    if not KEY_PATTERN.fullmatch(name):
        return f"{source} makes the variable name {name!r}, which is not valid: set a `prefix`"
    reader = dangerous_name_reader(name)
    if reader is None:
        return None
    return f"{source} makes the variable name {name!r}, read by {reader}, which secret content may not choose; {fix}"
