"""`flipkart-ui` / `python -m flipkart_ui`: serve the app on $PORT (default 7860)."""

import sys

from flipkart_ui.config import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"flipkart-ui: {exc}")
    from flipkart_ui.app import launch  # Gradio is slow to import: only once settings are valid

    print(f"flipkart-ui: backend {settings.api_url}, assets {settings.assets_dir}", flush=True)
    launch(settings)
