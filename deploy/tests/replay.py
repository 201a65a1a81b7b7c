"""Replay a Dockerfile's install steps on this machine, into a folder standing for the image.

Every absolute path of the image (`/app`, `/data`, ...) lives under `root`. Only `uv sync` commands
are run (with the Dockerfile's own flags, ENV and bind mounts); other RUN lines (useradd, rm)
concern the image's file system and are listed as skipped. The uv stage is replaced by the
host's uv, whose version the tests compare with the image tag.
"""

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile import (
    DockerfileError,
    Instruction,
    Stage,
    bind_mounts,
    context_files,
    dockerignore_path,
    env_pairs,
    exec_form,
    expand,
    parse,
)

UV_IMAGE = "ghcr.io/astral-sh/uv"
# Host variables that would point uv at another environment than the Dockerfile's, or
# configure the services differently from the image (the tests set what they need).
DROPPED_HOST_VARIABLES = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PORT", "WEBSITES_PORT")
DROPPED_HOST_VARIABLES += ("DATABASE_URL", "API_URL", "HOST", "ASSETS_DIR", "UI_LANG")
DROPPED_HOST_PREFIXES = ("FLIPKART_", "GRADIO_")


@dataclass
class Replayed:
    root: Path
    env: dict[str, str]  # the final stage's environment, paths mapped under root
    cwd: Path
    cmd: list[str]
    healthcheck: list[str]
    uv_tag: str
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def image_tops(stages: list[Stage]) -> set[str]:
    """Top-level folders of the image that the Dockerfile writes to (mapped under root)."""
    tops = set()
    for stage in stages:
        for ins in stage.instructions:
            paths: list[str] = []
            if ins.keyword == "WORKDIR":
                paths = [ins.body]
            elif ins.keyword == "COPY":
                paths = [shlex.split(ins.body)[-1]]
            elif ins.keyword == "VOLUME":
                paths = exec_form(ins) if ins.body.startswith("[") else ins.body.split()
            tops.update(p.split("/")[1] for p in paths if p.startswith("/"))
    return tops


class Replayer:
    def __init__(
        self, root: Path, context: Path, named: dict[str, Path], uv: str, ignore_file: Path
    ) -> None:
        self.root, self.context, self.named, self.uv = root, context, named, uv
        self.ignore_file = ignore_file
        self.tops: set[str] = set()
        self._context_files: list[Path] | None = None

    def context_files(self) -> list[Path]:
        if self._context_files is None:
            self._context_files = context_files(self.context, self.ignore_file)
        return self._context_files

    def host(self, image_path: str, cwd: Path) -> Path:
        if image_path.startswith("/"):
            return self.root / image_path.lstrip("/")
        return cwd / image_path

    def map_paths(self, text: str) -> str:
        if not self.tops:
            return text
        names = "|".join(re.escape(t) for t in sorted(self.tops))
        return re.sub(
            rf"(?<![\w.])/({names})(?=/|:|$|\s)", lambda m: str(self.root / m.group(1)), text
        )

    def copy_context(self, source: str, dest: Path) -> None:
        """COPY from the context: a folder's content goes into dest, a file becomes dest."""
        prefix = "" if source in (".", "./") else source.rstrip("/")
        files = [
            f
            for f in self.context_files()
            if not prefix or f.as_posix() == prefix or f.as_posix().startswith(prefix + "/")
        ]
        if not files:
            raise DockerfileError(f"COPY {source}: nothing left by .dockerignore")
        for relative in files:
            if relative.as_posix() == prefix:
                target = dest
            else:
                target = dest / (relative.relative_to(prefix) if prefix else relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.context / relative, target)

    def copy(self, ins: Instruction, cwd: Path, skipped_stages: set[str]) -> None:
        *sources, dest = shlex.split(ins.body)
        source_stage = ins.flags.get("from", [None])[0]
        if source_stage in skipped_stages:
            return
        destination = self.host(dest, cwd)
        for source in sources:
            if source_stage is None:
                self.copy_context(source, destination)
                continue
            if source_stage in self.named:
                origin = (self.named[source_stage] / source).resolve()
            else:  # an earlier stage: one shared root stands for every stage
                origin = self.host(source, cwd)
            if origin == destination:
                continue
            if not origin.exists():
                raise DockerfileError(f"line {ins.line}: COPY source {source} does not exist")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.is_symlink() or destination.exists():
                raise DockerfileError(f"line {ins.line}: {dest} is written twice")
            destination.symlink_to(origin, target_is_directory=origin.is_dir())

    def run_uv(self, ins: Instruction, cwd: Path, env: dict[str, str]) -> str:
        argv = [self.map_paths(word) for word in shlex.split(ins.body)]
        argv[0] = self.uv
        mounted = []
        kept = {f.as_posix() for f in self.context_files()}
        for source, target in bind_mounts(ins):
            if source not in kept:
                raise DockerfileError(f"line {ins.line}: bind mount {source} is not in the context")
            path = self.host(target, cwd)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.context / source, path)
                mounted.append(path)
        try:
            result = subprocess.run(
                argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
            )
        finally:
            for path in mounted:  # a bind mount disappears after its RUN
                path.unlink()
        if result.returncode != 0:
            raise DockerfileError(
                f"line {ins.line}: `{ins.body}` failed ({result.returncode}):\n{result.stderr}"
            )
        return ins.body


