"""`python -m flipkart_ui` / `flipkart-ui`: serve with the environment's settings, or explain."""

import os
import subprocess
import sys


def run_env(**values: str) -> dict[str, str]:
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **values}


def test_bad_setting_exits_with_a_message():
    result = subprocess.run(
        [sys.executable, "-m", "flipkart_ui"],
        env=run_env(UI_LANG="de"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "flipkart-ui: UI_LANG must be one of en, fr, got 'de'" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_serves_the_settings_from_the_environment(monkeypatch, tmp_path):
    """`flipkart-ui` hands the environment's settings to the same `launch` the browser tests
    drive (starting a second Gradio server here would only cost time)."""
    import flipkart_ui.app
    from flipkart_ui.cli import main

    launched = []
    monkeypatch.setattr(flipkart_ui.app, "launch", launched.append)
    for name, value in {
        "PORT": "7999",
        "API_URL": "http://api:8000",
        "ASSETS_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    main()
    (settings,) = launched
    assert (settings.port, settings.api_url, settings.assets_dir) == (
        7999,
        "http://api:8000",
        tmp_path,
    )
