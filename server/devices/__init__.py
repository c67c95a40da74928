"""Device operations: the administrators' view of every edge device's health, telemetry and refused
messages (pages in `views`, JSON in `api` and `live_api`, queries in `service`, `live`), commands to
devices (`commands`, `commands_api`), device tokens for model downloads (`tokens`, `token_api`), the
model bundle devices install (`models_bundle`, `models_api`), inline SVG charts (`charts`), the words
the pages' scripts write (`texts`) and the API's JSON shapes (`schemas`, pydantic models)."""
