"""What the server says about itself: modules, describes, edition limits."""

from __future__ import annotations

from ..modules import Module
from ..ratelimit import edition_limits
from .core import Core, User


class MetadataBackend:
    """``listtypes``, ``describe`` and ``editionLimits``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def listtypes(self, user: User, field_types: set[str] | None = None) -> dict:
        """Modules, or only those having a field of one of ``field_types`` (never Users)."""
        types, info = [], {}
        for m in self.core.modules.values():
            if field_types is not None and (m.name == "Users" or not any(
                f["type"]["name"] in field_types for f in m.describe["fields"]
            )):
                continue  # a filtered list never names Users (listtypes_fieldTypeList_email)
            types.append(m.name)
            info[m.name] = {"isEntity": m.is_entity, "label": m.label, "singular": m.singular}
        return {"types": types, "information": info}

    def describe(self, user: User, module: object) -> dict:
        """The module's describe document (including custom fields)."""
        m: Module = self.core.module(
            module, f"Permission to perform the operation is denied for name : {module}")
        # Users' describe lists user_password/accesskey like the real one; values never show.
        return m.describe

    def edition_limits(self, user: User, service_name: str = "") -> dict:
        """``editionLimits``: a fixed, plausible answer per service name."""
        limits = {"WEBSERVICE_LIMIT": str(edition_limits(self.core.settings)[2]),
                  "DOCUMENT_UPLOAD_FILE_LIMIT": "50MB", "CUSTOM_FIELD_LIMIT": "100"}
        if not service_name:
            return {"limits": limits}
        return {"serviceName": service_name, "limit": limits.get(service_name, "0")}
