"""Every ORM model, in one package so that domains never import each other in circles."""

from app.models.api_key import ApiKey
from app.models.base import Base

__all__ = ["ApiKey", "Base"]
