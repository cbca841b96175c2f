"""Where cloud keys come from (backends.cloud.credentials) and `sickbay credentials`.

Real files in a temporary HOME, real environment variables, the real encrypted-file keyring
(keyrings.cryptfile: Argon2 + AES-GCM). The only concession to the test machine: the Argon2 cost
is lowered (``fast_kdf``) so a key derivation takes milliseconds, not seconds; the cipher and
the file format are the real ones.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyrings.cryptfile.cryptfile import CryptFileKeyring

from backends.cloud.credentials import (
    KIND,
    CloudCredential,
    decode_secret,
    encode_secret,
    keyring_name,
    lookup,
)
from backends.secrets import SecretStore
from domain.cloud import ProviderName
from tui import cli

TC_ID = "AKIDtencentKeyIdForTests0001"
TC_SECRET = "tc-Secret-Value-That-Must-Never-Show-1"
ALI_ID = "LTAI5tAliyunKeyIdForTests01"
ALI_SECRET = "ali-Secret-Value-That-Must-Never-Show-2"
ENV_VARS = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIYUN_ACCESS_KEY_ID",
    "ALIYUN_ACCESS_KEY_SECRET",
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "TENCENTCLOUD_SESSION_TOKEN",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean HOME (and XDG data dir) with none of the providers' variables set."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CryptFileKeyring, "time_cost", 1)
    monkeypatch.setattr(CryptFileKeyring, "memory_cost", 2**10)


def store_at(path: Path, password: str = "correct horse") -> SecretStore:
    return SecretStore("cryptfile", cryptfile=path, master_password=lambda: password)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def tencent_ini(home: Path, key_id: str = "AKIDfromIniFile000000001", mode: int = 0o600) -> Path:
    text = f"[default]\nsecret_id = {key_id}\nsecret_key = ini-secret-0001\n"
    return write(home / ".tencentcloud" / "credentials", text, mode)


def tccli(home: Path, profile: str = "default", mode: int = 0o600) -> Path:
    data = {"secretId": "AKIDfromTccliFile0000001", "secretKey": "tccli-secret-0001"}
    return write(home / ".tccli" / f"{profile}.credential", json.dumps(data), mode)


def aliyun_config(home: Path, mode: int = 0o600) -> Path:
    data = {
        "current": "work",
        "profiles": [
            {
                "name": "default",
                "mode": "AK",
                "access_key_id": "LTAIdefaultProfileKey001",
                "access_key_secret": "default-profile-secret",
                "region_id": "cn-hangzhou",
            },
            {
                "name": "work",
                "mode": "StsToken",
                "access_key_id": "STS.workProfileKeyId0001",
                "access_key_secret": "work-profile-secret",
                "sts_token": "work-sts-token-value",
                "region_id": "cn-shanghai",
            },
            {"name": "ram", "mode": "RamRoleArn", "access_key_id": "x", "access_key_secret": "y"},
        ],
    }
    return write(home / ".aliyun" / "config.json", json.dumps(data), mode)


def used_id(provider: ProviderName, profile: str | None = None) -> str:
    credential = lookup(provider, profile).credential
    assert credential is not None
    return credential.key_id


# --- the order of the sources -----------------------------------------------------------------


def test_tencent_sources_in_order(
    home: Path, fast_kdf: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_at(home / "secrets.cfg")
    store.set(KIND, "tencent:default", encode_secret(TC_ID, TC_SECRET, region="ap-guangzhou"))
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromEnvironment00001")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "env-secret-0001")
    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", "env-token-0001")
    tencent_ini(home)
    tccli(home)

    result = lookup("tencent", store=store_at(home / "secrets.cfg"))
    ids = [c.key_id for c in result.found]
    assert ids == [
        TC_ID,
        "AKIDfromEnvironment00001",
        "AKIDfromIniFile000000001",
        "AKIDfromTccliFile0000001",
    ]
    used = result.credential
    assert used is not None and used.key_id == TC_ID and used.secret == TC_SECRET
    assert used.region == "ap-guangzhou"
    assert "entry tencent:default" in used.source and "encrypted file" in used.source
    assert result.found[1].token == "env-token-0001"
    assert result.found[1].source == "environment (TENCENTCLOUD_SECRET_ID)"
    assert result.found[2].source == "~/.tencentcloud/credentials [default]"
    assert result.found[3].source == "~/.tccli/default.credential"
    assert result.warnings == ()

    # Without the store, the environment wins; without it, the SDK's INI file; then tccli's.
    assert used_id("tencent") == "AKIDfromEnvironment00001"
    for var in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(var)
    assert used_id("tencent") == "AKIDfromIniFile000000001"
    (home / ".tencentcloud" / "credentials").unlink()
    assert used_id("tencent") == "AKIDfromTccliFile0000001"
    (home / ".tccli" / "default.credential").unlink()
    nothing = lookup("tencent")
    assert nothing.credential is None and nothing.found == ()
    assert any("TENCENTCLOUD_SECRET_ID" in t for t in nothing.tried)


def test_tencent_profile_selects_section_and_tccli_file(home: Path) -> None:
    text = (
        "[default]\nsecret_id = AKIDdefaultSection000001\nsecret_key = s1\n"
        "[incident]\nsecret_id = AKIDincidentSection00001\nsecret_key = s2\ntoken = t2\n"
    )
    write(home / ".tencentcloud" / "credentials", text)
    tccli(home, "incident")
    result = lookup("tencent", "incident")
    assert [c.key_id for c in result.found] == [
        "AKIDincidentSection00001",
        "AKIDfromTccliFile0000001",
    ]
    assert result.found[0].token == "t2"
    assert result.found[0].source == "~/.tencentcloud/credentials [incident]"


def test_aliyun_env_order_and_cli_profiles(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aliyun_config(home)
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAIlegacyEnvVariable001")
    monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "legacy-secret")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ALI_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ALI_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "ali-sts-token")
    result = lookup("aliyun")
    assert [c.key_id for c in result.found] == [
        ALI_ID,
        "LTAIlegacyEnvVariable001",
        "STS.workProfileKeyId0001",  # the config's current profile
    ]
    assert result.found[0].token == "ali-sts-token"
    assert result.found[1].token == ""
    work = result.found[2]
    assert work.token == "work-sts-token-value" and work.region == "cn-shanghai"
    assert work.source == "~/.aliyun/config.json (profile work, mode StsToken)"

    named = lookup("aliyun", "default", environ={})
    assert named.credential is not None
    assert named.credential.key_id == "LTAIdefaultProfileKey001"
    assert named.credential.token == "" and named.credential.region == "cn-hangzhou"

    unsupported = lookup("aliyun", "ram", environ={})
    assert unsupported.credential is None
    assert any("RamRoleArn" in w and "only AK and StsToken" in w for w in unsupported.warnings)


# --- never showing a secret -------------------------------------------------------------------


def test_credential_masks_its_secret_everywhere() -> None:
    cred = CloudCredential("tencent", TC_ID, TC_SECRET, "session-token-xyz", "somewhere")
    logged = logging.LogRecord("t", logging.INFO, __file__, 1, "key %s %r", (cred, cred), None)
    texts = (repr(cred), str(cred), f"{cred}", logged.getMessage(), cred.describe(), repr([cred]))
    for text in texts:
        assert TC_SECRET not in text
        assert "session-token-xyz" not in text
        assert TC_ID not in text  # the key id is shown only masked
    assert "AKID****0001" in repr(cred)
    assert "token=****" in repr(cred)
    assert "temporary (STS) key AKID****0001 from somewhere" in cred.describe()
    short = CloudCredential("aliyun", "short", "s")
    assert "short" not in repr(short)


def test_encode_decode_secret_round_trip() -> None:
    value = encode_secret(TC_ID, TC_SECRET, "tok", "ap-guangzhou")
    assert decode_secret(value) == (TC_ID, TC_SECRET, "tok", "ap-guangzhou")
    assert decode_secret(encode_secret(TC_ID, TC_SECRET)) == (TC_ID, TC_SECRET, "", "")
    for bad in ("", "not json", "[]", '{"key_id": "a"}', '{"key_id": 1, "secret": "b"}'):
        assert decode_secret(bad) is None
    assert keyring_name("aliyun", None) == "aliyun:default"
    assert keyring_name("tencent", "ir") == "tencent:ir"


# --- file permissions and malformed files ---------------------------------------------------


def test_warns_when_credential_files_are_readable_by_others(home: Path) -> None:
    tencent_ini(home, mode=0o644)
    tccli(home, mode=0o640)
    aliyun_config(home, mode=0o600)
    tencent = lookup("tencent")
    assert tencent.credential is not None  # still used: the warning is the point
    assert any(
        "~/.tencentcloud/credentials is readable by group and others (mode 0644)" in w
        and "chmod 600" in w
        for w in tencent.warnings
    )
    tccli_warning = "~/.tccli/default.credential is readable by group (mode 0640)"
    assert any(tccli_warning in w for w in tencent.warnings)
    assert lookup("aliyun").warnings == ()


@pytest.mark.parametrize(
    ("relative", "content"),
    [
        (".tencentcloud/credentials", "secret_id = LEAKED-secret-in-a-bad-ini\n"),  # no section
        (".tencentcloud/credentials", "[default]\nsecret_id\nLEAKED-secret = = =\n[x"),
        (".tencentcloud/credentials", "[default]\nsecret_id = only-the-id\n"),
        (".tccli/default.credential", '{"secretId": "AKIDx", "secretKey": "LEAKED-secret'),
        (".tccli/default.credential", '["LEAKED-secret"]'),
        (".tccli/default.credential", '{"secretId": 5, "secretKey": ["LEAKED-secret"]}'),
        (".aliyun/config.json", '{"profiles": "LEAKED-secret"}'),
        (".aliyun/config.json", '{"current": "default", "profiles": [17, {"name": "default"}]}'),
        (".aliyun/config.json", "\xff\xfe LEAKED-secret garbage"),
    ],
)
def test_malformed_files_are_reported_not_fatal(home: Path, relative: str, content: str) -> None:
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("latin-1") if "\xff" in content else content.encode())
    path.chmod(0o600)
    provider: ProviderName = "aliyun" if relative.startswith(".aliyun") else "tencent"
    result = lookup(provider)
    assert result.credential is None
    assert result.warnings, "a malformed file must be reported"
    shown = "~/" + relative
    assert any(w.startswith(shown) for w in result.warnings)
    assert all("LEAKED" not in w for w in result.warnings)  # never quote the file's contents


def test_a_directory_in_place_of_a_file_is_reported(home: Path) -> None:
    (home / ".tencentcloud" / "credentials").mkdir(parents=True)
    result = lookup("tencent")
    assert result.credential is None
    assert result.warnings == ("~/.tencentcloud/credentials: not a regular file: ignored",)


def test_a_wrong_master_password_is_a_warning_and_the_next_source_is_used(
    home: Path, fast_kdf: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = home / "secrets.cfg"
    store_at(path).set(KIND, "tencent:default", encode_secret(TC_ID, TC_SECRET))
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromEnvironment00001")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "env-secret")
    result = lookup("tencent", store=store_at(path, "not the password"))
    assert result.credential is not None
    assert result.credential.key_id == "AKIDfromEnvironment00001"
    assert result.warnings == (
        "secret store not read: wrong master password for the encrypted secrets file",
    )


def test_a_store_file_that_does_not_exist_is_skipped_without_asking(home: Path) -> None:
    asked: list[int] = []

    def never() -> str:
        asked.append(1)
        return "x"

    store = SecretStore("cryptfile", cryptfile=home / "none.cfg", master_password=never)
    result = lookup("tencent", store=store)
    assert result.credential is None and result.warnings == () and asked == []


# --- the encrypted file: round trip, nothing in plain text -----------------------------------


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                yield Path(dirpath) / name


def assert_not_on_disk(secret: str, *roots: Path) -> None:
    needles = [secret.encode(), base64.b64encode(secret.encode()), secret.encode("utf-16-le")]
    checked = 0
    for path in files_under(*roots):
        data = path.read_bytes()
        checked += 1
        for needle in needles:
            assert needle not in data, f"{needle!r} found in {path}"
    assert checked > 0


def test_keyring_file_round_trip_keeps_nothing_in_plain_text(
    home: Path, tmp_path: Path, fast_kdf: None
) -> None:
    path = home / ".local" / "share" / "sickbay" / "secrets.cfg"
    store_at(path).set(KIND, "tencent:default", encode_secret(TC_ID, TC_SECRET, "sts-token-abc"))
    assert path.exists() and (path.stat().st_mode & 0o077) == 0

    again = lookup("tencent", store=store_at(path))
    assert again.credential is not None
    assert (again.credential.key_id, again.credential.secret) == (TC_ID, TC_SECRET)
    assert again.credential.token == "sts-token-abc"
    assert_not_on_disk(TC_SECRET, tmp_path)
    assert_not_on_disk("sts-token-abc", tmp_path)


# --- `sickbay credentials` ----------------------------------------------------------------------


class Terminal:
    """What the operator types at getpass prompts (and the prompts they saw)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        monkeypatch.setattr("getpass.getpass", self.getpass)
        monkeypatch.setattr("tui.credentials_cmd._terminal", lambda: True)

    def getpass(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        assert self.answers, f"unexpected prompt {prompt!r}"
        return self.answers.pop(0)


def test_cli_set_show_delete_on_a_headless_machine(
    home: Path,
    tmp_path: Path,
    fast_kdf: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("backends.secrets.system_keyring", lambda: None)  # as on a bastion
    printed: list[str] = []

    def output() -> tuple[str, str]:
        out, err = capsys.readouterr()
        printed.extend((out, err))
        return out, err

    terminal = Terminal(
        monkeypatch,
        ["master-pw", "master-pw", TC_ID, TC_SECRET, ""],  # new file: the password twice
    )
    assert cli.main(["credentials", "set", "tencent", "--profile", "ir"]) == 0
    out, err = output()
    assert "no system keyring" in err and "encrypted file" in err
    assert "stored tencent:ir in encrypted file" in out
    assert terminal.prompts[:2] == ["new master password: ", "the same master password again: "]
    assert "SecretId" in terminal.prompts[2] and "not echoed" in terminal.prompts[2]
    assert terminal.answers == []
    cryptfile = home / ".local" / "share" / "sickbay" / "secrets.cfg"
    assert cryptfile.exists()

    Terminal(monkeypatch, ["master-pw"])  # an existing file: asked once
    assert cli.main(["credentials", "show", "tencent", "--profile", "ir"]) == 0
    out, _ = output()
    assert "AKID****0001" in out and "<- used" in out and "entry tencent:ir" in out

    Terminal(monkeypatch, ["master-pw"])
    assert cli.main(["credentials", "delete", "tencent", "--profile", "ir"]) == 0
    assert "deleted tencent:ir" in output()[0]
    Terminal(monkeypatch, ["master-pw"])
    assert cli.main(["credentials", "show", "tencent", "--profile", "ir"]) == 1
    assert "no key found" in output()[0]

    assert all(TC_SECRET not in text for text in printed)
    assert_not_on_disk(TC_SECRET, tmp_path)


def test_cli_set_refuses_mismatched_new_passwords(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("backends.secrets.system_keyring", lambda: None)
    Terminal(monkeypatch, ["a", "b", "", "c", "d", "e", TC_ID, TC_SECRET, ""])
    assert cli.main(["credentials", "set", "tencent", "--backend", "cryptfile"]) == 1
    err = capsys.readouterr().err
    assert "the two passwords differ" in err and "no master password set" in err
    assert not (home / ".local" / "share" / "sickbay" / "secrets.cfg").exists()


def test_cli_never_takes_secrets_from_argv() -> None:
    with pytest.raises(SystemExit):
        cli.main(["credentials", "set", "tencent", TC_SECRET])
    with pytest.raises(SystemExit):
        cli.main(["credentials", "set", "tencent", "--secret", TC_SECRET])


def test_cli_show_lists_sources_masked(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("backends.secrets.system_keyring", lambda: None)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ALI_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ALI_SECRET)
    tencent_ini(home, mode=0o644)
    assert cli.main(["credentials", "show"]) == 0
    out = capsys.readouterr().out
    assert "aliyun (profile default):\n  1. aliyun: access key LTAI****ts01 from environment" in out
    assert (
        "tencent (profile default):\n  1. tencent: access key AKID****0001 from ~/.tencentcloud"
        in out
    )
    assert "! ~/.tencentcloud/credentials is readable by group and others" in out
    assert ALI_SECRET not in out and "ini-secret-0001" not in out
