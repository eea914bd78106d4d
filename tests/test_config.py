"""The typed config: TOML plus secrets from the environment, with errors that name the key and the file."""

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, resolve_config_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_serve_the_http_api_on_localhost():
    config = load_config(None, {})
    assert config.http.enabled and config.http.host == "127.0.0.1" and config.http.port == 8000
    assert config.store.path == Path("data/sessions.json")
    assert config.speech.default_language == "en-us"
    assert config.telegram.token == "" and config.slack.bot_token == ""


def test_example_file_documents_every_key():
    """config.example.toml must load and mention every field of every section."""
    example = Path(__file__).parent.parent / "config.example.toml"
    config = load_config(example, {})
    text = example.read_text(encoding="utf-8")
    for section in ("store", "speech", "http", "telegram", "slack", "llm"):
        assert f"[{section}]" in text
        for name in getattr(config, section).__dataclass_fields__:
            assert f"\n{name} =" in text or f"\n# {name}" in text or f"[{section}.{name}]" in text, (section, name)


def test_file_values_are_typed(tmp_path):
    path = write(
        tmp_path,
        '[speech]\nworkers = 4\nmax_audio_mb = 5\n[telegram]\nadmins = [42, 43]\n[speech.models]\nko = "/m/ko"\n',
    )
    config = load_config(path, {})
    assert config.speech.workers == 4
    assert config.speech.max_audio_mb == 5.0
    assert config.telegram.admins == (42, 43)
    assert config.speech.models == {"ko": "/m/ko"}
    assert config.source == path


def test_secrets_come_from_the_environment_and_win(tmp_path):
    path = write(tmp_path, '[slack]\nbot_token = "from-file"\n')
    env = {"SLACK_BOT_TOKEN": "xoxb-env", "TELEGRAM_BOT_TOKEN": "123:abc", "INTERVIEW_BOT_ADMIN_TOKEN": "s3cret"}
    config = load_config(path, env)
    assert config.slack.bot_token == "xoxb-env"
    assert config.telegram.token == "123:abc"
    assert config.http.admin_token == "s3cret"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[speech]\nworkers = "many"\n', "'speech.workers' must be a whole number"),
        ("[speech]\nworkers = 0\n", "'speech.workers' = 0 leaves nobody to transcribe"),
        ("[speech]\nworkers = -1\n", "'speech.workers' must be"),
        ('[telegram]\nmode = "push"\n', "'telegram.mode' must be one of polling, webhook"),
        ("[http]\nport = 70000\n", "'http.port' must be a port number"),
        ("[http]\nprot = 8000\n", "unknown key 'http.prot'"),
        ('[telegram]\nadmins = "me"\n', "'telegram.admins' must be a list of a whole number"),
        ("[store\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", {})


def test_config_path_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None, {}) is None
    (tmp_path / "config.toml").write_text("")
    assert resolve_config_path(None, {}) == Path("config.toml")
    assert resolve_config_path(None, {"INTERVIEW_BOT_CONFIG": "/etc/bot.toml"}) == Path("/etc/bot.toml")
    assert resolve_config_path("cli.toml", {"INTERVIEW_BOT_CONFIG": "/etc/bot.toml"}) == Path("cli.toml")


def test_config_is_frozen():
    config = Config()
    with pytest.raises(AttributeError):
        config.http.port = 1  # type: ignore[misc]


# ----- the interview API is not open to the world by accident ------------------------------------------------------


def test_a_public_host_without_an_api_key_is_refused_naming_both_ways_out(tmp_path):
    path = write(tmp_path, '[http]\nhost = "0.0.0.0"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: 'http.host' is '0.0.0.0'")
    assert "INTERVIEW_BOT_API_KEY or [http] api_key" in message
    assert "[http] open_api = true" in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20", "bot.example.com"])
def test_every_address_but_loopback_counts_as_public(tmp_path, host):
    with pytest.raises(ConfigError, match="open_api"):
        load_config(write(tmp_path, f'[http]\nhost = "{host}"\n'), {})


def test_a_public_host_with_an_api_key_from_the_file_or_the_environment_starts(tmp_path):
    assert load_config(write(tmp_path, '[http]\nhost = "0.0.0.0"\napi_key = "k3y"\n'), {}).http.api_key == "k3y"
    path = write(tmp_path, '[http]\nhost = "0.0.0.0"\n')
    assert load_config(path, {"INTERVIEW_BOT_API_KEY": "env-k3y"}).http.api_key == "env-k3y"


def test_a_public_host_with_open_api_starts(tmp_path):
    config = load_config(write(tmp_path, '[http]\nhost = "0.0.0.0"\nopen_api = true\n'), {})
    assert config.http.open_api and config.http.api_key == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_without_a_key_starts(tmp_path, host):
    assert load_config(write(tmp_path, f'[http]\nhost = "{host}"\n'), {}).http.host == host


def test_a_public_host_with_the_api_disabled_starts(tmp_path):
    """The server still carries the Telegram webhook and Slack events, which check their own secrets."""
    config = load_config(write(tmp_path, '[http]\nhost = "0.0.0.0"\nenabled = false\n'), {})
    assert not config.http.enabled and config.http.host == "0.0.0.0"


def test_open_api_is_off_by_default():
    assert load_config(None, {}).http.open_api is False


def test_store_limits_have_defaults_and_are_typed_and_checked(tmp_path):
    store = load_config(None, {}).store
    assert (store.abandon_after_days, store.max_sessions_per_user_per_day) == (30.0, 20)
    path = write(tmp_path, "[store]\nabandon_after_days = 7.5\nmax_sessions_per_user_per_day = 5\n")
    store = load_config(path, {}).store
    assert (store.abandon_after_days, store.max_sessions_per_user_per_day) == (7.5, 5)
    for text, needle in (
        ("[store]\nabandon_after_days = 0\n", "'store.abandon_after_days' must be greater than 0"),
        ("[store]\nmax_sessions_per_user_per_day = -1\n", "'store.max_sessions_per_user_per_day' must be greater"),
        ('[store]\nmax_sessions_per_user_per_day = "lots"\n', "'store.max_sessions_per_user_per_day' must be a whole"),
    ):
        with pytest.raises(ConfigError, match=needle):
            load_config(write(tmp_path, text), {})


def test_the_engine_is_built_with_the_store_limits(tmp_path):
    from bot.app import build_services

    path = write(
        tmp_path,
        f'[store]\npath = "{tmp_path}/db/sessions.json"\nabandon_after_days = 3\nmax_sessions_per_user_per_day = 4\n'
        "[speech]\nauto_fetch = false\n",
    )
    services = build_services(load_config(path, {}), {})
    try:
        assert services.engine.max_sessions_per_day == 4
        assert services.engine._abandon_after == 3 * 86400
    finally:
        services.store.close()
