import pytest
from pydantic import ValidationError

from app.config import DEVELOPMENT_TOKEN_SECRET, Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_development_defaults_are_usable() -> None:
    settings = _settings(environment="development")
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.token_secret.get_secret_value() == DEVELOPMENT_TOKEN_SECRET


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"token_secret": ""},
        {"token_secret": DEVELOPMENT_TOKEN_SECRET},
        {"token_secret": "short"},
        {"token_secret": "p" * 40, "cors_origins": "*"},
    ],
)
def test_production_refuses_unsafe_values(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="unsafe production settings"):
        _settings(environment="production", **values)


def test_production_accepts_a_private_secret() -> None:
    settings = _settings(
        environment="production", token_secret="p" * 40, cors_origins="https://shop.example"
    )
    assert settings.cors_origins == ["https://shop.example"]


def test_bootstrap_key_must_look_like_a_key() -> None:
    with pytest.raises(ValidationError, match="rk_"):
        _settings(bootstrap_api_key="hunter2")


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REINFORCE_LOG_LEVEL", "debug")
    monkeypatch.setenv("REINFORCE_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = _settings()
    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
