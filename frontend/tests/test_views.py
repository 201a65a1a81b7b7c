"""What the UI shows for answers and failures: friendly sentences, never a stack trace."""

import pytest
from fake_backend import ADMIN_KEY, RUN_IDS, fake_prediction, models_answer
from flipkart_ui import views
from flipkart_ui.api_client import ApiError
from flipkart_ui.config import load_settings
from flipkart_ui.handlers import Frontend


@pytest.fixture()
def settings(assets_dir):
    return load_settings({"API_URL": "http://127.0.0.1:9", "ASSETS_DIR": str(assets_dir)})


@pytest.mark.parametrize(
    ("error", "english", "french"),
    [
        (ApiError("unreachable", "[Errno 111]"), "cannot be reached", "injoignable"),
        (ApiError("timeout", "read"), "took too long to answer (over 30 s)", "trop de temps"),
        (ApiError("not_deployed", "Not Found", 404), "not available on the backend yet", "pas"),
        (
            ApiError("rejected", "the file is not an image", 422, "not_an_image"),
            "This file is not an image the service can read",
            "n'est pas une image lisible",
        ),
        (
            ApiError("rejected", "Private addresses are not allowed.", 422, "url_forbidden"),
            "For security, the service does not download images from this address",
            "Par sécurité, le service ne télécharge pas",
        ),
        (
            ApiError("rejected", "Cannot resolve host 'x'.", 422, "url_unreachable"),
            "cannot be downloaded: check the address",
            "ne peut pas être téléchargée",
        ),
        (ApiError("rejected", "slow down", 429, "rate_limited"), "Too many requests", "Trop de"),
        (ApiError("rejected", "odd", 422, "some_new_code"), "could not handle", "n'a pas pu"),
        (ApiError("server", "", 500), "had a problem. Try again later", "rencontré un problème"),
        (
            ApiError("server", "No model is ready", 503, "model_not_ready"),
            "starting and not ready yet",
            "pas encore prêt",
        ),
        (ApiError("bad_response", "not JSON"), "does not understand", "incompréhensible"),
        (
            ApiError("rejected", "The title is 1200 characters long", 413, "text_too_long"),
            "title or description is too long",
            "trop long",
        ),
        (
            ApiError("rejected", "The title is not valid UTF-8", 400, "invalid_text_encoding"),
            "characters the service cannot read",
            "caractères illisibles",
        ),
        (
            ApiError("rejected", "no text once cleaned", 422, "empty_text"),
            "hold no words",
            "aucun mot",
        ),
        (
            ApiError("server", "No text model is loaded", 503, "text_model_unavailable"),
            "cannot classify text alone right now",
            "ne peut pas classer un texte seul",
        ),
        (
            ApiError("rejected", "Model x has no text model", 422, "model_without_text"),
            "cannot classify text alone right now",
            "ajoutez une photo",
        ),
    ],
)
def test_error_messages(settings, error, english, french):
    """Each backend code its own sentence in both languages; never the backend's English
    message, its code, or the backend's address."""
    message = views.error_message(error, settings, "/v1/stats")
    for lang, expected in (("en", english), ("fr", french)):
        shown = views.render_message(message, lang)
        assert expected in shown
        assert "Traceback" not in shown and "[" not in shown and settings.api_url not in shown
        if error.message and error.kind != "not_deployed":
            assert error.message not in shown


def test_prediction_view_shows_label_model_latency_and_uncertainty():
    answer = fake_prediction(b"x")
    answer.update(confidence=0.41, uncertain=True, label="Watches")
    state = {"response": answer, "message": None, "true_label": "Computers"}
    status, headline, figure, details, comparison = views.render_prediction(state, "en")
    assert status == ""
    assert headline == "### Watches"
    assert "Watches" not in details  # the category is named once, in the headline
    assert len(figure.data[0].y) == 7
    assert "with a confidence of **41.0%**" in details
    assert "efficientnet_lite0" in details and "4.5 ms" in details
    assert "unsure" in details and "Computers" in details
    assert comparison == ""  # a photo without text: nothing to compare
    _, headline_fr, _, details_fr, _ = views.render_prediction(state, "fr")
    assert headline_fr == "### Montres"
    assert "hésite" in details_fr and "41,0\u202f%" in details_fr and "Informatique" in details_fr


def ranked(probabilities: dict[str, float]) -> list[dict]:
    return [{"label": k, "probability": v} for k, v in probabilities.items()]


PHOTO = ranked({"Computers": 0.55, "Watches": 0.30, "Baby Care": 0.15})
TEXT = ranked({"Watches": 0.97, "Computers": 0.02, "Baby Care": 0.01})
FUSED = ranked({"Watches": 0.91, "Computers": 0.08, "Baby Care": 0.01})


