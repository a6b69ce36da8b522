"""List models the screens show: catalogue items, form fields, materials (one generic model).

Each row is a dict; its keys are the QML role names. ``set_rows`` resets the model (new item,
new language, wipe); ``update_row`` changes one row in place (a validation error, a photo taken)
so QML keeps its delegates and what the resident typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import (
    Property,
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

_Index = QModelIndex | QPersistentModelIndex


class RowListModel(QAbstractListModel):
    countChanged = Signal()

    def __init__(self, roles: Sequence[str], parent: Any = None) -> None:
        super().__init__(parent)
        self._roles = list(roles)
        self._rows: list[dict[str, Any]] = []

    def roleNames(self) -> dict[int, QByteArray]:
        return {Qt.ItemDataRole.UserRole + 1 + i: QByteArray(name.encode()) for i, name in enumerate(self._roles)}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        i = role - Qt.ItemDataRole.UserRole - 1
        if 0 <= i < len(self._roles):
            return self._rows[index.row()].get(self._roles[i])
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()].get(self._roles[0])
        return None

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self._rows

    def set_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.beginResetModel()
        self._rows = [dict(r) for r in rows]
        self.endResetModel()
        self.countChanged.emit()

    def clear(self) -> None:
        self.set_rows([])

    def update_row(self, row: int, values: Mapping[str, Any]) -> None:
        if not 0 <= row < len(self._rows):
            return
        changed = [k for k, v in values.items() if self._rows[row].get(k) != v]
        if not changed:
            return
        self._rows[row].update(values)
        idx = self.index(row, 0)
        roles = [Qt.ItemDataRole.UserRole + 1 + self._roles.index(k) for k in changed if k in self._roles]
        self.dataChanged.emit(idx, idx, roles)

    @Slot(int, result="QVariantMap")
    def get(self, row: int) -> dict[str, Any]:
        return dict(self._rows[row]) if 0 <= row < len(self._rows) else {}

    def _count(self) -> int:
        return len(self._rows)

    count = Property(int, _count, notify=countChanged)
