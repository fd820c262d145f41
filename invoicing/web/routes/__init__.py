"""One router per resource, collected in `api_router`."""

from fastapi import APIRouter

from invoicing.web.routes import health, imports, invoices, metrics, runs

api_router = APIRouter()
for module in (health, runs, invoices, imports, metrics):
    api_router.include_router(module.router)
