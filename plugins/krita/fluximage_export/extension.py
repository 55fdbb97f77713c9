"""Krita-facing, and thin: the menu action, the dialog, the progress dialog, the messages.

Everything that can be decided without Krita lives in ``logic.py``.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from krita import Extension, Krita
from PyQt5.QtCore import Qt
from PyQt5.QtGui import QIcon
from PyQt5.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
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
    """Output file, format, quality and maximum size. Widgets carry object names (path,
    format, quality, max_width, max_height, problem, key_note) for tests."""

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
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self._format_changed()

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
        )

    def accept(self) -> None:
        problems = self.settings().problems()
        if problems:
            self.problem.setText("Cannot export: " + "; ".join(problems) + ".")
            self.problem.show()
            return
        super().accept()


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
        )
        dialog = ExportDialog(suggested, parent)
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
            report = export_document(document, settings, progress=tracker.callback, tick=tracker.tick)
        except Exception as e:  # every failure becomes a message, never a traceback
            self._close(progress)
            if logic.is_cancel(e):
                self._status(window, "Export via Fluximage cancelled: nothing was written")
            else:
                QMessageBox.warning(parent, TITLE, logic.user_message(e))
            return
        self._close(progress)
        self._status(window, report.summary())

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
