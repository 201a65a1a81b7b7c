"""deploy/azure/setup.sh against a fake `az` that records its calls (no Azure here)."""

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "azure" / "setup.sh"
FAKE_AZ = """#!/usr/bin/env bash
echo "$*" >> "$AZ_LOG"
case "$*" in
  "appservice plan show"*|"webapp show"*) [ -n "$AZ_EXISTING" ] || exit 3 ;;
esac
exit 0
"""
REQUIRED = {
    "AZURE_RESOURCE_GROUP": "rg-test",
    "AZURE_API_APP_NAME": "api-test",
    "AZURE_UI_APP_NAME": "ui-test",
    "API_IMAGE": "ghcr.io/owner/flipkart-api:abc123",
    "UI_IMAGE": "ghcr.io/owner/flipkart-ui:abc123",
}


def run(tmp_path: Path, existing: bool, **extra: str) -> tuple[subprocess.CompletedProcess, list]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    az = bin_dir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "az.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED and k != "GITHUB_REPOSITORY"}
    env |= REQUIRED | extra
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "AZ_LOG": str(log)}
    env["AZ_EXISTING"] = "1" if existing else ""
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    return result, log.read_text().splitlines()


def calls(log: list[str], prefix: str) -> list[str]:
    return [line for line in log if line.startswith(prefix)]


def test_first_run_creates_everything_with_its_settings(tmp_path):
    result, log = run(tmp_path, existing=False)
    assert result.returncode == 0, result.stderr
    assert calls(log, "group create --name rg-test")
    assert len(calls(log, "appservice plan create")) == 1
    assert "--is-linux" in calls(log, "appservice plan create")[0]
    created = calls(log, "webapp create")
    assert len(created) == 2
    assert "--container-image-name ghcr.io/owner/flipkart-api:abc123" in created[0]
    api_settings, ui_settings = calls(log, "webapp config appsettings set")
    assert "--name api-test" in api_settings and "WEBSITES_PORT=8000" in api_settings
    assert "--name ui-test" in ui_settings and "WEBSITES_PORT=7860" in ui_settings
    assert "API_URL=https://api-test.azurewebsites.net" in ui_settings
    api_config, ui_config = calls(log, "webapp config set")
    assert '"healthCheckPath": "/health"' in api_config
    assert '"healthCheckPath": "/"' in ui_config
    assert len(calls(log, "webapp update")) == 2  # HTTPS only, both apps


def test_second_run_updates_and_creates_nothing(tmp_path):
    result, log = run(tmp_path, existing=True, ADMIN_KEY_SHA256="ab" * 32)
    assert result.returncode == 0, result.stderr
    assert not calls(log, "appservice plan create") and not calls(log, "webapp create")
    assert calls(log, "appservice plan update")
    api_settings = calls(log, "webapp config appsettings set")[0]
    assert f"FLIPKART_ADMIN_KEY_SHA256={'ab' * 32}" in api_settings
    assert len(calls(log, "webapp config container set")) == 2


def test_the_admin_key_reaches_the_ui_and_its_digest_the_api(tmp_path):
    key = "a-test-admin-key"
    digest = hashlib.sha256(key.encode()).hexdigest()
    result, log = run(tmp_path, existing=True, ADMIN_API_KEY=key, ADMIN_KEY_SHA256="ab" * 32)
    assert result.returncode == 0, result.stderr
    api_settings, ui_settings = calls(log, "webapp config appsettings set")
    assert f"FLIPKART_ADMIN_KEY_SHA256={'ab' * 32},{digest}" in api_settings
    assert f"API_KEY={key}" in ui_settings  # flipkart_ui.config reads API_KEY
    assert key not in result.stdout + result.stderr  # the log names settings, not values


def test_private_registry_credentials_reach_the_container_config(tmp_path):
    result, log = run(
        tmp_path,
        existing=True,
        REGISTRY_URL="https://ghcr.io",
        REGISTRY_USERNAME="bot",
        REGISTRY_PASSWORD="secret",
    )
    assert result.returncode == 0, result.stderr
    for line in calls(log, "webapp config container set"):
        assert "--container-registry-url https://ghcr.io" in line
        assert "--container-registry-user bot" in line


@pytest.mark.parametrize(
    ("drop", "extra", "message"),
    [
        ("AZURE_UI_APP_NAME", {}, "AZURE_UI_APP_NAME"),
        (None, {"REGISTRY_URL": "https://ghcr.io"}, "REGISTRY_USERNAME"),
    ],
)
def test_missing_settings_stop_with_a_clear_message(tmp_path, drop, extra, message):
    if drop:
        extra = extra | {drop: ""}
    result, _ = run(tmp_path, existing=False, **extra)
    assert result.returncode != 0
    assert message in result.stderr
