"""A test-only Krita plug-in that drives "Export via Fluximage" inside a real Krita.

plugins/krita/test.sh installs it, next to the real plug-in, in a throw-away profile only.
Once Krita's first window exists it: checks that Krita's plug-in manager loaded the
plug-in and put its action in the File menu; makes a photo-like document and opens it in a
view; exports a plain PNG to compare with; triggers the action and fills in the dialog the
way a user would, once the dialog shows the credits (for webp, then with a stalled server and
the progress dialog's Cancel, then with the AI options ticked: the alt-text window's Copy
button, then with a free plan's key: the AI options greyed out, then with an unknown key,
then with no key); calls the Krita-facing export function for the other formats and a
maximum size; loads every result back into Krita; writes its findings to
$FLX_KRITA_RESULTS (JSON) and quits Krita.

Environment: FLX_KRITA_OUT (output folder), FLX_KRITA_RESULTS (JSON file), FLX_KRITA_CONTROL
(the emulator's control URL), FLX_KRITA_TREE (the source tree, when it is hidden from Krita),
FLUXIMAGE_API_KEY / FLUXIMAGE_BASE_URL (as a user would set).
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
import urllib.request
from typing import Any, Callable, List, Optional

from krita import Extension, InfoObject, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressDialog,
    QPushButton,
    QSpinBox,
)

OUT = os.environ.get("FLX_KRITA_OUT", "/tmp")
RESULTS = os.environ.get("FLX_KRITA_RESULTS", "/tmp/flx-krita-results.json")
CONTROL = os.environ.get("FLX_KRITA_CONTROL", "")
TREE = os.environ.get("FLX_KRITA_TREE", "")  # set when the source tree is hidden from Krita
UNKNOWN_KEY = "flx_live_" + "0123456789abcdef" * 2 + "01234567"
FREE_KEY = "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"  # the emulator's free plan
WIDTH, HEIGHT = 640, 480

checks: List[List[Any]] = []  # [name, ok, detail]


def check(name: str, ok: Any, detail: Any = "") -> None:
    checks.append([name, bool(ok), str(detail)])
    save_results(False)  # as it goes: a hang still leaves the findings so far


def save_results(done: bool) -> None:
    with open(RESULTS, "w") as f:
        json.dump({"done": done, "checks": checks}, f, indent=1)


def control(path: str, body: str) -> None:
    req = urllib.request.Request(f"{CONTROL}/{path}", data=body.encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def magic(path: str) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return "missing"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "unknown"


# ---- driving modal dialogs ----------------------------------------------------------------


def when_modal(
    kind: type, act: Callable[[Any], None], timeout: float = 30.0, name: str = ""
) -> None:
    """Calls act(widget) once a modal widget of `kind` (and object name `name`, if given) is
    up (polled every 100 ms; modal dialogs and the plug-in's progress callback both run Qt's
    event loop)."""
    deadline = time.monotonic() + timeout
    timer = QTimer()

    def poll() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, kind) and w.isVisible() and (not name or w.objectName() == name):
            timer.stop()
            act(w)
        elif time.monotonic() > deadline:
            timer.stop()
            check(f"a {kind.__name__} appeared", False, "timed out")

    timer.timeout.connect(poll)
    timer.start(100)
    _keep.append(timer)


_keep: List[Any] = []


class Seen:
    """What the driver read in the plug-in's last export dialog."""

    note = ""  # the key note
    credits = ""  # the credits line
    ai_enabled = False  # whether the AI options could be ticked
    ai_note = ""  # why not
    export_enabled = True


