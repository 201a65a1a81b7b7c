"""Settings from the environment, read once at start-up."""

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASSETS_DIR = PACKAGE_ROOT / "assets"
LANGUAGES = ("en", "fr")


class SettingsError(ValueError):
    """An environment variable has a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    api_url: str = "http://localhost:8000"
    assets_dir: Path = DEFAULT_ASSETS_DIR
    port: int = 7860
    host: str = "0.0.0.0"
    language: str = "en"
    api_timeout_s: float = 30.0
    monitoring_refresh_s: float = 60.0
    concurrency: int = 4
    # The backend's admin key, sent only with `GET /v1/stats` (private by default there).
    api_key: str = field(default="", repr=False)


def _number(env: dict[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    api_url = env.get("API_URL", "").strip() or Settings.api_url
    if not api_url.startswith(("http://", "https://")):
        raise SettingsError(f"API_URL must start with http:// or https://, got {api_url!r}")
    language = env.get("UI_LANG", "").strip().lower() or Settings.language
    if language not in LANGUAGES:
        raise SettingsError(f"UI_LANG must be one of {', '.join(LANGUAGES)}, got {language!r}")
    port = int(_number(env, "PORT", Settings.port, int))
    if port > 65535:
        raise SettingsError(f"PORT must be at most 65535, got {port}")
    return Settings(
        api_url=api_url.rstrip("/"),
        assets_dir=Path(env.get("ASSETS_DIR") or DEFAULT_ASSETS_DIR),
        port=port,
        host=env.get("HOST", "").strip() or Settings.host,
        language=language,
        api_timeout_s=_number(env, "API_TIMEOUT_S", Settings.api_timeout_s, float),
        monitoring_refresh_s=_number(
            env, "MONITORING_REFRESH_S", Settings.monitoring_refresh_s, float
        ),
        concurrency=int(_number(env, "UI_CONCURRENCY", Settings.concurrency, int)),
        api_key=env.get("API_KEY", "").strip(),
    )
