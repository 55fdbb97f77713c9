"""Krita-facing, and thin: the menu action, the dialog, the progress dialog, the messages.

Everything that can be decided without Krita lives in ``logic.py``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional

from krita import Extension, Krita
from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QIcon
from PyQt5.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressDialog,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
)

from . import logic
from .krita_export import export_document

ACTION_ID = "fluximage_export"
TITLE = "Export via Fluximage"


class ExportDialog(QDialog):
    """Output file, format, quality, maximum size and the AI options, with the credits left.
    Widgets carry object names (path, format, quality, max_width, max_height, alt_text,
    seo_name, ai_note, credits, problem, key_note) for tests."""

    def __init__(self, settings: logic.Settings, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("fluximage_export_dialog")
        self.setWindowTitle(TITLE)

        self.path = QLineEdit(settings.path)
        self.path.setObjectName("path")
        self.path.setMinimumWidth(360)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path)
        path_row.addWidget(browse)

        self.format = QComboBox()
        self.format.setObjectName("format")
        for name, label in logic.FORMAT_LABELS.items():
            self.format.addItem(label, name)
        self.format.setCurrentIndex(max(0, self.format.findData(settings.format)))
        self.format.currentIndexChanged.connect(self._format_changed)

        self.quality = QSpinBox()
        self.quality.setObjectName("quality")
        self.quality.setRange(logic.QUALITY_MIN, logic.QUALITY_MAX)
        self.quality.setValue(settings.quality)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(logic.QUALITY_MIN, logic.QUALITY_MAX)
        self.slider.setValue(settings.quality)
        self.slider.valueChanged.connect(self.quality.setValue)
        self.quality.valueChanged.connect(self.slider.setValue)
        quality_row = QHBoxLayout()
        quality_row.addWidget(self.slider)
        quality_row.addWidget(self.quality)

        self.max_width = self._size_box("max_width", settings.max_width)
        self.max_height = self._size_box("max_height", settings.max_height)

        form = QFormLayout()
        form.addRow("&Save to:", path_row)
        form.addRow("&Format:", self.format)
        form.addRow("&Quality:", quality_row)
        form.addRow("Max &width (px):", self.max_width)
        form.addRow("Max &height (px):", self.max_height)

        # Greyed out until the plan is known, and with the reason when it does not allow them.
        self.alt_text = QCheckBox("Write &alt text (AI, 1 AI credit)")
        self.alt_text.setObjectName("alt_text")
        self.alt_text.setChecked(settings.alt_text)
        self.alt_text.setToolTip(
            "Fluximage describes the image; the text is shown after the export, ready to copy."
        )
        self.seo_name = QCheckBox("Name the file for &search engines (AI, same credit)")
        self.seo_name.setObjectName("seo_name")
        self.seo_name.setChecked(settings.seo_name)
        self.seo_name.setToolTip(
            "The file is written in the chosen folder under a descriptive name Fluximage "
            "picks (an existing file is never replaced)."
        )
        self.ai_note = QLabel()
        self.ai_note.setObjectName("ai_note")
        self.ai_note.setWordWrap(True)
        form.addRow("AI:", self.alt_text)
        form.addRow("", self.seo_name)
        form.addRow("", self.ai_note)
        self._set_ai(False, "AI options: checking the plan\u2026")

        self.credits = QLabel("Fluximage credits: checking\u2026")
        self.credits.setObjectName("credits")
        self.credits.setWordWrap(True)

        if logic.key_available():
            note = f"API key: from the environment variable {logic.KEY_ENV}."
        else:
            note = f"No API key: set the environment variable {logic.KEY_ENV} before starting Krita."
        key_note = QLabel(f"<i>{note}</i>")
        key_note.setObjectName("key_note")
        key_note.setWordWrap(True)

        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setStyleSheet("font-weight: bold")
        self.problem.hide()

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("&Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(key_note)
        layout.addWidget(self.credits)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self._buttons = buttons
        self._format_changed()

    def show_credits(self, credits: logic.Credits) -> None:
        """Shows the plan and credits left; greys out what the plan does not allow."""
        self.credits.setText(credits.text)
        self._set_ai(credits.ai_allowed, credits.ai_reason)
        if not credits.can_compress:
            self.problem.setText(credits.problem)
            self.problem.show()
            self._buttons.button(QDialogButtonBox.Ok).setEnabled(False)

    def _set_ai(self, allowed: bool, reason: str) -> None:
        self.alt_text.setEnabled(allowed)
        self.seo_name.setEnabled(allowed)
        self.ai_note.setText(f"<i>{reason}</i>" if reason else "")
        self.ai_note.setVisible(bool(reason))

    @staticmethod
    def _size_box(name: str, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setObjectName(name)
        box.setRange(0, logic.SIZE_MAX)
        box.setSpecialValueText("no limit")
        box.setValue(value)
        box.setToolTip("Scale down proportionally to fit; never enlarge.")
        return box

    def _format_changed(self, *_: Any) -> None:
        fmt = self.format.currentData()
        self.quality.setEnabled(fmt != "png")
        self.slider.setEnabled(fmt != "png")
        self.path.setText(logic.with_format_extension(self.path.text(), fmt))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export via Fluximage to", self.path.text(),
            "Images (*.webp *.avif *.jpg *.jpeg *.png)",
        )
        if path:
            self.path.setText(path)
            fmt = logic.format_from_path(path)
            if fmt:
                self.format.setCurrentIndex(self.format.findData(fmt))

    def settings(self) -> logic.Settings:
        return logic.Settings(
            path=os.path.expanduser(self.path.text().strip()),
            format=self.format.currentData(),
            quality=self.quality.value(),
            max_width=self.max_width.value(),
            max_height=self.max_height.value(),
            alt_text=self.alt_text.isEnabled() and self.alt_text.isChecked(),
            seo_name=self.seo_name.isEnabled() and self.seo_name.isChecked(),
        )

    def accept(self) -> None:
        problems = self.settings().problems()
        if problems:
            self.problem.setText("Cannot export: " + "; ".join(problems) + ".")
            self.problem.show()
            return
        super().accept()


class AltTextDialog(QDialog):
    """The AI-written alt text of an export, selectable, with a Copy button. Object names
    (alt_text_view, copy) for tests."""

    def __init__(self, report: logic.Report, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("fluximage_alt_text_dialog")
        self.setWindowTitle(f"Alt text for {os.path.basename(report.path)}")
        text = report.alt_text or ""
        intro = QLabel(
            "Fluximage wrote this alt text for the exported image. "
            "Copy it into your web page or CMS:"
        )
        intro.setWordWrap(True)
        view = QPlainTextEdit(text)
        view.setObjectName("alt_text_view")
        view.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        copy = buttons.addButton("&Copy", QDialogButtonBox.ActionRole)
        copy.setObjectName("copy")

        def do_copy() -> None:
            QApplication.clipboard().setText(text)
            copy.setText("Copied")

        copy.clicked.connect(do_copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(view)
        layout.addWidget(buttons)


class FluximageExtension(Extension):
    """Adds File > "Export via Fluximage…"."""

    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self._last: Optional[logic.Settings] = None  # this session's last settings (no key)

    def setup(self) -> None:
        pass

    def createActions(self, window: Any) -> None:  # noqa: N802 (Krita's name)
        action = window.createAction(ACTION_ID, "Export via Fluximage\u2026", "file")
        action.setToolTip("Export the image compressed by the Fluximage API")
        action.triggered.connect(self.export_active_document)

    def export_active_document(self) -> None:
        app = Krita.instance()
        window = app.activeWindow()
        parent = window.qwindow() if window is not None else None
        document = app.activeDocument()
        if document is None:
            QMessageBox.information(parent, TITLE, "Open an image first.")
            return

        fmt = self._last.format if self._last else "webp"
        fallback = os.path.dirname(self._last.path) if self._last else os.path.expanduser("~")
        suggested = logic.Settings(
            path=logic.suggest_output_path(document.fileName(), document.name(), fmt, fallback),
            format=fmt,
            quality=self._last.quality if self._last else logic.QUALITY_DEFAULT,
            max_width=self._last.max_width if self._last else 0,
            max_height=self._last.max_height if self._last else 0,
            alt_text=self._last.alt_text if self._last else False,
            seo_name=self._last.seo_name if self._last else False,
        )
        dialog = ExportDialog(suggested, parent)
        self._fetch_credits(dialog)
        if dialog.exec_() != QDialog.Accepted:
            return
        settings = self._last = dialog.settings()

        progress = QProgressDialog("Preparing the image\u2026", "Cancel", 0, 100, parent)
        progress.setObjectName("fluximage_progress")
        progress.setWindowTitle(TITLE)
        progress.setWindowModality(Qt.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setAutoReset(False)

        def on_update(percent: int, text: str) -> None:
            if percent < 0:
                progress.setRange(0, 0)  # busy: the server is working
            else:
                progress.setRange(0, 100)
                progress.setValue(percent)
            progress.setLabelText(text)
            QApplication.processEvents()  # keeps the Cancel button live
            if progress.wasCanceled():
                tracker.cancel()

        tracker = logic.ProgressTracker(on_update)
        progress.canceled.connect(tracker.cancel)
        progress.show()
        QApplication.processEvents()
        try:
            # tick runs the event loop about every 50 ms, also while the server works, so
            # the Cancel button stays live throughout.
            report = export_document(
                document, settings, progress=tracker.callback, tick=tracker.tick
            )
        except Exception as e:  # every failure becomes a message, never a traceback
            self._close(progress)
            if logic.is_cancel(e):
                self._status(window, "Export via Fluximage cancelled: nothing was written")
            else:
                QMessageBox.warning(parent, TITLE, logic.user_message(e))
            return
        self._close(progress)
        self._status(window, report.summary())
        if report.alt_text:
            AltTextDialog(report, parent).exec_()

    @staticmethod
    def _fetch_credits(dialog: ExportDialog) -> None:
        """Asks for the credits (a quick, free request) on a worker thread while the dialog
        is on screen, and shows them when they arrive; Krita's window stays responsive."""
        box: dict = {}
        worker = threading.Thread(
            target=lambda: box.setdefault("credits", logic.credits()), daemon=True
        )
        timer = QTimer(dialog)

        def poll() -> None:
            if "credits" in box:
                timer.stop()
                dialog.show_credits(box["credits"])

        timer.timeout.connect(poll)
        worker.start()
        timer.start(50)

    @staticmethod
    def _close(progress: QProgressDialog) -> None:
        progress.canceled.disconnect()  # closing a QProgressDialog emits canceled()
        progress.close()
        progress.deleteLater()

    @staticmethod
    def _status(window: Any, text: str) -> None:
        """Shows `text` in the window's status bar and on the canvas."""
        if window is None:
            return
        window.qwindow().statusBar().showMessage(text, 15000)
        view = window.activeView()
        if view is not None:
            view.showFloatingMessage(text, QIcon(), 6000, 1)
