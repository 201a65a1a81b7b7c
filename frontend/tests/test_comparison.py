"""The model switch and the two-model comparison without a browser: the dropdowns' choices from
/v1/models (production by default, a note instead of a dropdown with nothing to choose), the
chosen model sent as `model=`, and both answers side by side in both languages."""

from fake_backend import RUN_IDS, fake_prediction, models_answer
from flipkart_ui import comparison
from flipkart_ui.config import load_settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.i18n import category, percent


def state_of(answer) -> dict:
    return {"response": answer, "message": None}


def test_production_is_the_default_and_not_its_own_comparison():
    model, other, note = comparison.pickers(state_of(models_answer()), None, None, "en")
    assert model["value"] == RUN_IDS[0] and model["visible"]
    assert [value for _, value in model["choices"]] == RUN_IDS
    assert model["choices"][0][0] == "Production: efficientnet_lite0 finetune, 23 Nov 10:15"
    assert other["choices"] == [("— no comparison —", ""), model["choices"][1]]
    assert other["value"] == "" and other["visible"] and note == ""
    # the second model chosen first: the production becomes a model to compare with
    _, other, _ = comparison.pickers(state_of(models_answer()), RUN_IDS[1], RUN_IDS[1], "fr")
    assert other["value"] == "" and other["choices"][1][0].startswith("En production : ")


def test_one_model_or_none_shows_a_note_instead_of_an_empty_dropdown():
    one = models_answer()
    one["models"] = one["models"][:1]
    model, other, note = comparison.pickers(state_of(one), None, None, "en")
    assert model["visible"] and not other["visible"]
    assert note.startswith("The service has one model (efficientnet_lite0 finetune, 23 Nov")
    _, _, note = comparison.pickers(state_of(one), None, None, "fr")
    assert note.startswith("Le service n'a qu'un modèle")
    model, other, note = comparison.pickers({"response": None}, None, None, "en")
    assert not model["visible"] and not other["visible"]
    assert note == "The list of models is unavailable: the production model answers."


def test_the_chosen_model_answers_and_the_other_one_is_compared(backend, assets_dir):
    settings = load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)})
    ui = Frontend(settings)
    sample = ui.samples[0]
    state = ui.classify(sample.image, None, None, "en", model=RUN_IDS[1])[2]
    (sent,) = [call for call in backend.behaviour.calls if call["path"] == "/v1/predict"]
    assert sent["query"] == {"model": RUN_IDS[1]}
    assert state["response"]["model"]["run_id"] == RUN_IDS[1]
    compared = comparison.compare(ui.client, settings, state, RUN_IDS[0])
    data = sample.path.read_bytes()
    assert compared["first"] == fake_prediction(data, RUN_IDS[1])
    assert compared["second"] == fake_prediction(data, RUN_IDS[0])
    models = state_of(models_answer())
    for lang in ("en", "fr"):
        shown = comparison.render(compared, models, lang)
        names = comparison.model_names(models, lang)
        assert f"| # | {names[RUN_IDS[1]]} | {names[RUN_IDS[0]]} |" in shown
        for answer in (compared["first"], compared["second"]):
            best = answer["probabilities"][0]
            assert f"{category(best['label'], lang)} {percent(best['probability'], lang)}" in shown
        assert ("agree" in shown or "disagree" in shown) if lang == "en" else "modèles" in shown


def test_nothing_to_compare_without_an_answer_or_a_second_model(backend):
    settings = load_settings({"API_URL": backend.url})
    ui = Frontend(settings)
    assert comparison.compare(ui.client, settings, {"response": None}, RUN_IDS[1]) is None
    answer = {"response": fake_prediction(b"x"), "source": None, "text": {}}
    assert comparison.compare(ui.client, settings, answer, "") is None
    assert comparison.render(None, None, "en") == ""


def test_a_failed_comparison_says_why(backend, assets_dir):
    settings = load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)})
    ui = Frontend(settings)
    state = ui.classify(ui.samples[0].image, None, None, "en")[2]
    backend.behaviour.mode = "error"
    compared = comparison.compare(ui.client, settings, state, RUN_IDS[1])
    assert compared["second"] is None
    assert comparison.render(compared, None, "fr").startswith("**❌ Le service de prédiction")
