"""Production configuration (issue 9, point 6): ``check --deploy`` is clean under the documented production
environment (docs/production.env); no start without EMAIL_URL when DEBUG is off; EMAIL_URL's schemes;
docker-compose.yml has no default secret key or e-mail server and loads the demo users only when asked
(TRIALSITE_DEMO=1)."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tests.accounts.conftest import controlled_env
from trialsite.mail import mailer_from_url

BASE = Path(settings.BASE_DIR)
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def run(args, env, timeout=120):
    return subprocess.run(args, cwd=BASE, env=env, capture_output=True, text=True, timeout=timeout)  # noqa: S603


def production_env(**overrides) -> dict[str, str]:
    """docs/production.env as a deployment fills it in: a real random secret key, our database and Redis."""
    values = {}
    for line in (BASE / "docs" / "production.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    values["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(64)
    values.update(overrides)
    return controlled_env(**values)


# --- manage.py check --deploy -------------------------------------------------------------------------

def test_documented_production_environment_has_what_the_issue_names():
    env = production_env()
    for name, value in {"DJANGO_ALLOWED_HOSTS": "trials.example.org", "DJANGO_SECURE_SSL_REDIRECT": "1",
                        "DJANGO_SECURE_PROXY_SSL_HEADER": "1", "TRUSTED_PROXY_COUNT": "1"}.items():
        assert env[name] == value, name
    assert env["EMAIL_URL"].startswith("smtp+tls://")
    assert env.get("DJANGO_DEBUG", "0") in ("0", "")


def test_check_deploy_is_clean_under_the_production_environment():
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout + done.stderr


def test_check_deploy_would_catch_a_missing_https_redirect():
    """The check above can fail: without the redirect to https, Django's deploy check complains."""
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
               production_env(DJANGO_SECURE_SSL_REDIRECT="0"))
    assert done.returncode != 0 and "security.W008" in done.stdout + done.stderr


def test_production_settings_values():
    env = production_env()
    script = ("import json; from django.conf import settings as s; print(json.dumps({"
              "'debug': s.DEBUG, 'cookies': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE], "
              "'hsts': [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD], "
              "'proxy': [s.TRUSTED_PROXY_COUNT, s.AXES_CLIENT_IP_CALLABLE], "
              "'ssl': [s.SECURE_SSL_REDIRECT, list(s.SECURE_PROXY_SSL_HEADER)], 'mailer': s.MAILERS['default']}))")
    done = run([sys.executable, "-c", script], env)
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout.strip().splitlines()[-1])
    assert values["debug"] is False and values["cookies"] == [True, True]
    assert values["hsts"] == [31536000, True, True]
    assert values["ssl"] == [True, ["HTTP_X_FORWARDED_PROTO", "https"]]
    assert values["proxy"] == [1, "accounts.lockout.client_ip"]
    mailer = values["mailer"]
    assert mailer["BACKEND"] == SMTP and mailer["OPTIONS"]["use_tls"] is True
    assert mailer["OPTIONS"]["username"] == "trialsite@example.org"  # percent-decoded


# --- EMAIL_URL ----------------------------------------------------------------------------------------