def listing_answer(**change) -> dict:
    """An answer to a photo and a title, fused (change it for text alone or text unused)."""
    answer = fake_prediction(b"x") | {
        "label": "Watches",
        "confidence": 0.91,
        "probabilities": FUSED,
        "inputs_used": ["image", "title"],
        "by_input": {"image": PHOTO, "text": TEXT, "fused": FUSED},
        "listing": {"listing_id": "l", "image_run_id": RUN_IDS[0], "text_run_id": "t"},
        "text_note": None,
        "title": "Analog watch",
    }
    return answer | change


def comparison_rows(comparison: str) -> list[list[str]]:
    """The cells of the comparison's table rows, header and separator left out."""
    lines = [line for line in comparison.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("| ").split(" | ")] for line in lines[1:]]


def test_comparison_gives_photo_text_and_both_and_marks_the_answer():
    *_, comparison = views.render_prediction({"response": listing_answer()}, "en")
    assert comparison_rows(comparison) == [
        ["Photo only", "Computers", "55.0%"],
        ["Text only", "Watches", "97.0%"],
        ["Photo + text — **the answer**", "**Watches**", "**91.0%**"],
    ]
    assert "Read by the model: photo, title." in comparison
    assert "not used" not in comparison
    *_, french = views.render_prediction({"response": listing_answer()}, "fr")
    assert comparison_rows(french) == [
        ["Photo seule", "Informatique", "55,0\u202f%"],
        ["Texte seul", "Montres", "97,0\u202f%"],
        ["Photo + texte — **la réponse**", "**Montres**", "**91,0\u202f%**"],
    ]
    assert "Lu par le modèle : photo, titre." in french


def test_comparison_of_text_alone_says_there_was_no_photo():
    answer = listing_answer(
        inputs_used=["title", "description"],
        by_input={"image": None, "text": TEXT, "fused": None},
        probabilities=TEXT,
    )
    *_, comparison = views.render_prediction({"response": answer}, "en")
    assert comparison_rows(comparison) == [
        ["Photo only", "*no photo*", "—"],
        ["Text only — **the answer**", "**Watches**", "**97.0%**"],
        ["Photo + text", "*no photo*", "—"],
    ]
    assert "Read by the model: title, description." in comparison


def test_text_not_used_is_said_in_the_pages_language_not_the_backends():
    note = "Text not used. No text model is loaded: registry.json names no listing"
    answer = listing_answer(
        inputs_used=["image"],
        by_input={"image": PHOTO, "text": None, "fused": None},
        probabilities=PHOTO,
        listing=None,
        text_note=note,
    )
    for lang, expected, unused in (
        ("en", "The title and description were not used", "*text not used*"),
        ("fr", "Le titre et la description n'ont pas été utilisés", "*texte non utilisé*"),
    ):
        *_, comparison = views.render_prediction({"response": answer}, lang)
        assert expected in comparison and "registry.json" not in comparison
        rows = comparison_rows(comparison)
        assert [row[1] for row in rows[1:]] == [unused, unused]
        assert rows[0][0].endswith("**" + views.t("the_answer", lang) + "**")


def test_a_cached_answer_is_not_pointed_out_to_customers():
    answer = fake_prediction(b"x") | {"cached": True}
    _, _, _, details, _ = views.render_prediction({"response": answer}, "en")
    assert "cache" not in details


def test_confident_prediction_has_no_uncertainty_warning():
    answer = fake_prediction(b"x")
    answer["uncertain"] = False
    _, _, _, details, _ = views.render_prediction({"response": answer}, "en")
    assert "unsure" not in details


def test_classify_without_input_or_backend(settings):
    ui = Frontend(settings)
    outputs = ui.classify(None, None, "", "en")
    assert outputs[3] == views.render_message(("no_image", {}), "en")
    outputs = ui.classify(None, None, "ftp://x", "fr")
    assert "http://" in outputs[3]
    outputs = ui.classify(ui.samples[0].image, None, None, "en")  # port 9: nothing listens
    assert "cannot be reached" in outputs[3]
    assert outputs[0] == str(ui.samples[0].path)  # the sample is still shown
    outputs = ui.classify("nope.jpg", None, None, "en")
    assert "Unknown sample: nope.jpg" in outputs[3]


def test_classify_sends_the_text_with_the_sample_or_alone(assets_dir, backend):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    sample = ui.samples[0]
    title, description = ui.sample_text(sample.image)
    assert (title, description) == (sample.listing_title, sample.description) != ("", "")
    outputs = ui.classify(sample.image, None, None, "en", None, title, description)
    predicted = backend.behaviour.calls[-2]  # the predict call, then the preview call
    assert (predicted["title"], predicted["description"]) == (title, description)
    assert "were not used" in outputs[-1]  # the fake has no text model
    outputs = ui.classify(None, None, "", "fr", None, "Montre analogique", "")
    assert backend.behaviour.calls[-1]["source"] == "text"
    assert outputs[0] is None and outputs[1] is None  # no photo, no preview asked for
    assert "ne peut pas classer un texte seul" in outputs[3]
    assert ui.sample_text("nope.jpg") == ("", "")


