"""Every piece of UI text, in English (default) and French. `t(key, lang)` looks one up;
`percent`, `decimal`, `date_time` and `category` format numbers, dates and class names the
way each language writes them ("83.8%" / "83,8 %")."""

from datetime import datetime
from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    # header and tabs
    "title": {
        "en": "# Flipkart product classifier",
        "fr": "# Classifieur de produits Flipkart",
    },
    "subtitle": {
        "en": "Classify catalogue photos, explore the dataset, compare the models "
        "and watch the service in production.",
        "fr": "Classez des photos du catalogue, explorez le jeu de données, comparez les "
        "modèles et surveillez le service en production.",
    },
    "language": {"en": "Language", "fr": "Langue"},
    "tab_classify": {"en": "Classification", "fr": "Classification"},
    "tab_dashboard": {"en": "Dashboard", "fr": "Tableau de bord"},
    "tab_models": {"en": "Models", "fr": "Modèles"},
    "tab_monitoring": {"en": "Monitoring", "fr": "Supervision"},
    # classification tab
    "sample": {"en": "Pick a sample product", "fr": "Choisissez un produit exemple"},
    "sample_gallery": {
        "en": "…or click a sample's photo",
        "fr": "…ou cliquez sur la photo d'un exemple",
    },
    "upload": {
        "en": "…or upload your own photo (JPEG, PNG, WebP)",
        "fr": "…ou envoyez votre propre photo (JPEG, PNG, WebP)",
    },
    "url": {"en": "…or paste an image URL (Enter)", "fr": "…ou collez l'URL d'une image (Entrée)"},
    "classify": {"en": "Classify", "fr": "Classer"},
    "clear": {"en": "Clear", "fr": "Effacer"},
    "title_field": {"en": "Product title (optional)", "fr": "Titre du produit (facultatif)"},
    "title_info": {
        "en": "With the photo, or alone: the title and description are read by a text model.",
        "fr": "Avec la photo, ou seuls : le titre et la description sont lus par un modèle de "
        "texte.",
    },
    "description_field": {
        "en": "Product description (optional)",
        "fr": "Description du produit (facultative)",
    },
    "comparison_title": {"en": "Photo, text or both", "fr": "Photo, texte ou les deux"},
    "col_input": {"en": "Read", "fr": "Lu"},
    "col_category": {"en": "Category", "fr": "Catégorie"},
    "col_confidence": {"en": "Confidence", "fr": "Confiance"},
    "input_photo": {"en": "Photo only", "fr": "Photo seule"},
    "input_text": {"en": "Text only", "fr": "Texte seul"},
    "input_both": {"en": "Photo + text", "fr": "Photo + texte"},
    "the_answer": {"en": "the answer", "fr": "la réponse"},
    "missing_photo": {"en": "no photo", "fr": "pas de photo"},
    "missing_text_unused": {"en": "text not used", "fr": "texte non utilisé"},
    "input_image": {"en": "photo", "fr": "photo"},
    "input_title": {"en": "title", "fr": "titre"},
    "input_description": {"en": "description", "fr": "description"},
    "inputs_used": {"en": "Read by the model: {inputs}.", "fr": "Lu par le modèle : {inputs}."},
    "text_not_used": {
        "en": "⚠ The title and description were not used: the service cannot read text for "
        "this model right now, so the answer comes from the photo alone.",
        "fr": "⚠ Le titre et la description n'ont pas été utilisés : le service ne sait pas lire "
        "de texte pour ce modèle pour le moment, la réponse vient donc de la photo seule.",
    },
    "image": {"en": "Image", "fr": "Image"},
    "transformed": {
        "en": "What the model sees (after resizing)",
        "fr": "Ce que voit le modèle (après redimensionnement)",
    },
    "explain": {"en": "Explain", "fr": "Expliquer"},
    "explain_hint": {
        "en": "Which parts of the photo does the answer rest on? About a second: the model "
        "looks again at many copies of the photo, each with one square hidden.",
        "fr": "Sur quelles parties de la photo la réponse repose-t-elle ? Environ une seconde : "
        "le modèle revoit de nombreuses copies de la photo, chacune avec un carré masqué.",
    },
    "explanation": {
        "en": "What the answer rests on",
        "fr": "Ce sur quoi repose la réponse",
    },
    "explain_caption": {
        "en": "The brighter (yellow) a square, the more hiding it lowers the probability of "
        "{label} (by up to {drop}); dark blue squares do not matter; computed from {images} "
        "copies of the photo in {latency} ms.",
        "fr": "Plus un carré est clair (jaune), plus le masquer fait baisser la probabilité de "
        "{label} (jusqu'à {drop}) ; les carrés bleu foncé ne comptent pas ; calculé sur "
        "{images} copies de la photo en {latency} ms.",
    },
    "explain_flat": {
        "en": "Hiding any one square barely changes the probability of {label}: the answer "
        "rests on the photo as a whole; computed from {images} copies of the photo in "
        "{latency} ms.",
        "fr": "Masquer un seul carré ne change presque pas la probabilité de {label} : la "
        "réponse repose sur l'ensemble de la photo ; calculé sur {images} copies de la photo "
        "en {latency} ms.",
    },
    "explaining": {"en": "Computing the explanation…", "fr": "Calcul de l'explication…"},
    "err_explain_label": {
        "en": "The service cannot explain this category with its current model.",
        "fr": "Le service ne peut pas expliquer cette catégorie avec son modèle actuel.",
    },
    "prediction": {"en": "Predicted category", "fr": "Catégorie prédite"},
    "probabilities_plot": {
        "en": "Probability of every category",
        "fr": "Probabilité de chaque catégorie",
    },
    "details": {"en": "Details", "fr": "Détails"},
    "headline": {"en": "### {label}", "fr": "### {label}"},
    "result_line": {
        "en": "Predicted with a confidence of **{confidence}** by the model {architecture} "
        "in {latency} ms.",
        "fr": "Prédit avec une confiance de **{confidence}** par le modèle {architecture} "
        "en {latency} ms.",
    },
    "uncertain": {
        "en": "⚠ The model is unsure about this image: check the category yourself.",
        "fr": "⚠ Le modèle hésite sur cette image : vérifiez la catégorie vous-même.",
    },
    "true_category": {
        "en": "Sample's true category: {label}",
        "fr": "Vraie catégorie de l'exemple : {label}",
    },
    "no_image": {
        "en": "Choose a sample, upload an image, paste a URL or type a title first.",
        "fr": "Choisissez d'abord un exemple, une image, une URL ou saisissez un titre.",
    },
    "preview_missing": {
        "en": "The preview of the transformed image is unavailable: {reason}",
        "fr": "L'aperçu de l'image transformée est indisponible : {reason}",
    },
    "sending": {"en": "Sending to the model…", "fr": "Envoi au modèle…"},
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
    # the model switch and the two-model comparison (flipkart_ui.comparison)
    "model": {"en": "Model", "fr": "Modèle"},
    "compare_with": {"en": "Compare with (optional)", "fr": "Comparer avec (facultatif)"},
    "compare_none": {"en": "— no comparison —", "fr": "— aucune comparaison —"},
    "model_production": {"en": "Production: {name}", "fr": "En production : {name}"},
    "one_model_note": {
        "en": "The service has one model ({name}): there is no other model to compare with.",
        "fr": "Le service n'a qu'un modèle ({name}) : aucun autre modèle avec lequel comparer.",
    },
    "models_unavailable_note": {
        "en": "The list of models is unavailable: the production model answers.",
        "fr": "La liste des modèles est indisponible : le modèle en production répond.",
    },
    "compare_title": {
        "en": "Two models, the same input: their top categories",
        "fr": "Deux modèles, la même entrée : leurs catégories les plus probables",
    },
    "compare_agree": {
        "en": "Both models answer {label}.",
        "fr": "Les deux modèles répondent {label}.",
    },
    "compare_disagree": {
        "en": "The models disagree: {first} for the first, {second} for the second.",
        "fr": "Les modèles divergent : {first} pour le premier, {second} pour le second.",
    },
    # batch classification (flipkart_ui.batch)
    "tab_batch": {"en": "Batch", "fr": "Par lot"},
    "batch_intro": {
        "en": "Classify several photos at once: choose image files or .zip archives of "
        "photos. At most {photos} files per batch, {photo_mb} MB and {megapixels} megapixels per "
        "photo, {total_mb} MB in all; an archive holds at most {entries} entries. Files that are "
        "not photos, links, encrypted entries and zips inside a zip are listed, not opened.",
        "fr": "Classez plusieurs photos d'un coup : choisissez des fichiers image ou des archives "
        ".zip de photos. Au plus {photos} fichiers par lot, {photo_mb} Mo et {megapixels} "
        "mégapixels par photo, {total_mb} Mo en tout ; une archive contient au plus {entries} "
        "entrées. Les fichiers qui ne sont pas des photos, les liens, les entrées chiffrées et les "
        "zips dans un zip sont listés, pas ouverts.",
    },
    "batch_files": {"en": "Photos or .zip archives", "fr": "Photos ou archives .zip"},
    "batch_run": {"en": "Classify all", "fr": "Tout classer"},
    "batch_download": {
        "en": "Download classifications.csv",
        "fr": "Télécharger classifications.csv",
    },
    "batch_sending": {
        "en": "Sending request {done} of {total}…",
        "fr": "Envoi de la demande {done} sur {total}…",
    },
    "batch_summary": {
        "en": "Files classified: {classified} of {files} ({failed} not). Requests sent: "
        "{requests}, at most {per_request} photos each (the service's limit).",
        "fr": "Fichiers classés : {classified} sur {files} ({failed} sans réponse). Demandes "
        "envoyées : {requests}, d'au plus {per_request} photos chacune (la limite du service).",
    },
    "col_file": {"en": "File", "fr": "Fichier"},
    "col_uncertain": {"en": "Uncertain", "fr": "Incertain"},
    "col_error": {"en": "Not classified because", "fr": "Non classé car"},
    "file_not_image": {
        "en": "not an image the service can read (JPEG, PNG, WebP)",
        "fr": "pas une image lisible par le service (JPEG, PNG, WebP)",
    },
    "file_too_large": {"en": "over {limit} MB", "fr": "plus de {limit} Mo"},
    "file_too_many_pixels": {
        "en": "over {limit} megapixels",
        "fr": "plus de {limit} mégapixels",
    },
    "file_unreadable": {"en": "the file cannot be read", "fr": "le fichier est illisible"},
    "file_unsafe_name": {
        "en": "unsafe name in the archive (absolute path or ..): not opened",
        "fr": "nom dangereux dans l'archive (chemin absolu ou ..) : non ouvert",
    },
    "file_symlink": {
        "en": "a link, not a file: not opened",
        "fr": "un lien, pas un fichier : non ouvert",
    },
    "file_encrypted": {
        "en": "encrypted (password-protected): not opened",
        "fr": "chiffré (protégé par mot de passe) : non ouvert",
    },
    "file_nested_zip": {
        "en": "a zip inside the zip: not opened (send it on its own)",
        "fr": "un zip dans le zip : non ouvert (envoyez-le à part)",
    },
    "err_batch_empty": {
        "en": "Choose photos or a .zip archive first.",
        "fr": "Choisissez d'abord des photos ou une archive .zip.",
    },
    "err_batch_too_many": {
        "en": "Too many files: at most {limit} per batch. Split them into several batches.",
        "fr": "Trop de fichiers : au plus {limit} par lot. Répartissez-les en plusieurs lots.",
    },
    "err_batch_total": {
        "en": "The photos weigh over {limit} MB in all: split them into several batches.",
        "fr": "Les photos pèsent plus de {limit} Mo en tout : répartissez-les en plusieurs lots.",
    },
    "err_batch_bad_zip": {
        "en": "{name} is not a readable .zip archive.",
        "fr": "{name} n'est pas une archive .zip lisible.",
    },
    "err_batch_zip_entries": {
        "en": "{name} holds over {limit} entries: refused.",
        "fr": "{name} contient plus de {limit} entrées : refusée.",
    },
    "err_batch_zip_bomb": {
        "en": "{name} expands a file over {ratio} times its compressed size: refused, as it "
        "may be a zip bomb.",
        "fr": "{name} décompresse un fichier à plus de {ratio} fois sa taille compressée : "
        "refusée, ce pourrait être une bombe zip.",
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
    "axis_latency": {
        "en": "Latency, batch 1, measured at export (ms)",
        "fr": "Latence, lot de 1, mesurée à l'export (ms)",
    },
    "axis_f1": {"en": "F1", "fr": "F1"},
    "axis_true": {"en": "True category", "fr": "Vraie catégorie"},
    "axis_predicted": {"en": "Predicted category", "fr": "Catégorie prédite"},
    "col_architecture": {"en": "Architecture", "fr": "Architecture"},
    "col_framework": {"en": "Framework", "fr": "Framework"},
    "col_training_mode": {"en": "Training", "fr": "Entraînement"},
    "col_accuracy": {"en": "Accuracy", "fr": "Exactitude"},
    "col_macro_f1": {"en": "Macro-F1", "fr": "Macro-F1"},
    "col_latency": {"en": "Latency at export (ms)", "fr": "Latence à l'export (ms)"},
    "col_measured": {"en": "Latency measured on", "fr": "Latence mesurée sur"},
    "measured_on": {"en": "{hardware}, {date}", "fr": "{hardware}, {date}"},
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
        "en": "Images classified per category",
        "fr": "Images classées par catégorie",
    },
    "chart_latency": {"en": "Latency percentiles", "fr": "Percentiles de latence"},
    "chart_quality": {"en": "Quality indicators", "fr": "Indicateurs de qualité"},
    # Models tab: learning curves and confusion-matrix cells (flipkart_ui.insights)
    "curves_title": {"en": "### Learning curves", "fr": "### Courbes d'apprentissage"},
    "curve_metric": {"en": "Curve", "fr": "Courbe"},
    "curve_val_accuracy": {"en": "Validation accuracy", "fr": "Exactitude en validation"},
    "curve_val_macro_f1": {"en": "Validation macro-F1", "fr": "Macro-F1 en validation"},
    "curve_val_loss": {"en": "Validation loss", "fr": "Perte en validation"},
    "curve_train_loss": {"en": "Training loss", "fr": "Perte d'entraînement"},
    "curve_train_accuracy": {"en": "Training accuracy", "fr": "Exactitude d'entraînement"},
    "chart_curves": {"en": "{metric}, every run", "fr": "{metric}, toutes les exécutions"},
    "axis_epoch": {"en": "Epoch", "fr": "Époque"},
    "mode_finetune": {"en": "fine-tuned", "fr": "affiné"},
    "mode_freeze": {"en": "frozen backbone", "fr": "tronc gelé"},
    "curves_loaded": {
        "en": "{count} training runs of both labs.",
        "fr": "{count} exécutions d'entraînement des deux laboratoires.",
    },
    "curves_none": {
        "en": "This server has no training runs to show.",
        "fr": "Ce serveur n'a aucune exécution d'entraînement à montrer.",
    },
    "cells_title": {
        "en": "### Test images per cell of the production model's confusion matrix",
        "fr": "### Images de test par case de la matrice de confusion du modèle en production",
    },
    "cells_corner": {"en": "True ↓ / predicted →", "fr": "Réelle ↓ / prédite →"},
    "cells_hint": {
        "en": "Click a cell to see its test images ({count} test images in all).",
        "fr": "Cliquez sur une case pour voir ses images de test ({count} images en tout).",
    },
    "cells_differ": {
        "en": "As served, these counts differ slightly from the card's.",
        "fr": "Tels que servis, ces effectifs diffèrent légèrement de ceux de la fiche.",
    },
    "cells_unavailable": {
        "en": "The test images of this model are not available on this server.",
        "fr": "Les images de test de ce modèle ne sont pas disponibles sur ce serveur.",
    },
    "cell_caption_right": {
        "en": "**{count}** × {true}, recognised correctly (confidence under each image).",
        "fr": "**{count}** × {true}, correctement reconnues (confiance sous chaque image).",
    },
    "cell_caption_wrong": {
        "en": "**{count}** × {true} taken for {predicted} (confidence under each image).",
        "fr": "**{count}** × {true} prises pour {predicted} (confiance sous chaque image).",
    },
    "cell_caption_first": {"en": "The first {count} shown.", "fr": "Les {count} premières."},
    "cell_gallery": {"en": "Test images", "fr": "Images de test"},
    # Monitoring tab: status and time series (flipkart_ui.insights)
    "health_ready": {"en": "Service ready", "fr": "Service prêt"},
    "health_degraded": {
        "en": "Service degraded: predictions are answered but not stored",
        "fr": "Service dégradé : les prédictions sont servies mais pas enregistrées",
    },
    "health_not_ready": {
        "en": "Service not ready: no model loaded",
        "fr": "Service pas prêt : aucun modèle chargé",
    },
    "health_unreachable": {"en": "Service unreachable", "fr": "Service injoignable"},
    "health_error": {"en": "Service in error", "fr": "Service en erreur"},
    "health_model": {"en": "model `{model}`", "fr": "modèle `{model}`"},
    "chart_requests": {
        "en": "Requests per hour (last 48 h)",
        "fr": "Requêtes par heure (48 dernières heures)",
    },
    "series_new": {"en": "New predictions", "fr": "Nouvelles prédictions"},
    "series_cached": {
        "en": "Answered from the store (repeated image)",
        "fr": "Servies depuis la base (image déjà vue)",
    },
    "axis_requests": {"en": "Requests", "fr": "Requêtes"},
    "chart_latency_series": {
        "en": "Latency percentiles per hour",
        "fr": "Percentiles de latence par heure",
    },
    "chart_label_mix": {
        "en": "Predicted categories (last {hours} h) vs the training set",
        "fr": "Catégories prédites ({hours} dernières heures) et jeu d'entraînement",
    },
    "mix_served": {"en": "Predicted", "fr": "Prédites"},
    "mix_training": {"en": "Training set", "fr": "Jeu d'entraînement"},
    "axis_window": {"en": "Period ending now", "fr": "Période jusqu'à maintenant"},
    "window_hours": {"en": "last {hours} h", "fr": "dernières {hours} h"},
    "window_days": {"en": "last {days} days", "fr": "derniers {days} jours"},
    "axis_predictions": {"en": "Distinct images", "fr": "Images distinctes"},
    "axis_ms": {"en": "Milliseconds", "fr": "Millisecondes"},
    "kpi_total": {
        "en": "Distinct images classified (a repeated image counts once)",
        "fr": "Images distinctes classées (une image répétée compte une fois)",
    },
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
        "en": "The prediction service cannot be reached. It may be stopped or "
        "starting: try again in a moment. The rest of the app still works.",
        "fr": "Le service de prédiction est injoignable. Il est peut-être arrêté ou "
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
        "en": "The service could not handle this request.",
        "fr": "Le service n'a pas pu traiter cette demande.",
    },
    "err_stats_private": {
        "en": "The statistics are private on this backend and need its admin key: set API_KEY "
        "for this app (or FLIPKART_STATS_PRIVATE=false on the backend).",
        "fr": "Les statistiques de ce backend sont privées et demandent sa clé d'administration : "
        "définissez API_KEY pour cette application (ou FLIPKART_STATS_PRIVATE=false sur le "
        "backend).",
    },
    "err_server": {
        "en": "The prediction service had a problem. Try again later.",
        "fr": "Le service de prédiction a rencontré un problème. Réessayez plus tard.",
    },
    "err_not_ready": {
        "en": "The prediction service is starting and not ready yet: try again in a minute.",
        "fr": "Le service de prédiction démarre et n'est pas encore prêt : "
        "réessayez dans une minute.",
    },
    "err_bad_response": {
        "en": "The prediction service sent an answer this app does not understand.",
        "fr": "Le service de prédiction a envoyé une réponse incompréhensible.",
    },
    # backend error codes (`{"error": {"code"}}`), see ERROR_CODES below
    "err_not_an_image": {
        "en": "This file is not an image the service can read. Choose a JPEG, PNG or WebP photo.",
        "fr": "Ce fichier n'est pas une image lisible par le service. "
        "Choisissez une photo JPEG, PNG ou WebP.",
    },
    "err_image_too_large": {
        "en": "This image is too large. Choose a smaller photo.",
        "fr": "Cette image est trop grande. Choisissez une photo plus petite.",
    },
    "err_url_unreachable": {
        "en": "The image at this address cannot be downloaded: check the address.",
        "fr": "L'image à cette adresse ne peut pas être téléchargée : vérifiez l'adresse.",
    },
    "err_url_forbidden": {
        "en": "For security, the service does not download images from this address. "
        "Use a public web address, or download the image and upload it.",
        "fr": "Par sécurité, le service ne télécharge pas d'images depuis cette adresse. "
        "Utilisez une adresse web publique, ou téléchargez l'image puis envoyez-la.",
    },
    "err_url_timeout": {
        "en": "The website holding this image answered too slowly. Try another address.",
        "fr": "Le site qui héberge cette image a répondu trop lentement. "
        "Essayez une autre adresse.",
    },
    "err_url_invalid": {
        "en": "This web address is not valid. Paste the full address of an image (https://…).",
        "fr": "Cette adresse web n'est pas valide. Collez l'adresse complète d'une image "
        "(https://…).",
    },
    "err_rate_limited": {
        "en": "Too many requests in a short time. Wait a moment and try again.",
        "fr": "Trop de demandes en peu de temps. Patientez un instant puis réessayez.",
    },
    "err_busy": {
        "en": "The service is busy with other images. Try again in a few seconds.",
        "fr": "Le service traite d'autres images. Réessayez dans quelques secondes.",
    },
    "err_access": {
        "en": "These figures are private on this service.",
        "fr": "Ces chiffres sont privés sur ce service.",
    },
    "err_feedback_refused": {
        "en": "Your feedback could not be recorded for this prediction.",
        "fr": "Votre avis n'a pas pu être enregistré pour cette prédiction.",
    },
    "err_storage": {
        "en": "The service cannot store data right now. Try again later.",
        "fr": "Le service ne peut pas enregistrer de données pour le moment. Réessayez plus tard.",
    },
    "err_text_too_long": {
        "en": "The title or description is too long for the service: shorten it and try again.",
        "fr": "Le titre ou la description est trop long pour le service : raccourcissez-le et "
        "réessayez.",
    },
    "err_text_encoding": {
        "en": "The title or description contains characters the service cannot read.",
        "fr": "Le titre ou la description contient des caractères illisibles pour le service.",
    },
    "err_empty_text": {
        "en": "The title and description hold no words: type some text or choose a photo.",
        "fr": "Le titre et la description ne contiennent aucun mot : saisissez un texte ou "
        "choisissez une photo.",
    },
    "err_text_unavailable": {
        "en": "The service cannot classify text alone right now: add a photo of the product.",
        "fr": "Le service ne peut pas classer un texte seul pour le moment : ajoutez une photo "
        "du produit.",
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


# Backend error codes -> the message shown (the backend's own English message never is).
ERROR_CODES: dict[str, str] = {
    **dict.fromkeys(
        (
            "not_an_image",
            "corrupt_image",
            "empty_image",
            "invalid_image",
            "unsupported_image_mode",
            "unsupported_media_type",
            "missing_image",
            "empty_body",
        ),
        "err_not_an_image",
    ),
    **dict.fromkeys(
        ("image_too_large", "too_many_pixels", "payload_too_large"), "err_image_too_large"
    ),
    **dict.fromkeys(
        ("url_unreachable", "too_many_redirects", "url_fetch_failed"), "err_url_unreachable"
    ),
    "url_forbidden": "err_url_forbidden",
    "url_timeout": "err_url_timeout",
    "invalid_url": "err_url_invalid",
    "rate_limited": "err_rate_limited",
    "server_busy": "err_busy",
    **dict.fromkeys(
        ("admin_disabled", "invalid_api_key", "missing_api_key", "stats_private"), "err_access"
    ),
    **dict.fromkeys(
        (
            "unknown_prediction",
            "unknown_label",
            "invalid_feedback_token",
            "missing_feedback_token",
            "feedback_forbidden",
        ),
        "err_feedback_refused",
    ),
    **dict.fromkeys(("database_unavailable", "store_disabled"), "err_storage"),
    "model_not_ready": "err_not_ready",
    "text_too_long": "err_text_too_long",
    "invalid_text_encoding": "err_text_encoding",
    "empty_text": "err_empty_text",
    **dict.fromkeys(("model_without_text", "text_model_unavailable"), "err_text_unavailable"),
}

CATEGORIES_FR = {
    "Baby Care": "Puériculture",
    "Beauty and Personal Care": "Beauté et soins",
    "Computers": "Informatique",
    "Home Decor & Festive Needs": "Décoration et fêtes",
    "Home Furnishing": "Linge de maison",
    "Kitchen & Dining": "Cuisine et arts de la table",
    "Watches": "Montres",
}

MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
}


def t(key: str, lang: str, **values: Any) -> str:
    entry = TEXTS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def category(label: str, lang: str) -> str:
    """A class name as shown: the dataset's English name, or its French translation."""
    return CATEGORIES_FR.get(label, label) if lang == "fr" else label


def decimal(value: float, lang: str, digits: int = 1) -> str:
    """1234.5 -> "1,234.5" (en) or "1 234,5" (fr, narrow no-break spaces)."""
    text = f"{value:,.{digits}f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def percent(value: float | None, lang: str, digits: int = 1) -> str:
    """0.838 -> "83.8%" (en) or "83,8 %" (fr); None -> "—"."""
    if value is None:
        return "—"
    number = decimal(100 * value, lang, digits)
    return f"{number}\u202f%" if lang == "fr" else f"{number}%"


def date_time(value: str | datetime | None, lang: str, with_time: bool = True) -> str:
    """An ISO date (UTC) as people write it: "1 Dec 2026, 01:17 UTC" / "1 déc. 2026, 01:17 UTC"."""
    if value is None:
        return "—"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    day = f"{moment.day} {MONTHS.get(lang, MONTHS['en'])[moment.month - 1]} {moment.year}"
    return f"{day}, {moment:%H:%M} UTC" if with_time else day
