"""Authentication and authorisation: accounts (`accounts`), argon2id passwords (`passwords`), API
tokens (`tokens`), login rate limiting (`ratelimit`), who-is-calling and CSRF (`manager`), role
checks (`decorators`), the sign-in pages (`views`, `forms`) and one's API tokens page
(`token_views`)."""

from server.auth.decorators import login_required, role_required

__all__ = ["login_required", "role_required"]