def test_a_thumbnail_index_names_its_sample(assets_dir):
    ui = Frontend(load_settings({"API_URL": "http://127.0.0.1:9", "ASSETS_DIR": str(assets_dir)}))
    assert [ui.sample_at(i) for i in range(len(ui.samples))] == [s.image for s in ui.samples]
    assert ui.sample_at(None) is None and ui.sample_at(-1) is None
    assert ui.sample_at(len(ui.samples)) is None


def test_classify_and_feedback_against_the_backend(assets_dir, backend):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    sample = ui.samples[3]
    shown, preview, state, status, label, _, details, _ = ui.classify(
        sample.image, None, None, "en"
    )
    expected = backend.behaviour.calls[-2]["answer"]  # the predict call, then the preview call
    assert status == "" and shown == str(sample.path)
    assert label == f"### {expected['label']}"
    assert preview.size == (16, 16)
    assert f"true category: {sample.label}" in details
    message, text = ui.confirm_feedback(state, "en")
    assert "not available on the backend yet" in text  # /v1/feedback answers 404 for now
    backend.behaviour.feedback = True
    message, text = ui.send_feedback(state, "Watches", "en")
    assert message == ("feedback_thanks", {})
    sent = backend.behaviour.calls[-1]
    assert sent["prediction_id"] == expected["id"]
    assert sent["token"] == expected["feedback_token"]  # the token the prediction came with
    refused = {**state, "response": {**state["response"], "feedback_token": "0" * 64}}
    message, text = ui.send_feedback(refused, "Watches", "en")
    assert message[0] == "err_feedback_refused" and "invalid_feedback_token" not in text
    assert ui.send_feedback(state, None, "en")[0] == ("feedback_pick_label", {})
    assert ui.send_feedback({"response": None}, "Watches", "en")[0][0] == "feedback_no_prediction"


def test_preview_failure_keeps_the_prediction(assets_dir, backend, monkeypatch):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))

    def broken(*args, **kwargs):
        raise ApiError("server", "boom", 500)

    monkeypatch.setattr(ui.client, "preprocess", broken)
    outputs = ui.classify(ui.samples[0].image, None, None, "en")
    assert outputs[1] is None and outputs[3] == ""
    assert "preview of the transformed image is unavailable" in outputs[6]


def test_models_view_says_which_cards_cannot_be_read():
    answer = models_answer()
    answer["models"][1]["card"] = {"schema_version": 1, "name": "efficientnet_b0"}
    status, production, table, *_ = views.render_models({"response": answer}, "en")
    assert status == (
        f"2 models from the backend. The card of `{RUN_IDS[1]}` cannot be read by this app: "
        "its figures are unavailable."
    )
    assert "In production: **efficientnet_lite0**" in production
    assert table["Accuracy"].tolist()[1] == "—"
    answer["models"][0]["card"] = None  # the production model's card: no confusion matrix
    *_, confusion = views.render_models({"response": answer}, "fr")
    assert confusion.layout.annotations[0].text == "Aucune donnée"


def test_models_and_stats_views(assets_dir, backend):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    _, status, production, table, *_ = ui.fetch_models("en")
    assert status == "2 models from the backend."
    assert "In production: **efficientnet_lite0**" in production and "unknown date" in production
    assert len(table) == 2
    _, status, kpis, *_ = ui.fetch_stats("fr")
    assert "pas encore disponible" in status and kpis == ""
    backend.behaviour.stats = True
    _, status, production, *_ = ui.fetch_models("en")
    assert "since 23 Nov 2026, 09:30 UTC" in production  # the promotion date, from /v1/stats
    state, status, kpis, timeline, *_ = ui.fetch_stats("en")
    assert sorted(state["windows"]) == [1, 24, 168]
    assert (
        "| Distinct images classified (a repeated image counts once) | **10** |" in kpis
        and "| New images since promotion | **9** |" in kpis
    )
    assert len(timeline.data) == 2  # Watches and Computers, each over three windows
    assert status.startswith("Statistics updated at") and "**75.0%**" in kpis


def test_dashboard_view(assets_dir, settings, tmp_path):
    ui = Frontend(settings)
    summary, *figures, gallery = ui.dashboard_view(["Watches"], "en")
    assert summary == "The Flipkart dataset: 42 images in 7 categories (shown: 6 images)."
    assert len(figures) == 5 and len(gallery) == 2
    empty = Frontend(load_settings({"ASSETS_DIR": str(tmp_path)}))
    summary, *_ = empty.dashboard_view(None, "en")
    assert "run `make data`" in summary


