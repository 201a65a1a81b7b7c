"""The Gradio Blocks app: the header and five tabs (tabs.py) wired to the handlers."""

import json
from pathlib import Path
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
I18N_SCRIPT = """
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
"""

# Plotly draws a chart updated inside a hidden tab (a language switch, a late answer) at its
# default 700 px: redraw each chart at its container's width whenever that width changes.
FIT_SCRIPT = """
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
"""


def plotly_chunk() -> str | None:
    """The file name of Gradio's Plotly bundle (4.6 MB), which it loads only once a chart is
    first shown; None if this Gradio has none by that name."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    found = sorted(assets.glob("PlotlyPlot-*.js"))
    return found[0].name if found else None


# Plotly, loaded ahead: once the page is idle, Gradio's own Plotly bundle is imported (the
# module Gradio imports later, so it runs once), so that the first chart shown (the Dashboard,
# a prediction) does not wait on its download and start-up.
# Each update of a chart, Gradio draws it twice: into the old chart's element, which it then
# drops, and into a new one. A drawing is put off to the end of the current task and made only
# on an element then in the page, with the latest figure: the first, wasted drawing is skipped.
PLOTLY_SCRIPT = """
(() => {
  const chunk = PLOTLY_CHUNK;
  const defer = (Plotly) => {
    if (!Plotly || Plotly.flipkartDeferred) return;
    const react = Plotly.react;
    Plotly.flipkartDeferred = true;
    Plotly.react = function (gd, ...args) {
      if (!(gd instanceof HTMLElement)) return react.call(this, gd, ...args);
      const waiting = Boolean(gd.flipkartFigure);
      gd.flipkartFigure = args;
      let tries = 40;  // an element not in the page after 2 s is dropped for good
      const draw = () => {
        if (!gd.isConnected && tries-- > 0) { setTimeout(draw, 50); return; }
        const latest = gd.flipkartFigure;
        gd.flipkartFigure = null;
        if (gd.isConnected) react.call(Plotly, gd, ...latest);
      };
      if (!waiting) setTimeout(draw, 0);
      return Promise.resolve(gd);
    };
  };
  const load = () => {
    const main = document.querySelector('script[type="module"][src*="assets/index-"]');
    if (!chunk || !main) return;
    import(new URL(chunk, main.src).href).then(() => defer(window.Plotly)).catch(() => {});
  };
  const idle = () => (window.requestIdleCallback ? requestIdleCallback(load) : setTimeout(load));
  // Gradio adds this script once the page has loaded, or nearly
  if (document.readyState === "complete") idle();
  else window.addEventListener("load", idle);
})();
"""

HEAD = "<script>{}</script>".format(
    I18N_SCRIPT + FIT_SCRIPT + PLOTLY_SCRIPT.replace("PLOTLY_CHUNK", json.dumps(plotly_chunk()))
)

THEME = gr.themes.Soft(
    # System fonts only: the app must not reach out to a font CDN (offline tests, privacy).
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


def build_parts(ui: Frontend, demo: gr.Blocks) -> tuple[Header, list[Part]]:
    """The header and the five tabs, laid out inside `demo` with their events wired."""
    header = build_header(ui.settings)
    with gr.Tabs(overflow_behavior="wrap"):
        classification = build_classification_tab(ui, header.lang, demo)
        tabs = [
            classification,
            build_batch_tab(ui, header.lang, classification.models_state),
            build_dashboard_tab(ui, header.lang, demo),
            build_models_tab(ui, header.lang, demo),
            build_monitoring_tab(ui, header.lang, demo),
        ]
    return header, tabs


def build_app(settings: Settings, ui: Frontend | None = None) -> gr.Blocks:
    with gr.Blocks(title="Flipkart", analytics_enabled=False) as demo:
        header, tabs = build_parts(ui or Frontend(settings), demo)
        wire_language(header.lang, [header, *tabs])
    return demo


def launch(settings: Settings, **kwargs: Any) -> gr.Blocks:
    ui = Frontend(settings)
    # The dashboard's whole charts are built once per language; the first page needs them at once
    ui.dashboard_parts(ui.categories, settings.language)
    demo = build_app(settings, ui)
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
