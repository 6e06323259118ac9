"""One settings object, read from the environment (prefix-free names for the URLs, HOTLINE_ for the rest)."""

from __future__ import annotations

import functools
import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel import secret_rules

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore")

    # Unset URLs select the embedded default: SQLite under data_dir and a Redis
    # server the process starts itself.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HOTLINE_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "HOTLINE_REDIS_URL")
    )
    data_dir: Path = Path("data")

    # Secrets. In development (the embedded default) a per-data-folder random
    # secret is generated; in production an explicit secret is required.
    jwt_secret: str = ""
    telephony_secret: str = ""
    jwt_ttl_s: int = 12 * 3600
    environment: str = "development"
    telephony_outbound_url: str | None = None

    # Routing.
    offer_timeout_s: float = 15.0
    wrapup_s: float = 20.0
    heartbeat_timeout_s: float = 10.0
    autopause_after_missed: int = 3
    sweep_interval_s: float = 0.25
    # Reconciliation of Redis with the database: how often a pass runs (one process at a
    # time), and how long a difference must last before it is repaired.
    reconcile_interval_s: float = 5.0
    reconcile_grace_s: float = 10.0
    run_sweeper: bool = True
    repeat_caller_window_s: int = 3600
    elderly_age: int = 65

    # Triage: the rule set in force (docs/clinical-rules.md lists the sets and defaults).
    triage_rule_set: str = "moh-261-2022"

    # Dispatch.
    hold_ttl_s: int = 900
    bed_staleness_s: int = 6 * 3600
    ambulance_speed_kmh: float = 30.0
    # A match job also claims and matches up to this many requests in all, most urgent first,
    # when a backlog waits (1: each request by its own job only).
    match_batch: int = Field(default=16, ge=1, le=500)
    # Clocks of hospital systems drift; bed counts dated further ahead of ours than this are
    # a typo, not a clock, and are refused (they would block every accurate update after).
    bed_clock_skew_s: float = 120.0

    # Outages: how long a connection attempt to Redis or the database may take before the
    # request answers 503 (short, so a dead dependency does not hold requests for long).
    redis_connect_timeout_s: float = 2.0
    database_connect_timeout_s: int = 3

    # Triage follow-ups and escalation. Policy fields to override (their names are in
    # docs/clinical-rules.md); the overrides must include a new "name".
    triage_policy_overrides: dict[str, Any] = {}
    followup_branch_digit: str = "3"
    followup_grace_s: int = 1800
    followup_rising_risk_factor: float = 0.5
    followup_sweep_interval_s: float = 60.0
    # Pickup fallback when a patient has no coordinates: ward centroid, then the city centre.
    triage_ward_centroids: dict[str, tuple[float, float]] = {}
    triage_default_lat: float = 10.7769
    triage_default_lon: float = 106.7009

    # Epidemic levels: policy fields to override, for the "our default" choices of
    # docs/clinical-rules.md.
    epidemic_policy_overrides: dict[str, Any] = {}
    area_policy_overrides: dict[str, Any] = {}

    # Sign-in throttling (kernel/signin_throttle.py): attempts past the free ones lock the
    # account, or the source address, for base * 2^k seconds up to the cap; failures are
    # forgotten after the memory.
    signin_account_free_attempts: int = 5
    signin_address_free_attempts: int = 30
    signin_backoff_base_s: float = 1.0
    signin_backoff_max_s: float = 900.0
    signin_failure_memory_s: int = 3600
    # A doctor's "break the glass" reading of a patient's record lasts this long
    # (triage/care_team.py).
    break_glass_ttl_s: int = 1800
    # Observability: /metrics needs "Authorization: Bearer <metrics_token>" when it is set
    # (open otherwise, for a scraper on a private network); service level and speed of
    # answer are figured over the last metrics_window_s; log_level is `hotline worker`'s.
    metrics_token: str = ""
    metrics_window_s: int = 900
    log_level: str = "INFO"
    # The workers' scheduler (kernel/scheduler.py): how often the holder of the scheduling
    # role asks the database what is due, and how long the role outlives a silent holder.
    scheduler_tick_s: float = 1.0
    scheduler_lease_s: float = 4.0
    # `hotline worker`'s RQ worker class (kernel/rqworker.py): "simple" runs each job in the
    # worker's own process (RQ's SimpleWorker, with a heartbeat per job); "fork" forks a
    # process per job (RQ's Worker).
    worker_class: Literal["simple", "fork"] = "simple"
    # The TwiML voice line (hotline/voice/): the provider account's auth token signs every
    # request; the public URL is the one the provider calls (a proxy may rewrite the host).
    twilio_auth_token: str = ""
    public_url: str = "http://127.0.0.1:8000"
    voice_language: str = "vi"
    voice_menu_attempts: int = 3
    voice_announce_every_s: float = 30.0
    voice_wait_pause_s: int = 2
    voice_dial_timeout_s: int = 20
    voice_audio_dir: Path | None = None

    # Worker threads the hot routes (call arrivals, bed updates) may use at once per process.
    hot_route_threads: int = Field(default=8, ge=1, le=200)
    # Call arrivals waiting together are written together (hotline/arrivals.py): at most
    # this many to a batch, and this many batches written at once per process.
    arrival_batch_size: int = Field(default=64, ge=1, le=1000)
    arrival_batches_running: int = Field(default=2, ge=1, le=200)
    # Bed updates (PUT of one pool) waiting together are written together, the same way.
    bed_batch_size: int = Field(default=64, ge=1, le=1000)
    bed_batches_running: int = Field(default=2, ge=1, le=200)
    # While a batch of either is being written, the next gathers for this long before it
    # starts (kernel/batches.py); 0 starts it with whatever waits.
    hot_batch_gather_ms: float = Field(default=2.0, ge=0, le=100)
    # The garbage collector of each API process (kernel/runtime_observe.py): freeze what is
    # built at start-up, collect the young generation after this many allocations (0 leaves
    # Python's own policy: 700, and nothing frozen), freeze what each full collection leaves,
    # and walk the frozen objects again every this many full collections (0: never freeze
    # after a full collection).
    gc_gen0_threshold: int = Field(default=10_000, ge=0, le=1_000_000)
    gc_full_walk_every: int = Field(default=10, ge=0, le=1000)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        # kernel/secret_rules.py: exact environment names; strong, distinct production secrets.
        if problem := secret_rules.environment_problem(self.environment):
            raise ValueError(problem)
        if self.environment == "production":
            problems = secret_rules.production_secret_problems(
                {name: getattr(self, name) for name in secret_rules.SECRET_NAMES}
            )
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the common forms and use the psycopg 3 driver.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'hotline.sqlite3').resolve()}"


def _fill_development_secrets(settings: Settings) -> Settings:
    """Outside production, generate secrets once per data folder so every child process agrees."""
    names = ["jwt_secret", "telephony_secret"]
    if settings.environment != "production":
        names.append("twilio_auth_token")  # production takes the provider's, or no voice line
    missing = [n for n in names if not getattr(settings, n)]
    if not missing:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "dev-secrets.json"
    try:
        stored = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        stored = {}
    changed = False
    for name in missing:
        if name not in stored:
            stored[name] = secrets.token_hex(32)
            changed = True
        setattr(settings, name, stored[name])
    if changed:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return settings


@functools.lru_cache
def get_settings() -> Settings:
    return _fill_development_secrets(Settings())
