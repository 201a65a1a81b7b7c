"""Every piece of UI text, in English (default) and French. `t(key, lang)` looks one up."""

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    # header and tabs
    "title": {
        "en": "# Flipkart product classifier",
        "fr": "# Classifieur de produits Flipkart",
    },
    "subtitle": {
        "en": "Classify catalogue photos, explore the dataset, compare the models "
        "and watch the service in production. Backend: `{api_url}`",
        "fr": "Classez des photos du catalogue, explorez le jeu de données, comparez les "
        "modèles et surveillez le service en production. Backend : `{api_url}`",
    },
    "language": {"en": "Language", "fr": "Langue"},
    "tab_classify": {"en": "Classification", "fr": "Classification"},
    "tab_dashboard": {"en": "Dashboard", "fr": "Tableau de bord"},
    "tab_models": {"en": "Models", "fr": "Modèles"},
    "tab_monitoring": {"en": "Monitoring", "fr": "Supervision"},
    # classification tab
    "sample": {"en": "Pick a sample product", "fr": "Choisissez un produit exemple"},
    "upload": {"en": "…or upload your own image", "fr": "…ou envoyez votre propre image"},
    "url": {"en": "…or paste an image URL (Enter)", "fr": "…ou collez l'URL d'une image (Entrée)"},
    "classify": {"en": "Classify", "fr": "Classer"},
    "image": {"en": "Image", "fr": "Image"},
    "transformed": {
        "en": "What the model sees (after resizing)",
        "fr": "Ce que voit le modèle (après redimensionnement)",
    },
    "prediction": {"en": "Predicted category", "fr": "Catégorie prédite"},
    "probabilities_plot": {
        "en": "Probability of every category",
        "fr": "Probabilité de chaque catégorie",
    },
    "details": {"en": "Details", "fr": "Détails"},
    "result_line": {
        "en": "**{label}** with a confidence of **{confidence}** — model `{architecture}`, "
        "{latency} ms on the server.",
        "fr": "**{label}** avec une confiance de **{confidence}** — modèle `{architecture}`, "
        "{latency} ms côté serveur.",
    },
    "uncertain": {
        "en": "⚠ The model is unsure about this image: check the category yourself.",
        "fr": "⚠ Le modèle hésite sur cette image : vérifiez la catégorie vous-même.",
    },
    "cached": {"en": "(answered from the cache)", "fr": "(réponse issue du cache)"},
    "true_category": {
        "en": "Sample's true category: {label}",
        "fr": "Vraie catégorie de l'exemple : {label}",
    },
    "no_image": {
        "en": "Choose a sample, upload an image or paste a URL first.",
        "fr": "Choisissez d'abord un exemple, une image ou une URL.",
    },
    "preview_missing": {
        "en": "The preview of the transformed image is unavailable: {reason}",
        "fr": "L'aperçu de l'image transformée est indisponible : {reason}",
    },
    "sending": {"en": "Sending the image to the model…", "fr": "Envoi de l'image au modèle…"},
    "previewing": {"en": "Fetching what the model sees…", "fr": "Récupération de l'aperçu…"},
    "feedback_title": {"en": "Was the prediction right?", "fr": "La prédiction est-elle juste ?"},
    "feedback_correct": {"en": "✔ Correct", "fr": "✔ Correct"},
    "feedback_label": {"en": "The right category", "fr": "La bonne catégorie"},
    "feedback_send": {"en": "Send the correction", "fr": "Envoyer la correction"},
    "feedback_thanks": {
        "en": "Thank you, your feedback was recorded.",
        "fr": "Merci, votre avis est enregistré.",
    },
    "feedback_no_prediction": {
        "en": "Classify an image before giving feedback.",
        "fr": "Classez une image avant de donner votre avis.",
    },
    "feedback_no_id": {
        "en": "This backend does not store predictions yet, so feedback cannot be recorded.",
        "fr": "Ce backend n'enregistre pas encore les prédictions : "
        "impossible de noter votre avis.",
    },
    "feedback_pick_label": {
        "en": "Pick the right category first.",
        "fr": "Choisissez d'abord la bonne catégorie.",
    },
    # dashboard
    "dashboard_intro": {
        "en": "The Flipkart dataset: {images} images in {categories} categories "
        "(shown: {shown} images).",
        "fr": "Le jeu de données Flipkart : {images} images dans {categories} catégories "
        "({shown} images affichées).",
    },
    "dashboard_missing": {
        "en": "The dataset summary is not there yet (`{path}`): run `make data`.",
        "fr": "Le résumé du jeu de données est absent (`{path}`) : lancez `make data`.",
    },
    "category_filter": {"en": "Categories", "fr": "Catégories"},
    "gallery": {"en": "Sample images", "fr": "Images exemples"},
    "chart_counts": {"en": "Images per category", "fr": "Images par catégorie"},
    "chart_resolution": {"en": "Original resolution", "fr": "Résolution d'origine"},
    "chart_aspect": {"en": "Aspect ratio (width / height)", "fr": "Rapport largeur / hauteur"},
    "chart_size": {"en": "File size", "fr": "Taille du fichier"},
    "chart_price": {"en": "Price by category", "fr": "Prix par catégorie"},
    "axis_category": {"en": "Category", "fr": "Catégorie"},
    "axis_images": {"en": "Images", "fr": "Images"},
    "axis_width": {"en": "Width (px)", "fr": "Largeur (px)"},
    "axis_height": {"en": "Height (px)", "fr": "Hauteur (px)"},
    "axis_ratio": {"en": "Width / height", "fr": "Largeur / hauteur"},
    "axis_kb": {"en": "Size (KB)", "fr": "Taille (Ko)"},
    "axis_price": {"en": "Price (INR)", "fr": "Prix (INR)"},
    "axis_probability": {"en": "Probability", "fr": "Probabilité"},
    "no_data": {"en": "No data", "fr": "Aucune donnée"},
    # models
    "refresh": {"en": "Refresh", "fr": "Actualiser"},
    "leaderboard": {"en": "Leaderboard", "fr": "Classement"},
    "production_line": {
        "en": "In production: **{architecture}** (`{run_id}`, {framework}) since {since}.",
        "fr": "En production : **{architecture}** (`{run_id}`, {framework}) depuis {since}.",
    },
    "production_unknown": {
        "en": "No model is marked as in production.",
        "fr": "Aucun modèle n'est en production.",
    },
    "since_unknown": {"en": "an unknown date", "fr": "une date inconnue"},
    "chart_acc_latency": {"en": "Accuracy vs latency", "fr": "Exactitude et latence"},
    "chart_f1": {"en": "F1 per category", "fr": "F1 par catégorie"},
    "chart_confusion": {
        "en": "Confusion matrix of {architecture} (test split)",
        "fr": "Matrice de confusion de {architecture} (jeu de test)",
    },
    "axis_accuracy": {"en": "Test accuracy", "fr": "Exactitude (test)"},
    "axis_latency": {"en": "Latency, batch 1 (ms)", "fr": "Latence, lot de 1 (ms)"},
    "axis_f1": {"en": "F1", "fr": "F1"},
    "axis_true": {"en": "True category", "fr": "Vraie catégorie"},
    "axis_predicted": {"en": "Predicted category", "fr": "Catégorie prédite"},
    "col_architecture": {"en": "Architecture", "fr": "Architecture"},
    "col_framework": {"en": "Framework", "fr": "Framework"},
    "col_training_mode": {"en": "Training", "fr": "Entraînement"},
    "col_accuracy": {"en": "Accuracy", "fr": "Exactitude"},
    "col_macro_f1": {"en": "Macro-F1", "fr": "Macro-F1"},
    "col_latency": {"en": "Latency (ms)", "fr": "Latence (ms)"},
    "col_parameters": {"en": "Parameters (M)", "fr": "Paramètres (M)"},
    "col_production": {"en": "Production", "fr": "Production"},
    "col_run_id": {"en": "Run", "fr": "Exécution"},
    "yes": {"en": "yes", "fr": "oui"},
    "cards_unavailable": {
        "en": "The card of {run_ids} cannot be read by this app: its figures are unavailable.",
        "fr": "La fiche de {run_ids} est illisible pour cette application : "
        "ses chiffres sont indisponibles.",
    },
    "models_loaded": {
        "en": "{count} models from the backend.",
        "fr": "{count} modèles fournis par le backend.",
    },
    # monitoring
    "monitoring_intro": {
        "en": "Production statistics, refreshed every {seconds} s and on demand.",
        "fr": "Statistiques de production, actualisées toutes les {seconds} s et à la demande.",
    },
    "chart_timeline": {
        "en": "Predictions per category over time",
        "fr": "Prédictions par catégorie dans le temps",
    },
    "chart_latency": {"en": "Latency percentiles", "fr": "Percentiles de latence"},
    "chart_quality": {"en": "Quality indicators", "fr": "Indicateurs de qualité"},
    "axis_window": {"en": "Period ending now", "fr": "Période jusqu'à maintenant"},
    "window_hours": {"en": "last {hours} h", "fr": "dernières {hours} h"},
    "window_days": {"en": "last {days} days", "fr": "derniers {days} jours"},
    "axis_predictions": {"en": "Predictions", "fr": "Prédictions"},
    "axis_ms": {"en": "Milliseconds", "fr": "Millisecondes"},
    "kpi_total": {"en": "Predictions", "fr": "Prédictions"},
    "kpi_confidence": {"en": "Mean confidence", "fr": "Confiance moyenne"},
    "kpi_uncertain": {"en": "Uncertain share", "fr": "Part incertaine"},
    "kpi_feedback": {"en": "Accuracy on feedback", "fr": "Exactitude sur les avis"},
    "kpi_new_images": {
        "en": "New images since promotion",
        "fr": "Nouvelles images depuis la promotion",
    },
    "stats_loaded": {
        "en": "Statistics updated at {time} UTC.",
        "fr": "Statistiques mises à jour à {time} UTC.",
    },
    # errors (never a stack trace)
    "err_unreachable": {
        "en": "The prediction service at {api_url} cannot be reached. It may be stopped or "
        "starting: try again in a moment. The rest of the app still works.",
        "fr": "Le service de prédiction ({api_url}) est injoignable. Il est peut-être arrêté ou "
        "en cours de démarrage : réessayez dans un instant. Le reste de l'application fonctionne.",
    },
    "err_timeout": {
        "en": "The prediction service took too long to answer (over {timeout} s). Try again later.",
        "fr": "Le service de prédiction a mis trop de temps à répondre (plus de {timeout} s). "
        "Réessayez plus tard.",
    },
    "err_not_deployed": {
        "en": "This feature is not available on the backend yet ({feature}).",
        "fr": "Cette fonction n'est pas encore disponible sur le backend ({feature}).",
    },
    "err_rejected": {
        "en": "The service refused the request: {message}",
        "fr": "Le service a refusé la demande : {message}",
    },
    "err_stats_private": {
        "en": "The statistics are private on this backend and need its admin key: set API_KEY "
        "for this app (or FLIPKART_STATS_PRIVATE=false on the backend). {message}",
        "fr": "Les statistiques de ce backend sont privées et demandent sa clé d'administration : "
        "définissez API_KEY pour cette application (ou FLIPKART_STATS_PRIVATE=false sur le "
        "backend). {message}",
    },
    "err_server": {
        "en": "The prediction service had a problem ({message}). Try again later.",
        "fr": "Le service de prédiction a rencontré un problème ({message}). Réessayez plus tard.",
    },
    "err_not_ready": {
        "en": "The prediction service is running but not ready yet: {message}",
        "fr": "Le service de prédiction tourne mais n'est pas encore prêt : {message}",
    },
    "err_bad_response": {
        "en": "The prediction service sent an answer this app does not understand ({message}).",
        "fr": "Le service de prédiction a envoyé une réponse incompréhensible ({message}).",
    },
    "err_bad_url": {
        "en": "The URL must start with http:// or https://.",
        "fr": "L'URL doit commencer par http:// ou https://.",
    },
    "err_file": {
        "en": "The image file cannot be read: {reason}",
        "fr": "Le fichier image est illisible : {reason}",
    },
    "err_unknown_sample": {"en": "Unknown sample: {name}", "fr": "Exemple inconnu : {name}"},
}


def t(key: str, lang: str, **values: Any) -> str:
    entry = TEXTS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text
