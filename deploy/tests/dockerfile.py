"""Just enough of the Dockerfile and .dockerignore formats to replay a build outside Docker.

The tests run a Dockerfile's own `uv` commands and CMD on this machine (there is no Docker
engine here), so a flag changed in the Dockerfile is a flag changed in the test.
"""

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class DockerfileError(ValueError):
    """The Dockerfile uses a form this reader does not understand."""


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ENV, CMD, ...
    arguments: str  # the rest of the logical line, continuations joined
    line: int  # where it starts in the file (1-based)
    flags: dict[str, list[str]] = field(default_factory=dict)  # --mount=…, --from=…
    body: str = ""  # arguments without the leading flags


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments, parser directives and blank lines."""
    lines: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue  # a comment inside a continued instruction is skipped, as Docker does
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        lines.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        raise DockerfileError(f"line {start}: the file ends inside a continued instruction")
    return lines


def split_flags(arguments: str) -> tuple[dict[str, list[str]], str]:
    """`--mount=a --from=b rest` -> ({'mount': ['a'], 'from': ['b']}, 'rest')."""
    flags: dict[str, list[str]] = {}
    rest = arguments
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        name, _, value = token[2:].partition("=")
        flags.setdefault(name, []).append(value)
        rest = rest.lstrip()
    return flags, rest


def expand_args(word: str, args: dict[str, str]) -> str:
    """`${NAME}` / `$NAME` in a FROM line, from the ARG defaults declared before the first FROM."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], ""), word)


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for line, content in logical_lines(text):
        keyword, _, arguments = content.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        flags, body = split_flags(arguments)
        instruction = Instruction(keyword, arguments, line, flags, body)
        if keyword == "FROM":
            words = body.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            image = expand_args(words[0], global_args)
            # `FROM <earlier stage>` stands for that stage's image.
            image = next((s.image for s in stages if s.name == image), image)
            stages.append(Stage(image, name, []))
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {line}: {keyword} before the first FROM")
            arg_name, _, default = body.partition("=")
            global_args[arg_name.strip()] = default.strip()
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM instruction")
    return stages


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of a CMD / ENTRYPOINT / HEALTHCHECK CMD; shell form is refused."""
    body = instruction.body
    if instruction.keyword == "HEALTHCHECK":
        keyword, _, body = body.partition(" ")
        if keyword.upper() != "CMD":
            raise DockerfileError(f"line {instruction.line}: HEALTHCHECK without CMD")
        body = body.strip()
    try:
        argv = json.loads(body)
    except json.JSONDecodeError:
        raise DockerfileError(
            f"line {instruction.line}: {instruction.keyword} is not in exec (JSON) form"
        ) from None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not argv:
        raise DockerfileError(f"line {instruction.line}: exec form must be a list of strings")
    return argv


def env_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """`ENV A=1 B="x y"` -> [('A', '1'), ('B', 'x y')]; the legacy `ENV A 1` form too."""
    words = shlex.split(instruction.body)
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise DockerfileError(f"line {instruction.line}: ENV word {word!r} has no '='")
        pairs.append((name, value))
    return pairs


def expand(value: str, env: dict[str, str]) -> str:
    """Docker's `$NAME` / `${NAME}` substitution in ENV values (no modifiers needed here)."""
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def bind_mounts(instruction: Instruction) -> list[tuple[str, str]]:
    """(source in the context, target in the image) of each `--mount=type=bind`."""
    mounts = []
    for spec in instruction.flags.get("mount", []):
        options = dict(part.partition("=")[::2] for part in spec.split(","))
        if options.get("type") == "bind":
            mounts.append((options["source"], options["target"]))
    return mounts


def dockerignore_path(dockerfile: Path, context: Path) -> Path:
    """The ignore file Docker (BuildKit) applies: `<Dockerfile>.dockerignore` beside the
    Dockerfile when there is one, else `.dockerignore` at the root of the context."""
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return specific if specific.is_file() else context / ".dockerignore"


def read_dockerignore(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _pattern_regex(pattern: str) -> str:
    """Go's filepath.Match syntax plus Docker's `**` (any number of folders)."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _matches(pattern: str, relative: str) -> bool:
    regex = _pattern_regex(pattern.strip("/"))
    parts = relative.split("/")
    # A pattern that matches a folder applies to everything below it.
    return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))


def included(relative: str, patterns: list[str]) -> bool:
    """Whether the context keeps `relative`: the last matching pattern decides."""
    keep = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(pattern[1:] if negated else pattern, relative):
            keep = negated
    return keep


def _may_reinclude_below(folder: str, patterns: list[str]) -> bool:
    """Whether a `!pattern` could bring back something under an excluded folder."""
    for pattern in patterns:
        if pattern.startswith("!"):
            first = pattern[1:].strip("/").split("/")[0]
            if first == folder.split("/")[0] or any(c in first for c in "*?["):
                return True
    return False


def context_files(context: Path, ignore_file: Path | None = None) -> list[Path]:
    """Files of a build context after its ignore file, relative to the context.

    `ignore_file` defaults to the context's .dockerignore. Excluded folders that no `!`
    pattern reaches into are not walked (a .venv is large)."""
    patterns = read_dockerignore(ignore_file or context / ".dockerignore")
    files = []
    for folder, subfolders, names in os.walk(context):
        base = Path(folder).relative_to(context)
        subfolders[:] = [
            name
            for name in subfolders
            if included((base / name).as_posix(), patterns)
            or _may_reinclude_below((base / name).as_posix(), patterns)
        ]
        files += [base / name for name in names if included((base / name).as_posix(), patterns)]
    return sorted(files)
