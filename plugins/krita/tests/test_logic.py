"""The Krita plug-in's logic (fluximage_export.logic), without Krita, against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    AGENCY_KEY,
    FREE_KEY,
    REPO,
    SPENT_KEY,
    UNKNOWN_KEY,
    Emulator,
    leftovers,
    magic,
    png_size,
)

import fluximage
from fluximage_export import logic
from fluximage_export.logic import ProgressTracker, Report, Settings

# ---- settings and names -------------------------------------------------------------------


def test_settings_problems(tmp_path: Path) -> None:
    ok = Settings(str(tmp_path / "out.webp"))
    assert ok.problems() == []
    assert Settings("").problems() == ["no output file was given"]
    assert Settings(str(tmp_path)).problems() == ["the output path is a folder; give a file name"]
    assert Settings(str(tmp_path / "no" / "x.webp")).problems() == []  # the save makes it
    (tmp_path / "plain").write_text("a file")
    assert Settings(str(tmp_path / "plain" / "x.webp")).problems() == [
        f"{tmp_path / 'plain'} is a file, so the folder {tmp_path / 'plain'} cannot be made"
    ]
    assert Settings(str(tmp_path / "x"), format="gif").problems() == [
        "unknown format 'gif': use webp, avif, jpg or png"
    ]
    assert Settings(str(tmp_path / "x"), quality=39).problems() == [
        "quality must be between 40 and 100"
    ]
    assert Settings(str(tmp_path / "x"), quality=100).problems() == []
    assert len(Settings(str(tmp_path / "x"), max_width=-1, max_height=70000).problems()) == 2


def test_format_from_path() -> None:
    assert logic.format_from_path("a/b.WEBP") == "webp"
    assert logic.format_from_path("b.jpeg") == "jpg"
    assert logic.format_from_path("b.jpg") == "jpg"
    assert logic.format_from_path("b.avif") == "avif"
    assert logic.format_from_path("b.png") == "png"
    assert logic.format_from_path("b.gif") is None
    assert logic.format_from_path("noext") is None


def test_with_format_extension() -> None:
    assert logic.with_format_extension("/x/cat.webp", "avif") == "/x/cat.avif"
    assert logic.with_format_extension("/x/cat.jpeg", "png") == "/x/cat.png"
    assert logic.with_format_extension("/x/cat", "jpg") == "/x/cat.jpg"
    # An extension the user typed that is not an image format is left alone.
    assert logic.with_format_extension("/x/cat.backup", "jpg") == "/x/cat.backup"
    assert logic.with_format_extension("", "jpg") == ""


def test_suggest_output_path(tmp_path: Path) -> None:
    doc = str(tmp_path / "art" / "cat.kra")
    assert logic.suggest_output_path(doc, "cat", "webp", "/home/u") == str(
        tmp_path / "art" / "cat.webp"
    )
    # Unsaved documents go to the fallback folder, named after the document.
    assert logic.suggest_output_path(None, "Unnamed", "avif", "/home/u") == "/home/u/Unnamed.avif"
    assert logic.suggest_output_path("", "a/b:c", "jpg", "/h") == "/h/a_b_c.jpg"
    assert logic.suggest_output_path(None, "  ", "png", "/h") == "/h/image.png"
    # Never the document's own file.
    png = str(tmp_path / "photo.png")
    assert logic.suggest_output_path(png, "photo", "png", "/h") == str(
        tmp_path / "photo-fluximage.png"
    )


def test_scaled_size() -> None:
    assert logic.scaled_size(800, 600, 0, 0) == (800, 600)
    assert logic.scaled_size(800, 600, 200, 0) == (200, 150)
    assert logic.scaled_size(800, 600, 0, 300) == (400, 300)
    assert logic.scaled_size(800, 600, 400, 100) == (133, 100)
    assert logic.scaled_size(800, 600, 1000, 1000) == (800, 600)  # never enlarged
    assert logic.scaled_size(5000, 1, 10, 0) == (10, 1)


def test_key_available() -> None:
    assert logic.key_available({"FLUXIMAGE_API_KEY": AGENCY_KEY})
    assert not logic.key_available({"FLUXIMAGE_API_KEY": "  "})
    assert not logic.key_available({})


# ---- progress ------------------------------------------------------------------------------


def test_progress_phases() -> None:
    seen: list[tuple[int, str]] = []
    t = ProgressTracker(lambda p, text: seen.append((p, text)))
    assert t.callback(0, 1000)
    assert t.callback(500, 1000)
    assert seen[-1] == (40, ProgressTracker.UPLOAD)
    assert t.callback(1000, 1000)
    assert seen[-1] == (-1, ProgressTracker.WAIT)  # the server works: a busy indicator
    assert t.callback(1000, 1000)
    assert t.callback(0, 300)  # the download starts over with the result's size
    assert seen[-1] == (80, ProgressTracker.DOWNLOAD)
    assert t.callback(300, 300)
    assert seen[-1] == (100, ProgressTracker.DOWNLOAD)


def test_progress_download_with_same_total() -> None:
    t = ProgressTracker()
    t.update(1000, 1000)
    t.update(10, 1000)  # a smaller `done` is the download even if the total is the same
    assert t.phase == ProgressTracker.DOWNLOAD and t.percent == 80


def test_progress_cancel() -> None:
    t = ProgressTracker()
    assert t.callback(1, 10) is True
    t.cancel()
    assert t.callback(2, 10) is False


# ---- report and messages ------------------------------------------------------------------


def test_report_summary() -> None:
    r = Report("/x/cat.webp", 1_200_000, 204_000)
    assert r.summary() == "Exported cat.webp with Fluximage: 1.2 MB \u2192 204.0 kB (83% smaller)"
    assert Report("/x/a.png", 1000, 1500).summary().endswith("(50% larger)")
    assert logic.format_size(999) == "999 bytes"
    assert logic.format_size(1500) == "1.5 kB"
    assert logic.format_size(3_400_000_000) == "3.4 GB"


def test_user_message() -> None:
    e = fluximage.AuthenticationError("the key was rejected (401)", status=2, http_status=401)
    msg = logic.user_message(e)
    assert msg.startswith("Fluximage could not export the image: the key was rejected (401)")
    assert "FLUXIMAGE_API_KEY" in msg and "before starting Krita" in msg
    assert "network" in logic.user_message(fluximage.ConnectionError("could not connect", status=9))
    q = logic.user_message(fluximage.QuotaExceededError("credits are used up (402)", status=4))
    assert q.startswith("Fluximage could not export the image: credits are used up (402)\n")
    assert "Wait for the next period" in q and "dashboard" in q
    f = logic.user_message(fluximage.PermissionDeniedError("not in the plan (403)", status=3))
    assert "Untick the AI options, or upgrade" in f
    assert logic.user_message(ValueError("quality must be between 40 and 100")) == (
        "Cannot export: quality must be between 40 and 100."
    )
    assert logic.user_message(ImportError("no package")).startswith("Export via Fluximage cannot")
    assert logic.user_message(OSError("disk full")) == "Export via Fluximage failed: disk full"
    assert logic.is_cancel(fluximage.CancelledError("cancelled", status=15))
    assert not logic.is_cancel(ValueError())


# ---- compress, against the emulator ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["webp", "avif", "jpg", "png"])
def test_compress_formats(api: Emulator, photo: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"photo.{fmt}"
    report = logic.compress(str(photo), Settings(str(out), format=fmt, quality=70))
    assert magic(out) == fmt
    assert report.path == str(out)
    assert report.input_size == photo.stat().st_size
    assert report.output_size == out.stat().st_size
    if fmt != "png":
        assert report.output_size < report.input_size, "a lossy result should be smaller"
    assert "Exported photo." in report.summary()
    assert leftovers(tmp_path) == []


def test_compress_into_a_folder_that_does_not_exist_yet(api: Emulator, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "photo.webp"
    report = logic.compress(str(photo), Settings(str(out)))
    assert report.path == str(out) and magic(out) == "webp"
    assert leftovers(out.parent) == []


def test_compress_max_size(api: Emulator, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.png"
    logic.compress(str(photo), Settings(str(out), format="png", max_width=160))
    assert png_size(out) == (160, 120)


def test_compress_reports_progress(api: Emulator, photo: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, str]] = []
    tracker = ProgressTracker(lambda p, text: seen.append((p, text)))
    logic.compress(str(photo), Settings(str(tmp_path / "p.webp")), progress=tracker.callback)
    assert seen, "no progress was reported"
    # A fast call may be reported only once, at its end; every report is a valid state.
    assert all(-1 <= p <= 100 for p, _ in seen)
    assert {text for _, text in seen} <= {
        ProgressTracker.UPLOAD,
        ProgressTracker.WAIT,
        ProgressTracker.DOWNLOAD,
    }


def test_invalid_settings_send_nothing(api: Emulator, photo: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quality must be between 40 and 100"):
        logic.compress(str(photo), Settings(str(tmp_path / "q.webp"), quality=10))
    assert not (tmp_path / "q.webp").exists()


def test_unknown_key(api: Emulator, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXIMAGE_API_KEY", UNKNOWN_KEY)
    existing = tmp_path / "existing.webp"
    existing.write_bytes(b"old contents")
    with pytest.raises(fluximage.AuthenticationError) as info:
        logic.compress(str(photo), Settings(str(existing)))
    assert existing.read_bytes() == b"old contents", "a failed export changed the file"
    msg = logic.user_message(info.value)
    assert "401" in msg and "FLUXIMAGE_API_KEY" in msg
    assert UNKNOWN_KEY[len("flx_live_") :] not in msg
    assert leftovers(tmp_path) == []


def test_missing_and_malformed_key(
    api: Emulator, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLUXIMAGE_API_KEY")
    with pytest.raises(fluximage.InvalidArgumentError) as info:
        logic.compress(str(photo), Settings(str(tmp_path / "a.webp")))
    msg = logic.user_message(info.value)
    assert msg.startswith("The Fluximage API key is missing or not usable")
    assert "FLUXIMAGE_API_KEY" in msg

    monkeypatch.setenv("FLUXIMAGE_API_KEY", "flx_live_0123456789abcdef")
    with pytest.raises(fluximage.InvalidArgumentError) as info:
        logic.compress(str(photo), Settings(str(tmp_path / "a.webp")))
    msg = logic.user_message(info.value)
    assert msg.startswith("The Fluximage API key is missing or not usable")
    assert "0123456789abcdef" not in msg
    assert not (tmp_path / "a.webp").exists()


def test_quota(api: Emulator, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXIMAGE_API_KEY", SPENT_KEY)
    with pytest.raises(fluximage.QuotaExceededError) as info:
        logic.compress(str(photo), Settings(str(tmp_path / "q.webp")))
    assert "credits" in logic.user_message(info.value)
    assert not (tmp_path / "q.webp").exists()


def test_network_error(photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXIMAGE_API_KEY", AGENCY_KEY)
    monkeypatch.setenv("FLUXIMAGE_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(fluximage.ConnectionError) as info:
        logic.compress(str(photo), Settings(str(tmp_path / "n.webp")))
    assert "Check the network connection" in logic.user_message(info.value)


def test_cancel(api: Emulator, photo: Path, tmp_path: Path) -> None:
    api.stall_next_compress(20000)
    tracker = ProgressTracker()
    start = time.monotonic()

    def cancel_after_a_second() -> bool:
        # The tick runs while the server stalls (progress reports only moving bytes).
        if time.monotonic() - start > 1.0:
            tracker.cancel()  # what the Cancel button does
        return tracker.tick()

    out = tmp_path / "cancelled.webp"
    with pytest.raises(fluximage.CancelledError) as info:
        logic.compress(
            str(photo), Settings(str(out)), progress=tracker.callback, tick=cancel_after_a_second
        )
    assert logic.is_cancel(info.value)
    assert time.monotonic() - start < 10, "the cancel did not stop the call promptly"
    assert not out.exists()
    assert leftovers(tmp_path) == []


# ---- credits and the AI options -------------------------------------------------------------


def usage(**kw: object) -> fluximage.Usage:
    fields = dict(
        plan="agency", compressions_used=3, compressions_limit=99999, ai_credits_used=0,
        ai_credits_monthly=10000, ai_topup_credits=0, ai_credits_remaining=10000,
        can_compress=True, can_use_ai=True, raw_json="{}",
    )
    fields.update(kw)
    return fluximage.Usage(**fields)  # type: ignore[arg-type]


def test_describe_usage() -> None:
    c = logic.describe_usage(usage())
    assert c.text == "Fluximage plan agency: unlimited compressions, 10000 AI credits left."
    assert c.can_compress and c.ai_allowed and c.ai_reason == "" and c.problem == ""

    c = logic.describe_usage(usage(plan="free", compressions_used=5, compressions_limit=20,
                                   ai_credits_remaining=0, can_use_ai=False))
    assert c.text == "Fluximage plan free: 15 of 20 compressions left this billing period, 0 AI credits left."
    assert not c.ai_allowed and "need a paid Fluximage plan" in c.ai_reason

    c = logic.describe_usage(usage(plan="pro", ai_credits_remaining=0, can_use_ai=False))
    assert not c.ai_allowed and c.ai_reason.startswith("No AI credits are left")

    c = logic.describe_usage(usage(plan="free", compressions_used=20, compressions_limit=20,
                                   can_compress=False, can_use_ai=False))
    assert not c.can_compress and "(402)" in c.problem and "dashboard" in c.problem

    # Missing numbers are "unknown", never an error.
    c = logic.describe_usage(usage(plan=None, compressions_limit=None, ai_credits_remaining=None,
                                   can_compress=None, can_use_ai=None))
    assert c.text == "Fluximage plan unknown: compressions left: unknown."
    assert c.can_compress and c.ai_allowed


def test_credits_from_the_server(api: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    c = logic.credits()
    assert c.text.startswith("Fluximage plan agency: unlimited compressions") and c.ai_allowed
    monkeypatch.setenv("FLUXIMAGE_API_KEY", FREE_KEY)
    c = logic.credits()
    assert c.text.startswith("Fluximage plan free: ") and not c.ai_allowed
    monkeypatch.setenv("FLUXIMAGE_API_KEY", SPENT_KEY)
    assert not logic.credits().can_compress
    monkeypatch.setenv("FLUXIMAGE_API_KEY", UNKNOWN_KEY)
    c = logic.credits()  # never raises: the dialog shows why it does not know
    assert c.text.startswith("Credits: unknown (") and "401" in c.text and not c.ai_allowed
    assert UNKNOWN_KEY[len("flx_live_"):] not in c.text
    monkeypatch.delenv("FLUXIMAGE_API_KEY")
    assert logic.credits().text == "Credits: unknown (no usable API key)."


def test_seo_path(tmp_path: Path) -> None:
    chosen = str(tmp_path / "photo.webp")
    assert logic.seo_path(chosen, "red-cat.webp", "webp") == str(tmp_path / "red-cat.webp")
    assert logic.seo_path(chosen, "../x/red cat", "avif") == str(tmp_path / "red cat.avif")
    assert logic.seo_path(chosen, "", "webp") is None
    assert logic.seo_path(chosen, ".hidden", "webp") is None


def test_compress_with_ai(api: Emulator, photo: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.webp"
    report = logic.compress(str(photo), Settings(str(chosen), alt_text=True))
    assert report.path == str(chosen) and magic(chosen) == "webp"
    assert report.alt_text and report.alt_text.startswith("A 320\u00d7240 image")

    mine = tmp_path / "existing.webp"
    mine.write_bytes(b"mine")
    first = logic.compress(str(photo), Settings(str(mine), seo_name=True))
    second = logic.compress(str(photo), Settings(str(mine), seo_name=True))
    assert first.path.endswith("-image-320x240.webp") and magic(Path(first.path)) == "webp"
    assert second.path == first.path[: -len(".webp")] + "-2.webp", "a file was replaced"
    assert mine.read_bytes() == b"mine", "the chosen file was written although SEO-named"
    assert first.alt_text is None  # not asked for


def test_ai_on_the_free_plan(
    api: Emulator, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUXIMAGE_API_KEY", FREE_KEY)
    out = tmp_path / "free.webp"
    with pytest.raises(fluximage.PermissionDeniedError) as info:
        logic.compress(str(photo), Settings(str(out), alt_text=True))
    msg = logic.user_message(info.value)
    assert "403" in msg and "Untick the AI options, or upgrade" in msg
    assert not out.exists()


# ---- installation: the zip ----------------------------------------------------------------


def test_zip_imports_and_is_self_contained(tmp_path: Path) -> None:
    """make_zip.py makes a zip Krita's importer accepts (its own code when Krita is
    installed, else install.sh's extraction), and the imported plug-in loads its own copy of
    the package and library with no PYTHONPATH, no FLUXIMAGE_LIB and no site-packages."""
    lib = os.environ.get("FLUXIMAGE_LIB") or str(REPO / "target" / "release" / "libfluximage.so")
    zip_path = tmp_path / "plugin.zip"
    subprocess.run(
        [sys.executable, str(REPO / "plugins" / "krita" / "make_zip.py"), str(zip_path), "9.8.7", lib],
        check=True,
    )
    resources = tmp_path / "krita"
    resources.mkdir()
    importer = Path("/usr/share/krita/pykrita/plugin_importer/plugin_importer.py")
    if importer.is_file():
        code = (
            "import builtins, sys; builtins.i18n = lambda t: t;"
            "from plugin_importer import PluginImporter;"
            "print(PluginImporter(sys.argv[1], sys.argv[2], lambda p: True).import_all())"
        )
        env = dict(os.environ, PYTHONPATH=str(importer.parent))
        run = subprocess.run([sys.executable, "-c", code, str(zip_path), str(resources)],
                             env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert "'fluximage_export'" in run.stdout
    else:
        subprocess.run([str(REPO / "plugins" / "krita" / "install.sh"), str(zip_path),
                        str(resources)], check=True, capture_output=True)
    pykrita = resources / "pykrita"
    assert (pykrita / "fluximage_export.desktop").is_file()
    assert (resources / "actions" / "fluximage_export.action").is_file()
    assert (pykrita / "fluximage_export" / "_vendor" / "fluximage" / "libfluximage.so").is_file()

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FLUXIMAGE_LIB")}
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from fluximage_export import logic; flx = logic.load_fluximage();"
        "print(flx.library_path); print(logic.USER_AGENT)"
    )
    run = subprocess.run(
        # -S: no site-packages, so an installed fluximage cannot stand in for the vendored one.
        [sys.executable, "-S", "-c", code, str(pykrita)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(str(pykrita / "fluximage_export" / "_vendor"))
    assert lines[1] == "krita-plugin/9.8.7"


def test_install_script_replaces_an_older_copy(tmp_path: Path) -> None:
    lib = os.environ.get("FLUXIMAGE_LIB") or str(REPO / "target" / "release" / "libfluximage.so")
    zip_path = tmp_path / "plugin.zip"
    subprocess.run([sys.executable, str(REPO / "plugins" / "krita" / "make_zip.py"),
                    str(zip_path), "1.0.0", lib], check=True)
    stale = tmp_path / "krita" / "pykrita" / "fluximage_export" / "stale.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    subprocess.run([str(REPO / "plugins" / "krita" / "install.sh"), str(zip_path),
                    str(tmp_path / "krita")], check=True, capture_output=True)
    assert not stale.exists()
    assert (stale.parent / "logic.py").is_file()
