"""Local development: the defaults of base, with debug tools."""

from .base import *

DEBUG = env.bool("DJANGO_DEBUG", default=True)
LOG_FORMAT = env("LOG_FORMAT", default="console")
LOGGING["handlers"]["stdout"]["formatter"] = LOG_FORMAT

# GraphiQL at /graphql and introspection, for local development only.
GRAPHIQL = env.bool("GRAPHIQL", default=True)
GRAPHQL_INTROSPECTION = env.bool("GRAPHQL_INTROSPECTION", default=True)
