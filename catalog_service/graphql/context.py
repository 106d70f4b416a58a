"""What every resolver sees as ``info.context`` during one request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from .loaders import CatalogLoaders


@dataclass
class GraphQLContext:
    request: HttpRequest | None
    now: datetime = field(default_factory=timezone.now)
    max_page_size: int = field(default_factory=lambda: settings.GRAPHQL_MAX_PAGE_SIZE)
    loaders: CatalogLoaders = field(init=False)

    def __post_init__(self) -> None:
        # One clock per request: a sale that ends mid-request is on sale for all of it.
        self.loaders = CatalogLoaders(now=self.now)
