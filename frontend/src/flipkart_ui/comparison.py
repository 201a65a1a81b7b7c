"""The Classification tab's model switch and two-model comparison: the models to choose from
(`GET /v1/models`), the second model's answer to the same input, and both answers side by
side. Fetched into the tab's states, rendered from them (a language switch calls nothing)."""

from typing import Any

import gradio as gr

from flipkart_ui import charts, views
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput
from flipkart_ui.config import Settings
from flipkart_ui.handlers import input_problem
from flipkart_ui.i18n import category, percent, t

TOP = 3  # classes shown per model
NO_COMPARISON = ""  # the "compare with" value of no comparison


def model_names(
    models_state: dict[str, Any] | None, lang: str, marked: bool = True
) -> dict[str, str]:
    """run_id -> the name shown: the run's short name, "Production:" before the production's
    (first, so that a dropdown too narrow for the whole name still tells it apart)."""
    models = (models_state or {}).get("response") or {}
    entries = charts.model_entries(models)
    names = charts.run_labels(entries, lang)
    for entry in entries:
        if entry.is_production and marked:
            names[entry.run_id] = t("model_production", lang, name=names[entry.run_id])
    return names


def production(models_state: dict[str, Any] | None) -> str | None:
    models = (models_state or {}).get("response") or {}
    return models.get("production")


def pickers(
    models_state: dict[str, Any] | None, model: str | None, other: str | None, lang: str
) -> tuple[Any, Any, str]:
    """Updates of the model dropdown, the "compare with" dropdown, and the note shown instead
    of a dropdown with nothing to choose (one model served, or the list unavailable)."""
    names = model_names(models_state, lang)
    if model not in names:
        model = production(models_state) if production(models_state) in names else None
    if other not in names or other == model:
        other = NO_COMPARISON
    choices = [(name, run_id) for run_id, name in names.items()]
    others = [(t("compare_none", lang), NO_COMPARISON), *(c for c in choices if c[1] != model)]
    first = gr.update(choices=choices, value=model, visible=bool(names), label=t("model", lang))
    second = gr.update(
        choices=others, value=other, visible=len(names) > 1, label=t("compare_with", lang)
    )
    return first, second, note(models_state, lang)


def note(models_state: dict[str, Any] | None, lang: str) -> str:
    """Said instead of the "compare with" dropdown when there is nothing to compare with."""
    names = model_names(models_state, lang, marked=False)
    if len(names) > 1:
        return ""
    if names:
        return t("one_model_note", lang, name=next(iter(names.values())))
    return t("models_unavailable_note", lang)


def compare(
    client: ApiClient,
    settings: Settings,
    prediction: dict[str, Any] | None,
    other: str | None,
) -> dict[str, Any] | None:
    """The answer of model `other` to the input of the shown prediction (None: nothing to
    compare): {"first": the shown answer, "second": other's answer or None, "message"}."""
    prediction = prediction or {}
    first = prediction.get("response")
    if not first or not other:
        return None
    state: dict[str, Any] = {"first": first, "second": None, "message": None, "other": other}
    try:
        image = ImageInput.from_source(prediction.get("source"))
        state["second"] = client.predict(image, model=other, **(prediction.get("text") or {}))
    except ApiError as exc:
        state["message"] = views.error_message(exc, settings, "/v1/predict")
    except (OSError, ValueError) as exc:  # the upload's file is gone
        state["message"] = input_problem(exc, None)
    return state


def render(state: dict[str, Any] | None, models_state: dict[str, Any] | None, lang: str) -> str:
    """Both models' top classes side by side, and whether they agree; "" without a comparison."""
    if not state:
        return ""
    error = views.render_message(state.get("message"), lang)
    first, second = state["first"], state.get("second")
    if second is None:
        return error
    names = model_names(models_state, lang)
    heads = [answer_name(answer, names) for answer in (first, second)]
    rows = [
        f"| {rank + 1} | {cell(first, rank, lang)} | {cell(second, rank, lang)} |"
        for rank in range(TOP)
    ]
    table = f"| # | {heads[0]} | {heads[1]} |\n|---|---|---|\n" + "\n".join(rows)
    return "\n\n".join([f"**{t('compare_title', lang)}**", table, verdict(first, second, lang)])


def answer_name(answer: dict[str, Any], names: dict[str, str]) -> str:
    model = answer.get("model") or {}
    run_id = str(model.get("run_id") or "")
    return names.get(run_id) or str(model.get("architecture") or run_id or "?")


def ranked(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(answer.get("probabilities") or [], key=lambda p: -float(p["probability"]))


def cell(answer: dict[str, Any], rank: int, lang: str) -> str:
    top = ranked(answer)
    if rank >= len(top):
        return "—"
    best = top[rank]
    text = f"{category(str(best['label']), lang)} {percent(float(best['probability']), lang)}"
    return f"**{text}**" if rank == 0 else text


def verdict(first: dict[str, Any], second: dict[str, Any], lang: str) -> str:
    labels = [category(str(answer["label"]), lang) for answer in (first, second)]
    if labels[0] == labels[1]:
        return t("compare_agree", lang, label=labels[0])
    return t("compare_disagree", lang, first=labels[0], second=labels[1])