def fill_dialog(
    path: str, fmt: str, quality: int = 82, max_width: int = 0, ai: bool = False,
    export: bool = True,
) -> Callable[[Any], None]:
    """Once the dialog shows the credits (asked for when it opens): records what it shows,
    fills it in (ticking the AI options when `ai`), and clicks Export (or Cancel)."""

    def act(dialog: Any) -> None:
        if dialog.objectName() != "fluximage_export_dialog":
            check("the export dialog", False, f"got {dialog.objectName()!r}")
            dialog.reject()
            return
        credits = dialog.findChild(QLabel, "credits")
        deadline = time.monotonic() + 20
        timer = QTimer()

        def when_credits_known() -> None:
            if "checking" in credits.text() and time.monotonic() < deadline:
                return
            timer.stop()
            fill(dialog)

        timer.timeout.connect(when_credits_known)
        timer.start(100)
        _keep.append(timer)

    def fill(dialog: Any) -> None:
        note = dialog.findChild(QLabel, "key_note")
        Seen.note = note.text() if note else ""
        Seen.credits = dialog.findChild(QLabel, "credits").text()
        alt, seo = dialog.findChild(QCheckBox, "alt_text"), dialog.findChild(QCheckBox, "seo_name")
        Seen.ai_enabled = alt.isEnabled() and seo.isEnabled()
        ai_note = dialog.findChild(QLabel, "ai_note")
        Seen.ai_note = ai_note.text() if ai_note.isVisible() else ""
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok)
        Seen.export_enabled = ok.isEnabled()
        dialog.findChild(QComboBox, "format").setCurrentIndex(
            dialog.findChild(QComboBox, "format").findData(fmt)
        )
        dialog.findChild(QLineEdit, "path").setText(path)
        dialog.findChild(QSpinBox, "quality").setValue(quality)
        dialog.findChild(QSpinBox, "max_width").setValue(max_width)
        alt.setChecked(ai)
        seo.setChecked(ai)
        if export and ok.isEnabled():
            ok.click()
        else:
            dialog.reject()

    return act


def copy_alt_text(into: dict) -> Callable[[Any], None]:
    """In the alt-text window: clicks Copy, reads the clipboard, closes the window."""

    def act(dialog: Any) -> None:
        into["shown"] = dialog.findChild(QPlainTextEdit, "alt_text_view").toPlainText()
        dialog.findChild(QPushButton, "copy").click()
        into["clipboard"] = QApplication.clipboard().text()
        dialog.reject()

    return act


def click_cancel(progress: Any) -> None:
    """Clicks the progress dialog's Cancel button once the upload is under way."""

    def click() -> None:
        buttons = progress.findChildren(QPushButton)
        check("cancel: the progress dialog's button", len(buttons) == 1,
              [b.text() for b in buttons])
        if buttons:
            buttons[0].click()

    QTimer.singleShot(1500, click)


def read_message_box(into: dict) -> Callable[[Any], None]:
    def act(box: Any) -> None:
        into["text"] = box.text()
        box.accept()

    return act


# ---- the test -----------------------------------------------------------------------------


