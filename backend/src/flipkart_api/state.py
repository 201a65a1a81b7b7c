"""What the routers share, attached to `app.state` and injected with `Depends`."""

from dataclasses import dataclass

from fastapi import Request

from flipkart_api.metrics import Metrics
from flipkart_api.models import ModelStore
from flipkart_api.settings import Settings


@dataclass
class AppState:
    settings: Settings
    store: ModelStore
    metrics: Metrics


def get_state(request: Request) -> AppState:
    return request.app.state.service
