"""Settings chain: base -> local | production | test (DJANGO_ENV picks one)."""