def replay(
    dockerfile: Path,
    context: Path,
    root: Path,
    uv: str,
    named_contexts: dict[str, Path] | None = None,
    install_overrides: dict[str, str] | None = None,
) -> Replayed:
    """`install_overrides` replace ENV values for the `uv sync` steps only (see the tests)."""
    stages = parse(dockerfile.read_text())
    ignore_file = dockerignore_path(dockerfile, context)
    replayer = Replayer(root, context, named_contexts or {}, uv, ignore_file)
    replayer.tops = image_tops(stages)
    host_env = {
        k: v
        for k, v in os.environ.items()
        if k not in DROPPED_HOST_VARIABLES and not k.startswith(DROPPED_HOST_PREFIXES)
    }
    uv_stages = {s.name or s.image for s in stages if s.image.startswith(UV_IMAGE + ":")}
    uv_tags = [s.image.split(":", 1)[1] for s in stages if s.image.startswith(UV_IMAGE + ":")]
    ran, skipped = [], []
    cmd: list[str] = []
    healthcheck: list[str] = []
    env: dict[str, str] = {}
    cwd = root
    for stage in stages:
        if (stage.name or stage.image) in uv_stages:
            continue
        env, cwd = dict(host_env), root
        for ins in stage.instructions:
            if ins.keyword == "ENV":
                for name, value in env_pairs(ins):
                    env[name] = expand(replayer.map_paths(value), env)
            elif ins.keyword == "WORKDIR":
                cwd = replayer.host(ins.body, cwd)
                cwd.mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "VOLUME":
                for path in exec_form(ins) if ins.body.startswith("[") else ins.body.split():
                    replayer.host(path, cwd).mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "COPY":
                replayer.copy(ins, cwd, uv_stages)
            elif ins.keyword == "RUN":
                if ins.body.startswith("uv sync "):
                    ran.append(replayer.run_uv(ins, cwd, env | (install_overrides or {})))
                else:
                    skipped.append(ins.body)
            elif ins.keyword == "CMD":
                cmd = [replayer.map_paths(word) for word in exec_form(ins)]
            elif ins.keyword == "HEALTHCHECK":
                healthcheck = [replayer.map_paths(word) for word in exec_form(ins)]
    if not uv_tags:
        raise DockerfileError(f"{dockerfile}: uv does not come from {UV_IMAGE}")
    return Replayed(root, env, cwd, cmd, healthcheck, uv_tags[0], ran, skipped)
