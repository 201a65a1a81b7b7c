"""The Gradio Blocks app: the header and four tabs (tabs.py) wired to the handlers."""

from typing import Any

import gradio as gr

from flipkart_ui.config import Settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.tabs import (
    Header,
    Part,
    build_classification_tab,
    build_dashboard_tab,
    build_header,
    build_models_tab,
    build_monitoring_tab,
    wire_language,
)

THEME = gr.themes.Soft(
    # System fonts only: the app must not reach out to a font CDN (offline tests, privacy).
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


def build_parts(ui: Frontend, demo: gr.Blocks) -> tuple[Header, list[Part]]:
    """The header and the four tabs, laid out inside `demo` with their events wired."""
    header = build_header(ui.settings)
    with gr.Tabs():
        tabs = [
            build_classification_tab(ui, header.lang),
            build_dashboard_tab(ui, header.lang, demo),
            build_models_tab(ui, header.lang, demo),
            build_monitoring_tab(ui, header.lang, demo),
        ]
    return header, tabs


def build_app(settings: Settings) -> gr.Blocks:
    with gr.Blocks(title="Flipkart", analytics_enabled=False) as demo:
        header, tabs = build_parts(Frontend(settings), demo)
        wire_language(header.lang, [header, *tabs])
    return demo


def launch(settings: Settings, **kwargs: Any) -> gr.Blocks:
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        allowed_paths=[str(settings.assets_dir)],
        theme=THEME,
        footer_links=[],
        ssr_mode=False,
        **kwargs,
    )
    return demo
