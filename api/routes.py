"""Every resource of the API, registered on one router: each module registers its own viewsets
(``register(router)``), so an area is added in its own file (docs/api.md)."""

from __future__ import annotations

import importlib

# The modules that register viewsets, in the order their routes appear in the schema.
MODULES = (
    "api.trials",      # trials, protocols, sites, dose levels, parts, cohorts
    "api.subjects",    # subjects, screening, doses, assessments, adverse events, DLT adjudications
    "api.dispensing",  # oral drug dispensing and returns
    "api.visits",      # visits and follow-ups
    "api.records",     # corrections and voids of any record kind, with a reason; history
    "api.escalation",  # decisions, signatures, RP2D declarations, intra-patient escalations
    "api.response",    # tumour assessments and responses
    "api.pk",          # PK samples and results
    "queries.api",     # data queries and their threads
    "monitoring.api",  # source-data verification
    "exports.api",     # export jobs and their files
)


def register_all(router) -> None:
    for name in MODULES:
        module = importlib.import_module(name)
        module.register(router)
