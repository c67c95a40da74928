"""Pages that belong to no single feature: the home page with each role's dashboard (`views`,
`dashboard`, `dashboard_api`: GET /api/v1/dashboard) and the administrator's account list; `live`:
how often live pages poll. Health and readiness probes are in `server.health`."""
