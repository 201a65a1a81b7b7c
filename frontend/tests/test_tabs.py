"""The layout's parts and the language switch: every component is re-labelled by name."""

import gradio as gr
import pytest
from fake_backend import fake_prediction
from flipkart_ui.app import build_app, build_parts
from flipkart_ui.config import load_settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.tabs import relabel_all


@pytest.fixture()
def settings(assets_dir):
    return load_settings({"API_URL": "http://127.0.0.1:9", "ASSETS_DIR": str(assets_dir)})


@pytest.fixture()
def parts(settings):
    with gr.Blocks() as demo:
        header, tabs = build_parts(Frontend(settings), demo)
    return [header, *tabs]


def start_values(parts) -> dict:
    return {block: block.value for part in parts for block in part.relabel_inputs()}


def test_switching_language_updates_every_component_of_every_part(parts):
    updates = relabel_all(parts, "fr", start_values(parts))
    outputs = [block for part in parts for block in part.blocks()]
    assert len(set(outputs)) == len(outputs)
    assert set(updates) == set(outputs)  # nothing forgotten, nothing outside the outputs
    assert not any(isinstance(block, gr.State | gr.Timer) for block in outputs)
    header, classification, batch, dashboard, models, monitoring = parts
    assert updates[header.title] == "# Classifieur de produits Flipkart"
    assert updates[header.lang]["label"] == "Langue"
    assert updates[classification.classify_button]["value"] == "Classer"
    assert updates[classification.sample_gallery]["label"].startswith("…ou cliquez")
    assert updates[classification.title]["label"] == "Titre du produit (facultatif)"
    assert updates[classification.description]["label"] == "Description du produit (facultative)"
    assert updates[dashboard.tab]["label"] == "Tableau de bord"
    assert updates[batch.tab]["label"] == "Par lot"
    assert updates[batch.run]["value"] == "Tout classer"
    assert (
        updates[batch.intro].startswith("Classez plusieurs photos")
        and "1\u202f000" in (updates[batch.intro])
    )
    assert updates[classification.model]["label"] == "Modèle"
    assert updates[classification.compare_model]["label"] == "Comparer avec (facultatif)"
    assert updates[classification.models_note].startswith("La liste des modèles est indispon")
    assert updates[dashboard.summary].startswith("Le jeu de données Flipkart")
    assert updates[dashboard.plots[0]].layout.title.text == "Images par catégorie"
    assert updates[models.board]["label"] == "Classement"
    assert updates[monitoring.intro].startswith("Statistiques de production")


def test_relabel_re_renders_the_stored_answers(parts):
    _, classification, _, dashboard, models, _ = parts
    values = start_values(parts)
    values[classification.prediction_state] = {"response": fake_prediction(b"x"), "message": None}
    values[classification.feedback_state] = ("feedback_thanks", {})
    values[models.state] = {"response": None, "message": ("err_unreachable", {"api_url": "u"})}
    values[dashboard.category_filter] = ["Watches"]
    updates = relabel_all(parts, "fr", values)
    assert "avec une confiance de" in updates[classification.details]
    assert updates[classification.right_label]["choices"][-1] == ("Montres", "Watches")
    assert ("Montres", "Watches") in updates[dashboard.category_filter]["choices"]
    assert updates[classification.feedback_status] == "Merci, votre avis est enregistré."
    assert "injoignable" in updates[models.status]
    assert "(6 images affichées)" in updates[dashboard.summary]
    english = relabel_all(parts, "en", values)
    assert "with a confidence of" in english[classification.details]


def test_the_language_event_updates_every_visible_component_of_the_app(settings):
    demo = build_app(settings)
    (lang,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "language"]
    (event,) = [fn for fn in demo.fns.values() if (lang._id, "change") in fn.targets]
    layout = (gr.Row, gr.Column, gr.Tabs, gr.layouts.Form, gr.State, gr.Timer)
    shown = {b for b in demo.blocks.values() if not isinstance(b, layout)}
    # 44 + 4 listing + 18 issue 17 + 4 model switch and comparison + 7 batch
    assert set(event.outputs) == shown and len(shown) == 78
    assert event.inputs_as_dict  # named values in, named updates out


def test_a_thumbnail_click_classifies_its_sample_as_the_dropdown_does(assets_dir, backend):
    settings = load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)})
    ui = Frontend(settings)
    with gr.Blocks() as demo:
        _, (classification, *_) = build_parts(ui, demo)
    fns = demo.fns.values()
    (clicked,) = [f for f in fns if (classification.sample_gallery._id, "select") in f.targets]
    (picked,) = [f for f in fns if (classification.sample._id, "input") in f.targets]
    assert clicked.outputs == [classification.sample, *picked.outputs]
    sample = ui.samples[2]
    event = gr.SelectData(classification.sample_gallery, {"index": 2, "value": None})
    by_thumbnail = clicked.fn("en", None, event, None)  # language, model (production), click
    by_dropdown = picked.fn(sample.image, "en", None, None)
    assert by_thumbnail[0] == sample.image
    assert by_thumbnail[3:5] == (sample.listing_title, sample.description)
    assert by_thumbnail[1:6] == by_dropdown[:5]  # upload, URL, title, description, photo
    state = by_thumbnail[7]  # the same answer, in the same state, as the dropdown's
    assert state["response"] == by_dropdown[6]["response"] == backend.behaviour.calls[-2]["answer"]
    assert by_thumbnail[9] == by_dropdown[8]  # the heading
