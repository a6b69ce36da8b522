"""The service catalogue (事项目录): versioned data, shipped default, replaced by signed updates.

See docs/CATALOGUE.md for the format. ``model`` loads, validates, searches and gives eligibility
hints; ``update`` verifies and installs signed updates from the central; ``authoring`` is the
editors' tool (fills in pinyin; needs pypinyin, which the kiosk itself does not).
"""

from kiosk.catalog.model import (
    DEFAULT_CATALOG,
    Catalog,
    CatalogError,
    Category,
    EligibilityRule,
    FormField,
    Hint,
    Material,
    Option,
    ServiceItem,
    eligibility_hints,
    load_catalog,
)
from kiosk.catalog.update import install_update, installed_catalog, load_installed, sign_update, verify_update

__all__ = [
    "DEFAULT_CATALOG",
    "Catalog",
    "CatalogError",
    "Category",
    "EligibilityRule",
    "FormField",
    "Hint",
    "Material",
    "Option",
    "ServiceItem",
    "eligibility_hints",
    "install_update",
    "installed_catalog",
    "load_catalog",
    "load_installed",
    "sign_update",
    "verify_update",
]