def test_unreadable_preview_is_reported_not_raised(assets_dir, backend, monkeypatch):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    monkeypatch.setattr(ui.client, "preprocess", lambda *a, **k: b"\x89PNG broken")
    outputs = ui.classify(ui.samples[0].image, None, None, "en")
    assert outputs[1] is None and "transformed image is unavailable" in outputs[6]


def test_dashboard_selection_is_drawn_once(settings):
    ui = Frontend(settings)
    first = ui.dashboard_view(["Watches", "Computers"], "en")
    again = ui.dashboard_view(["Computers", "Watches"], "en")
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert ui.dashboard_view(["Watches", "Computers"], "fr")[0] != first[0]


def test_private_stats_say_how_to_configure_the_key_or_are_read_with_it(assets_dir, backend):
    backend.behaviour.stats = "admin"
    settings = {"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}
    anonymous = Frontend(load_settings(settings))
    state, status, kpis, *_ = anonymous.fetch_stats("en")
    assert state["message"][0] == "err_stats_private"
    assert "private" in status and "API_KEY" in status
    assert "missing_api_key" not in status  # the backend's codes are never shown
    assert "API_KEY" in anonymous.fetch_stats("fr")[1] and kpis == ""
    _, _, production, *_ = anonymous.fetch_models("en")
    assert "unknown date" in production  # the Models tab still works without the statistics
    admin = Frontend(load_settings({**settings, "API_KEY": ADMIN_KEY}))
    state, status, kpis, *_ = admin.fetch_stats("en")
    assert status.startswith("Statistics updated at")
    assert "| Distinct images classified (a repeated image counts once) | **10** |" in kpis
    assert ADMIN_KEY not in repr(admin.settings)  # never printed with the settings


def test_explain_the_classified_photo_in_both_languages(assets_dir, backend):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    sample = ui.samples[3]
    state = ui.classify(sample.image, None, None, "en")[2]
    assert state["source"] == {"path": str(sample.path)}
    overlay, explained, sentence = ui.explain(state, "en")
    call = backend.behaviour.calls[-1]
    assert (call["path"], call["source"]) == ("/v1/explain", "file")
    assert call["query"] == {"label": state["response"]["label"]}  # the shown answer's class
    assert overlay.size == (16, 16) and overlay.getpixel((0, 0)) == (254, 232, 56)
    assert "overlay_png" not in explained["response"]  # the state keeps no image
    label = state["response"]["label"]
    assert sentence.startswith("The brighter (yellow) a square")
    assert f"probability of {label} (by up to 25.0%)" in sentence
    assert "17 copies of the photo in 642 ms" in sentence
    french = views.render_explanation(explained, "fr")
    assert "Plus un carré est clair" in french and "jusqu'à 25,0\u202f%" in french
    flat = {"response": {**explained["response"], "max_drop": 0.001}}
    assert "barely changes" in views.render_explanation(flat, "en")


def test_nothing_to_explain_for_text_alone_or_before_an_answer(assets_dir, backend):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    text_only = {"response": fake_prediction(b"x"), "message": None}  # no photo: no `source`
    assert ui.explain(text_only, "en") == (None, {"response": None, "message": None}, "")
    assert ui.explain(None, "en")[2] == ""
    assert views.render_explanation(None, "en") == ""
    assert not any(call["path"] == "/v1/explain" for call in backend.behaviour.calls)


@pytest.mark.parametrize(
    ("behaviour", "english", "french"),
    [
        ("server_busy", "The service is busy", "Le service traite d'autres images"),
        ("rate_limited", "Too many requests", "Trop de demandes"),
        ("unknown_label", "cannot explain this category", "ne peut pas expliquer"),
    ],
)
def test_explain_errors_are_sentences(assets_dir, backend, behaviour, english, french):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    state = ui.classify(ui.samples[0].image, None, None, "en")[2]
    if behaviour == "unknown_label":
        state["response"]["label"] = "Garden"  # a class this model does not have
    else:
        backend.behaviour.explain = behaviour
    overlay, explained, sentence = ui.explain(state, "en")
    assert overlay is None and explained["response"] is None
    assert english in sentence and behaviour not in sentence
    assert french in views.render_explanation(explained, "fr")


def test_explain_a_deleted_upload_says_why(assets_dir, backend, tmp_path):
    ui = Frontend(load_settings({"API_URL": backend.url, "ASSETS_DIR": str(assets_dir)}))
    state = {"response": fake_prediction(b"x"), "source": {"path": str(tmp_path / "gone.png")}}
    overlay, _, sentence = ui.explain(state, "en")
    assert overlay is None and "cannot be read" in sentence