def make_document() -> Any:
    """A photo-like RGBA document (gradients and noise) with a translucent patch."""
    app = Krita.instance()
    doc = app.createDocument(WIDTH, HEIGHT, "photo", "RGBA", "U8", "", 72.0)
    doc.setBatchmode(True)
    layer = doc.createNode("photo", "paintlayer")
    doc.rootNode().addChildNode(layer, None)
    rng = random.Random(7)
    data = bytearray(WIDTH * HEIGHT * 4)
    i = 0
    for y in range(HEIGHT):
        for x in range(WIDTH):
            n = rng.randint(-20, 20)
            inside = (x - 320) ** 2 + (y - 240) ** 2 < 120**2
            data[i] = max(0, min(255, 128 + (x - y) // 5 + n))  # B (Krita stores BGRA)
            data[i + 1] = max(0, min(255, y * 255 // HEIGHT + n))  # G
            data[i + 2] = 220 if inside else max(0, min(255, x * 255 // WIDTH + n))  # R
            data[i + 3] = 160 if inside else 255  # A
            i += 4
    layer.setPixelData(bytes(data), 0, 0, WIDTH, HEIGHT)
    doc.refreshProjection()
    doc.waitForDone()
    return doc


def webp_size(path: str) -> str:
    """The size a WebP file's headers declare ("W H"), after checking its RIFF framing; or
    what is wrong. (Krita 5.1.5's own WebP importer never returns under a virtual display,
    so WebP results are checked here instead of being opened in Krita.)"""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return "not WebP"
    if struct.unpack("<I", data[4:8])[0] != len(data) - 8:
        return "bad RIFF size"
    kind, body = data[12:16], data[20:]
    if kind == b"VP8X":
        w = int.from_bytes(body[4:7], "little") + 1
        h = int.from_bytes(body[7:10], "little") + 1
    elif kind == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        w, h = (struct.unpack("<H", body[6:8])[0] & 0x3FFF, struct.unpack("<H", body[8:10])[0] & 0x3FFF)
    elif kind == b"VP8L" and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        return f"unknown chunk {kind!r}"
    return f"{w} {h}"


def decode(path: str) -> str:
    """Opens `path` in Krita: "W H", or why not."""
    if magic(path) == "webp":
        return webp_size(path)
    app = Krita.instance()
    was_batch = app.batchmode()
    app.setBatchmode(True)  # no import dialogs
    try:
        doc = app.openDocument(path)
        if doc is None:
            return "failed"
        doc.waitForDone()
        size = f"{doc.width()} {doc.height()}"
        doc.close()
        return size
    finally:
        app.setBatchmode(was_batch)


def status_text(window: Any) -> str:
    return window.qwindow().statusBar().currentMessage()


def run_tests() -> None:
    app = Krita.instance()
    window = app.activeWindow() or app.windows()[0]
    check("Krita " + app.version(), True)

    # 1. Loaded by Krita's plug-in manager, with its action in the File menu.
    names = [type(e).__name__ for e in app.extensions()]
    check("extension loaded", "FluximageExtension" in names, names)
    action = app.action("fluximage_export")
    check("action registered", action is not None)
    file_menu = None
    for a in window.qwindow().menuBar().actions():
        if a.menu() is not None and a.menu().objectName() == "file":
            file_menu = a.menu()
    check(
        "action in the File menu",
        file_menu is not None and action in file_menu.actions(),
        [a.text() for a in file_menu.actions()] if file_menu else "no File menu",
    )
    check("action text", action is not None and action.text() == "Export via Fluximage\u2026",
          action.text() if action else "")

    # 2. A document in a view (the active document), and a plain PNG to compare with.
    doc = make_document()
    window.addView(doc)
    check("active document", app.activeDocument() is not None)
    plain = os.path.join(OUT, "plain.png")
    info = InfoObject()
    info.setProperty("compression", 9)
    info.setProperty("alpha", True)
    doc.exportImage(plain, info)
    plain_size = os.path.getsize(plain) if os.path.exists(plain) else 0
    check("plain PNG", plain_size > 100000, plain_size)

    # 3. Through the menu action and its dialog, as a user would.
    out = os.path.join(OUT, "dialog.webp")
    when_modal(QDialog, fill_dialog(out, "webp"))
    action.trigger()
    check("dialog: webp written", magic(out) == "webp", magic(out))
    check("dialog: smaller than plain PNG",
          os.path.exists(out) and os.path.getsize(out) < plain_size,
          os.path.getsize(out) if os.path.exists(out) else -1)
    check("dialog: key note", "from the environment variable FLUXIMAGE_API_KEY" in Seen.note,
          Seen.note)
    check("dialog: credits shown before the export",
          Seen.credits.startswith("Fluximage plan agency: unlimited compressions, ")
          and "AI credits left" in Seen.credits, Seen.credits)
    check("dialog: AI options available (agency)", Seen.ai_enabled and not Seen.ai_note,
          Seen.ai_note)
    text = status_text(window)
    check("dialog: saving in the status bar",
          text.startswith("Exported dialog.webp with Fluximage: ") and "smaller)" in text, text)
    size = decode(out)
    check("dialog: decodes", size == f"{WIDTH} {HEIGHT}", size)

    # 4. The Krita-facing function for the other formats and a maximum size.
    from fluximage_export import krita_export, logic  # the installed plug-in package

    if TREE:
        check("the source tree is out of reach", not os.path.exists(os.path.join(TREE, "Cargo.toml")))

    check("plug-in's own fluximage copy",
          "_vendor" in (getattr(__import__("fluximage"), "library_path", "") or ""),
          getattr(__import__("fluximage"), "library_path", ""))
    for fmt in ("avif", "jpg", "png"):
        path = os.path.join(OUT, f"photo.{fmt}")
        try:
            report = krita_export.export_document(doc, logic.Settings(path, format=fmt, quality=70))
            check(f"{fmt}: written", magic(path) == fmt, magic(path))
            check(f"{fmt}: sizes reported", report.output_size == os.path.getsize(path),
                  report.summary())
            if fmt != "png":
                check(f"{fmt}: smaller than plain PNG", report.output_size < plain_size,
                      f"{report.output_size} vs {plain_size}")
            size = decode(path)
            check(f"{fmt}: decodes", size == f"{WIDTH} {HEIGHT}", size)
        except Exception as e:
            check(f"{fmt}: export", False, repr(e))
    small = os.path.join(OUT, "small.webp")
    try:
        krita_export.export_document(doc, logic.Settings(small, format="webp", max_width=200))
        size = decode(small)
        check("max size: decodes at 200x150", size == "200 150", size)
    except Exception as e:
        check("max size: export", False, repr(e))
    check("document unchanged", (doc.width(), doc.height()) == (WIDTH, HEIGHT))

    # 5. Cancel from the progress dialog while the server stalls.
    control("reset", "{}")
    control("fault", '{"mode":"stall","delay_ms":20000,"path":"compress","count":1}')
    out = os.path.join(OUT, "cancelled.webp")
    when_modal(QDialog, fill_dialog(out, "webp"))
    QTimer.singleShot(200, lambda: when_modal(QProgressDialog, click_cancel))
    t0 = time.monotonic()
    action.trigger()
    elapsed = time.monotonic() - t0
    check("cancel: prompt", elapsed < 15, f"{elapsed:.1f} s")
    check("cancel: nothing written", not os.path.exists(out))
    check("cancel: status bar", "cancelled" in status_text(window), status_text(window))
    check("cancel: no temporary file", not [f for f in os.listdir(OUT) if f.endswith(".flx-tmp")])

    # 5b. The AI options ticked in the dialog: the alt text shown and copied, the file named
    # after the SEO name beside the chosen one (which is not written).
    out = os.path.join(OUT, "ai", "chosen.webp")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    alt: dict = {}
    when_modal(QDialog, fill_dialog(out, "webp", ai=True), name="fluximage_export_dialog")
    QTimer.singleShot(200, lambda: when_modal(
        QDialog, copy_alt_text(alt), name="fluximage_alt_text_dialog"))
    action.trigger()
    written = sorted(os.listdir(os.path.dirname(out)))
    check("ai: SEO-named file written", len(written) == 1 and written[0].endswith(
        "-image-640x480.webp") and magic(os.path.join(OUT, "ai", written[0])) == "webp", written)
    check("ai: alt text shown", alt.get("shown", "").startswith("A 640\u00d7480 image"), alt)
    check("ai: alt text copied", alt.get("clipboard") == alt.get("shown"), alt)
    check("ai: saving in the status bar", "-image-640x480.webp with Fluximage" in
          status_text(window), status_text(window))

    # 5c. A free plan: the AI options greyed out with the reason (the dialog is cancelled).
    os.environ["FLUXIMAGE_API_KEY"] = FREE_KEY
    when_modal(QDialog, fill_dialog(os.path.join(OUT, "free.webp"), "webp", export=False))
    action.trigger()
    check("free plan: credits", Seen.credits.startswith("Fluximage plan free: "), Seen.credits)
    check("free plan: AI options greyed out with the reason",
          not Seen.ai_enabled and "need a paid Fluximage plan" in Seen.ai_note, Seen.ai_note)

    # 6. An unknown key: a message box that says what to do, nothing written.
    os.environ["FLUXIMAGE_API_KEY"] = UNKNOWN_KEY
    out = os.path.join(OUT, "bad.webp")
    box: dict = {}
    when_modal(QDialog, fill_dialog(out, "webp"))
    QTimer.singleShot(200, lambda: when_modal(QMessageBox, read_message_box(box)))
    action.trigger()
    text = box.get("text", "")
    check("bad key: message", "401" in text and "FLUXIMAGE_API_KEY" in text, text)
    check("bad key: key not shown", "0123456789abcdef" not in text)
    check("bad key: nothing written", not os.path.exists(out))

    # 7. No key at all.
    del os.environ["FLUXIMAGE_API_KEY"]
    out = os.path.join(OUT, "nokey.webp")
    box = {}
    when_modal(QDialog, fill_dialog(out, "webp"))
    QTimer.singleShot(200, lambda: when_modal(QMessageBox, read_message_box(box)))
    action.trigger()
    check("no key: dialog note", "No API key" in Seen.note, Seen.note)
    check("no key: credits unknown", Seen.credits.startswith("Credits: unknown"), Seen.credits)
    text = box.get("text", "")
    check("no key: message", "FLUXIMAGE_API_KEY" in text and "missing" in text, text)
    check("no key: nothing written", not os.path.exists(out))

    doc.setModified(False)


_started = False


def start() -> None:
    global _started
    if _started:  # one run, even if another window is created
        return
    _started = True
    try:
        run_tests()
        save_results(True)
    except Exception:
        check("driver", False, traceback.format_exc())
        save_results(False)
    finally:
        QTimer.singleShot(300, quit_krita)


def quit_krita() -> None:
    app = Krita.instance()
    for d in app.documents():
        d.setModified(False)
    app.action("file_quit").trigger()


class DriverExtension(Extension):
    def setup(self) -> None:
        notifier = Krita.instance().notifier()
        notifier.setActive(True)
        notifier.windowCreated.connect(lambda: QTimer.singleShot(1500, start))

    def createActions(self, window: Optional[Any]) -> None:  # noqa: N802
        pass


Krita.instance().addExtension(DriverExtension(Krita.instance()))
