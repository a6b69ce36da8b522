"""The home screen (categories, search, the entries to 投诉建议 and 查询办理进度) and the item screen
(guidance, materials, "办理此事项")."""

from __future__ import annotations

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from kiosk.journey import catalog_view as cv
from kiosk.journey.models import RowListModel
from kiosk.journey.session_service import JourneySession, ScreenViewModel

QML_IMPORT_NAME = "Kiosk"
QML_IMPORT_MAJOR_VERSION = 1


@QmlElement
class HomeViewModel(ScreenViewModel):
    catalogViewChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._query = ""
        self._category = ""
        self.items_model = RowListModel(("code", "name", "category", "department", "icon"), self)
        self._js.langChanged.connect(self._fill_items)
        self._js.sessionEnded.connect(self._reset)
        self._fill_items()

    @Property(QObject, constant=True)
    def catalogItems(self) -> RowListModel:
        return self.items_model

    @Property(list, notify=catalogViewChanged)
    def categories(self) -> list[dict[str, str]]:
        """[{code, name}] for the category buttons."""
        return cv.categories(self._js.catalog, self._js.lang)

    @Property(str, notify=catalogViewChanged)
    def category(self) -> str:
        return self._category

    @Property(str, notify=catalogViewChanged)
    def query(self) -> str:
        return self._query

    @Slot(str)
    def setQuery(self, query: str) -> None:
        if query != self._query:
            self._query = query
            self._category = ""
            self._fill_items()

    @Slot(str)
    def setCategory(self, category: str) -> None:
        self._category = category
        self._query = ""
        self._fill_items()

    def _reset(self) -> None:
        self._query = ""
        self._category = ""
        self._fill_items()  # the catalogue may have been replaced between sessions

    def _fill_items(self) -> None:
        lang, catalog = self._js.lang, self._js.catalog
        items = cv.search(catalog, self._query) if self._query.strip() else cv.by_category(catalog, self._category)
        icons = {c.code: c.icon for c in getattr(catalog, "categories", ()) or ()}
        self.items_model.set_rows([{"code": it.code, "name": cv.item_name(it, lang),
                                    "category": cv.item_category(it, lang),
                                    "department": cv.item_department(it, lang),
                                    "icon": icons.get(getattr(it, "category", ""), "")} for it in items])
        self.catalogViewChanged.emit()

    @Slot(str)
    def openItem(self, code: str) -> None:
        if self._js.open_item(code):
            self._js.set_screen("item")

    @Slot()
    def openComplaint(self) -> None:
        self._js.set_error("")
        self._js.set_screen("complaint")

    @Slot()
    def openStatus(self) -> None:
        self._js.set_error("")
        self._js.set_screen("status")


@QmlElement
class ItemViewModel(ScreenViewModel):
    itemChanged = Signal()

    def __init__(self, parent: QObject | None = None, session: JourneySession | None = None) -> None:
        super().__init__(parent, session)
        self._js.itemChanged.connect(self.itemChanged)

    @Property(str, notify=itemChanged)
    def itemCode(self) -> str:
        return self._js.item.code

    @Property(str, notify=itemChanged)
    def itemName(self) -> str:
        return cv.item_name(self._js.item, self._js.lang)

    @Property(str, notify=itemChanged)
    def itemDepartment(self) -> str:
        return cv.item_department(self._js.item, self._js.lang)

    @Property(str, notify=itemChanged)
    def itemGuidance(self) -> str:
        return cv.item_guidance(self._js.item, self._js.lang)

    @Property(str, notify=itemChanged)
    def itemMaterials(self) -> str:
        names = [m.name_en if self._js.lang == "en" else m.name_zh for m in cv.item_materials(self._js.item)]
        return "、".join(names)

    @Slot()
    def chooseItem(self) -> None:
        js = self._js
        js.set_error("")
        js.start_application()
        js.set_screen("form" if js.data.identity is not None else "identify")