def test_a_start_without_email_url_and_debug_off_fails_naming_email_url():
    env = controlled_env(EMAIL_URL=None, DJANGO_DEBUG="0")
    done = run([sys.executable, "-c", "from django.conf import settings; settings.INSTALLED_APPS"], env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "EMAIL_URL" in done.stderr
    manage = run([sys.executable, "manage.py", "check"], env)
    assert manage.returncode != 0 and "EMAIL_URL" in manage.stderr


def test_debug_without_email_url_prints_e_mails():
    env = controlled_env(EMAIL_URL=None, DJANGO_DEBUG="1")
    script = "from django.conf import settings; print(settings.MAILERS['default']['BACKEND'])"
    done = run([sys.executable, "-c", script], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("console.EmailBackend")


def test_mailer_from_url_smtp_with_starttls():
    mailer = mailer_from_url("smtp+tls://user:pw@smtp.example.org:587")
    assert mailer["BACKEND"] == SMTP
    options = mailer["OPTIONS"]
    assert (options["host"], options["port"], options["username"], options["password"]) == (
        "smtp.example.org", 587, "user", "pw")
    assert options["use_tls"] is True and not options.get("use_ssl")
    assert options["timeout"] == 30


def test_mailer_from_url_smtps_and_encoded_credentials():
    mailer = mailer_from_url("smtps://trialsite%40example.org:p%2Fw%3A1@smtp.example.org:465")
    options = mailer["OPTIONS"]
    assert mailer["BACKEND"] == SMTP
    assert options["use_ssl"] is True and not options.get("use_tls")
    assert (options["username"], options["password"], options["port"]) == ("trialsite@example.org", "p/w:1", 465)


def test_mailer_from_url_plain_smtp():
    mailer = mailer_from_url("smtp://relay.example.org:25")
    assert mailer["BACKEND"] == SMTP
    assert mailer["OPTIONS"]["host"] == "relay.example.org" and mailer["OPTIONS"]["port"] == 25
    assert "username" not in mailer["OPTIONS"] and not mailer["OPTIONS"].get("use_tls")


@pytest.mark.parametrize(("url", "backend"), [
    ("consolemail://", "django.core.mail.backends.console.EmailBackend"),
    ("memorymail://", "django.core.mail.backends.locmem.EmailBackend"),
    ("dummymail://", "django.core.mail.backends.dummy.EmailBackend"),
])
def test_mailer_from_url_local_backends(url, backend):
    assert mailer_from_url(url) == {"BACKEND": backend}


@pytest.mark.parametrize("url", ["ftp://smtp.example.org", "http://x", "smtp+tls://", "not a url"])
def test_mailer_from_url_refuses_what_it_cannot_use_naming_email_url(url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        mailer_from_url(url)


def test_the_test_run_uses_the_memory_mailer():
    assert settings.MAILERS["default"]["BACKEND"] == "django.core.mail.backends.locmem.EmailBackend"


# --- docker-compose.yml -------------------------------------------------------------------------------

COMPOSE = BASE / "docker-compose.yml"
_VARIABLE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


class Refused(Exception):
    """compose refuses to start: a required variable is unset."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:?e}``, ``${V?e}``,
    ``${V:+a}``, ``$V``; ``$$`` is a literal ``$``)."""
    def one(match):
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if (value if op == ":-" else value is not None) else arg
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise Refused(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return arg if (value if op == ":+" else value is not None) else ""
        return value or ""

    parts = text.split("$$")
    return "$".join(_VARIABLE.sub(one, part) for part in parts)


def service_block(text: str, service: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"  {re.escape(service)}:\s*", line))
    block = []
    for line in lines[start + 1:]:
        if line.strip() and not line.startswith("   "):
            break
        block.append(line)
    return block


def service_command(block: list[str]) -> list[str]:
    """The service's ``command`` as a list (flow list, or block list whose items may be folded scalars)."""
    index = next(i for i, line in enumerate(block) if line.strip().startswith("command:"))
    head = block[index].split("command:", 1)[1].strip()
    if head.startswith("["):
        flow = head
        for line in block[index + 1:]:
            if flow.count("[") == flow.count("]"):
                break
            flow += " " + line.strip()
        return json.loads(flow)
    if head:
        return ["sh", "-c", head]
    indent = len(block[index]) - len(block[index].lstrip())
    items, lines = [], block[index + 1:]
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        item = line.strip()
        if item.startswith("- "):
            value = item[2:].strip()
            if value in (">-", ">", "|", "|-"):
                scalar = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip())
                                          > len(line) - len(line.lstrip())):
                    scalar.append(lines[i].strip())
                    i += 1
                items.append((" " if value.startswith(">") else "\n").join(s for s in scalar if s))
                continue
            items.append(value.strip("'\""))
        i += 1
    return items


def compose_env(**extra) -> dict[str, str]:
    return {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "EMAIL_URL": "consolemail://", **extra}


def test_compose_has_no_default_secret_key_or_e_mail_server():
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    uses = re.findall(r"\$\{DJANGO_SECRET_KEY[^}]*\}", text)
    assert uses, "DJANGO_SECRET_KEY is not taken from the environment"
    assert all(re.fullmatch(r"\$\{DJANGO_SECRET_KEY(:?\?[^}]*)?\}", use) for use in uses), uses
    literal = re.compile(r"^\s*-?\s*['\"]?DJANGO_SECRET_KEY['\"]?\s*[:=]\s*(?!\$\{DJANGO_SECRET_KEY)\S", re.MULTILINE)
    assert not literal.search(text), "a literal secret key"
    email = re.findall(r"\$\{EMAIL_URL[^}]*\}", text)
    assert email and all(re.fullmatch(r"\$\{EMAIL_URL(:?\?[^}]*)?\}", use) for use in email), email


def test_compose_refuses_to_start_without_the_secret_key():
    text = COMPOSE.read_text()
    with pytest.raises(Refused, match="DJANGO_SECRET_KEY"):
        interpolate(text, {"EMAIL_URL": "consolemail://"})
    with pytest.raises(Refused, match="EMAIL_URL"):
        interpolate(text, {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)})
    env = compose_env()
    assert env["DJANGO_SECRET_KEY"] in interpolate(text, env)


def migrate_runs(tmp_path, compose_vars: dict[str, str]) -> list[str]:
    """The manage.py commands the one-shot migrate service runs, with ``compose_vars`` in compose's
    environment (and in the container's, for a script that reads them at run time)."""
    text = interpolate(COMPOSE.read_text(), compose_vars)
    command = service_command(service_block(text, "migrate"))
    assert command[:2] == ["sh", "-c"], command
    log = tmp_path / "ran.txt"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin", **compose_vars}
    done = subprocess.run(["/bin/sh", "-c", command[2]], env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_compose_loads_the_demo_users_only_when_asked(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "demo").mkdir()
    plain = migrate_runs(tmp_path / "plain", compose_env())
    assert any(line.startswith("manage.py migrate") for line in plain), plain
    assert not any("seed_demo" in line for line in plain), plain
    demo = migrate_runs(tmp_path / "demo", compose_env(TRIALSITE_DEMO="1"))
    assert any("seed_demo" in line for line in demo), demo
    assert any("load_protocols" in line for line in demo), demo
