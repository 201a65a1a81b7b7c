"""The Gradio Blocks app: the header and five tabs (tabs.py) wired to the handlers."""

from typing import Any

import gradio as gr

from flipkart_ui.config import Settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.tabs import (
    Header,
    Part,
    build_batch_tab,
    build_classification_tab,
    build_dashboard_tab,
    build_header,
    build_models_tab,
    build_monitoring_tab,
    wire_language,
)

CSS = """
/* Table headings break between words, never inside one ("Producti-on"). */
#leaderboard th, #leaderboard th * { word-break: normal !important;
  overflow-wrap: normal !important; hyphens: manual; }
#kpis td:last-child { white-space: nowrap; }
/* Photo, text or both: words wrap between them only; headings and percentages never wrap. */
#by-input th, #by-input td { word-break: normal !important; overflow-wrap: normal !important;
  hyphens: manual; padding: 6px 8px !important; }
#by-input th, #by-input td:last-child { white-space: nowrap; }
#batch-table th, #batch-table th * { word-break: normal !important;
  overflow-wrap: normal !important; hyphens: manual; }
/* Phones: the five tab names wrap onto a second line when they must (the Tabs' "wrap"
   overflow: French), each name whole, so none is cut or hides behind a "More tabs" menu. */
@media (max-width: 640px) {
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
  .tab-container button, [role="tablist"] button { padding: 4px 5px !important;
    font-size: 13px !important; min-width: 0 !important; letter-spacing: 0 !important;
    flex: 0 0 auto !important; }
}
"""

# Gradio's status tracker announces events to screen readers with i18n keys its bundled
# locales lack ("common.complete"); say it in the page's language instead.
HEAD = """
<script>
(() => {
  const words = {en: {"common.complete": "Done", "common.error": "Error"},
                 fr: {"common.complete": "Terminé", "common.error": "Erreur"}};
  const lang = () => (document.querySelector('#language input[value="fr"]:checked') ? "fr" : "en");
  const fix = (node) => {
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      const key = text.nodeValue.trim();
      if (key in words.en) text.nodeValue = words[lang()][key];
    }
  };
  new MutationObserver((changes) => changes.forEach((change) => {
    if (change.type === "characterData") fix(change.target.parentNode || change.target);
    change.addedNodes.forEach((node) => fix(node.nodeType === 3 ? node.parentNode : node));
  })).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
// Plotly draws a chart updated inside a hidden tab (a language switch, a late answer) at its
// default 700 px: redraw each chart at its container's width whenever that width changes.
(() => {
  const fit = new ResizeObserver((entries) => entries.forEach(({target}) => {
    const drawn = target._fullLayout && target._fullLayout.width;
    const width = target.clientWidth;
    if (window.Plotly && drawn && width > 0 && Math.abs(drawn - width) > 1) {
      window.Plotly.Plots.resize(target);
    }
  }));
  const watch = () => document.querySelectorAll(".js-plotly-plot:not([data-fit])").forEach(
    (plot) => { plot.dataset.fit = "1"; fit.observe(plot); });
  new MutationObserver(watch).observe(document.documentElement, {childList: true, subtree: true});
})();
</script>
"""

THEME = gr.themes.Soft(
    # System fonts only: the app must not reach out to a font CDN (offline tests, privacy).
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


def build_parts(ui: Frontend, demo: gr.Blocks) -> tuple[Header, list[Part]]:
    """The header and the five tabs, laid out inside `demo` with their events wired."""
    header = build_header(ui.settings)
    with gr.Tabs(overflow_behavior="wrap"):
        tabs = [
            build_classification_tab(ui, header.lang, demo),
            build_batch_tab(ui, header.lang),
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
        css=CSS,
        head=HEAD,
        footer_links=[],
        ssr_mode=False,
        **kwargs,
    )
    return demo
