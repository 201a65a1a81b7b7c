"""Service settings, read from the environment (prefix `FLIPKART_`, plus the platform's `PORT`)."""

import os
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_artifacts_root() -> Path:
    """`<repo>/artifacts`: found next to the source checkout, else under the working directory."""
    package_dir = Path(__file__).resolve().parent
    for parent in package_dir.parents:
        candidate = parent / "artifacts"
        if (candidate / "README.md").is_file() or (candidate / "registry.json").is_file():
            return candidate
    cwd = Path.cwd()
    for base in (cwd, *cwd.parents):
        if (base / "artifacts").is_dir():
            return base / "artifacts"
    return cwd / "artifacts"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIPKART_", extra="ignore")

    artifacts_root: Path = Field(default_factory=default_artifacts_root)
    # The kept runs (`GET /v1/runs`, learning curves); unset: `runs/` beside the artifacts.
    runs_root: Path | None = None
    host: str = "0.0.0.0"
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "FLIPKART_PORT"))

    # Limits on what a client may send.
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_batch_images: int = 32
    max_batch_bytes: int = 64 * 1024 * 1024  # a whole batch request, all images together
    # A listing's text as sent (characters, before cleaning): longer is refused (413
    # text_too_long). What the text model reads is then cleaned and cut shorter, at the
    # contract's TITLE_MAX_CHARS / DESCRIPTION_MAX_CHARS.
    max_title_chars: int = Field(1_000, ge=1)
    max_description_chars: int = Field(10_000, ge=1)

    # Memory (flipkart_api.memory): the decodes in flight share one budget of bytes. Each reserves
    # its estimated peak from the image's header (width x height x Pillow's bytes per pixel, plus
    # the RGB conversion) before decoding, waits up to `decode_wait_s` while the budget is spent,
    # then answers 503 + Retry-After. 256 MiB holds the largest image `max_pixels` admits (an RGB
    # PNG of 40 M px, ~180 MB) or several 6,300 px bilevel PNGs (54 MB each, reduced decode).
    # 0 = unbounded. After a decode of `decode_trim_bytes` or more, glibc's heap is trimmed.
    decode_budget_bytes: int = Field(256 * 1024 * 1024, ge=0)
    decode_wait_s: float = Field(2.0, ge=0)
    decode_trim_bytes: int = Field(32 * 1024 * 1024, ge=0)  # 0 = never trim

    # URL fetching.
    url_timeout_s: float = 5.0
    url_max_redirects: int = 3
    url_allow_private: bool = False

    # Dynamic micro-batching and inference.
    # ONNX Runtime's CPU time per image grows past batches of ~4 on a small CPU (measured on
    # efficientnet_lite0, 2 cores: 14 ms at batch 2-4, 16-19 ms at batch 16).
    batch_max_size: int = 4
    batch_max_wait_ms: float = 2.0
    # 0 = automatic: one worker process gets ONNX Runtime's default (all cores); several
    # share the cores out (cores // workers each, at least 1). See `intra_op_threads`.
    inference_threads: int = Field(0, ge=0)
    # Spinning worker threads cut ONNX Runtime latency a little but burn the CPU that HTTP
    # handling and decoding need on a small box; off by default.
    inference_spinning: bool = False

    # Occlusion explanations (`POST /v1/explain`, flipkart_api.explain): a `grid × grid` of
    # patches (the request's `grid`, else this), grid² + 1 images through the model in batches
    # of `explain_batch`; at most `explain_concurrency` at once per process, a request waits
    # up to `decode_wait_s` for its turn, then 503 `server_busy`. The rate limit charges an
    # explanation `explain_rate_cost` units (a prediction: 1).
    explain_grid: int = Field(8, ge=2, le=12)
    explain_batch: int = Field(16, ge=1, le=256)
    explain_concurrency: int = Field(1, ge=1)
    explain_rate_cost: int = Field(8, ge=1)

    # Server processes (`flipkart-api serve`): each runs the whole app (its own models, batcher,
    # rate limiter, decode budget, metrics) on the one listening socket. 0 = one per CPU core.
    # Python's parts of a request (HTTP, routing, answer) hold the GIL; one process cannot keep
    # 2 cores busy while several can (measured in bench/serving/README.md).
    workers: int = Field(1, ge=0)

    # An answer is `uncertain` below this top-1 probability. Unset: each model's calibrated
    # threshold (`card.calibration.uncertain_below`, derived from validation by
    # `python -m flipkart_api.tools.calibrate`), else 0.5 for an uncalibrated model.
    uncertain_threshold: float | None = Field(None, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    json_logs: bool = True

    # Prediction store, feedback, monitoring, access control (flipkart_api.store, auth, ratelimit).
    store_enabled: bool = True
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "FLIPKART_DATABASE_URL", "database_url")
    )
    database_path: Path | None = None  # SQLite file; default <artifacts_root>/../var/
    database_timeout_s: float = 5.0
    prediction_cache: bool = True  # same image + same model → answered from the store
    keep_images: bool = False  # keep uploads as retraining data (content-addressed files)
    keep_images_dir: Path | None = None  # default: kept_images/ beside the SQLite file
    keep_images_min_confidence: float = 0.9
    keep_images_max_bytes: int = 1024**3
    admin_key_sha256: str = ""  # comma-separated sha256 hex digests of the accepted API keys
    # `/v1/stats` needs the admin key unless this is false (FLIPKART_STATS_PRIVATE=false).
    stats_private: bool = True
    # Key of the feedback tokens (HMAC-SHA256 of the prediction id) that bind feedback and
    # `GET /v1/predictions/{id}` to the client that got the prediction. Unset: a random secret
    # generated once and kept in the prediction store (table `server_secrets`), so tokens
    # survive restarts and every replica on the same database accepts them.
    feedback_secret: SecretStr = SecretStr("")
    stats_last_n: int = 100
    # Per client on every route that does work (predict, batch, preprocess, feedback, and the
    # original /predict and /normalize); a batch costs one unit per image. 0 = off.
    rate_limit_per_minute: float = Field(300.0, ge=0)
    rate_limit_burst: int = Field(64, ge=1)  # at least a full batch (max_batch_images)
    # The client is the socket peer. Only when the peer is one of these proxies (comma-separated
    # IPs or CIDRs) is X-Forwarded-For read: the client is its right-most address that is not a
    # trusted proxy ("*" trusts all: the left-most, right only if the proxy overwrites it).
    # `flipkart-api serve` gives uvicorn the same list (forwarded_allow_ips).
    trusted_proxies: str = ""
    rate_limit_trust_forwarded: bool = False  # replaced by trusted_proxies; refused when alone

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for entry in value.split(","):
            entry = entry.strip()
            if entry and entry != "*":
                try:
                    ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ValueError(f"trusted_proxies: {entry!r} is not an IP or CIDR") from exc
        return value

    @model_validator(mode="after")
    def _forwarded_needs_proxies(self) -> "Settings":
        if self.rate_limit_trust_forwarded and not self.trusted_proxies.strip():
            raise ValueError(
                "FLIPKART_RATE_LIMIT_TRUST_FORWARDED is replaced by FLIPKART_TRUSTED_PROXIES: "
                "list the proxies whose X-Forwarded-For is believed (IPs/CIDRs, or *)."
            )
        return self

    def worker_count(self) -> int:
        """`workers`, with 0 resolved to the number of CPU cores this process may use."""
        return self.workers or available_cores()

    def runs_folder(self) -> Path:
        return self.runs_root or Path(self.artifacts_root).resolve().parent / "runs"

    def intra_op_threads(self) -> int:
        """ONNX Runtime's intra-op threads per session: `inference_threads` when set; else 0
        (its default, every core) for one worker, the cores shared out among several."""
        if self.inference_threads > 0:
            return self.inference_threads
        workers = self.worker_count()
        return 0 if workers == 1 else max(1, available_cores() // workers)

    def trusted_networks(self) -> list[IPv4Network | IPv6Network]:
        """`trusted_proxies` parsed; "*" is every IPv4 and IPv6 address."""
        networks = []
        for entry in filter(None, (e.strip() for e in self.trusted_proxies.split(","))):
            if entry == "*":
                networks += [ip_network("0.0.0.0/0"), ip_network("::/0")]
            else:
                networks.append(ip_network(entry, strict=False))
        return networks

    @field_validator("feedback_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < 32:
            raise ValueError("FLIPKART_FEEDBACK_SECRET must be at least 32 characters (or unset)")
        return value


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
