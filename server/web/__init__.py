"""Server-rendered pages that belong to no single feature: the home page, account list, health."""
