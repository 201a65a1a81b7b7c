import string

import pytest
from flipkart_ui.config import DEFAULT_ASSETS_DIR, SettingsError, load_settings
from flipkart_ui.i18n import TEXTS, t


def test_defaults():
    settings = load_settings({})
    assert settings.api_url == "http://localhost:8000"
    assert settings.port == 7860 and settings.language == "en"
    assert settings.assets_dir == DEFAULT_ASSETS_DIR
    assert DEFAULT_ASSETS_DIR.parent.name == "frontend"


def test_environment_overrides(tmp_path):
    settings = load_settings(
        {
            "API_URL": "https://api.example.com/",
            "PORT": "9000",
            "UI_LANG": "FR",
            "ASSETS_DIR": str(tmp_path),
            "API_TIMEOUT_S": "2.5",
        }
    )
    assert settings.api_url == "https://api.example.com"
    assert (settings.port, settings.language, settings.api_timeout_s) == (9000, "fr", 2.5)
    assert settings.assets_dir == tmp_path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"API_URL": "localhost:8000"}, "API_URL must start with http"),
        ({"PORT": "eighty"}, "PORT must be a number"),
        ({"PORT": "0"}, "PORT must be positive"),
        ({"PORT": "70000"}, "at most 65535"),
        ({"UI_LANG": "de"}, "UI_LANG must be one of en, fr"),
        ({"API_TIMEOUT_S": "-1"}, "API_TIMEOUT_S must be positive"),
    ],
)
def test_bad_settings_are_explained(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_has_both_languages_with_the_same_placeholders(key):
    entry = TEXTS[key]
    assert set(entry) == {"en", "fr"}
    assert entry["en"].strip() and entry["fr"].strip()
    assert placeholders(entry["en"]) == placeholders(entry["fr"])


def test_french_is_actually_translated():
    same = [k for k, v in TEXTS.items() if v["en"] == v["fr"]]
    # Words that are the same in both languages (Image, Classification, F1, Production, photo,
    # description...)
    assert len(same) <= 14, same
    assert t("tab_dashboard", "fr") == "Tableau de bord"
    assert t("err_timeout", "en", timeout=3).startswith("The prediction service took too long")
